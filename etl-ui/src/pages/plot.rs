//! A small SVG line plot drawn on the server: a value over time, each point a link.

use chrono::{DateTime, Utc};
use maud::{html, Markup};

/// One point: when, the value, and where it links to.
pub struct Point {
    pub at: DateTime<Utc>,
    pub value: f64,
    pub href: String,
    pub label: String,
}

/// The plot of `points` (oldest first), `width` by `height` pixels.
pub fn line(title: &str, points: &[Point], width: f64, height: f64) -> Markup {
    if points.is_empty() {
        return html! { p class="muted" { "no " (title) " yet" } };
    }
    let pad = 36.0;
    let (t0, t1) = (points[0].at.timestamp_millis() as f64, points[points.len() - 1].at.timestamp_millis() as f64);
    let max = points.iter().map(|p| p.value).fold(0.0f64, f64::max).max(1.0);
    let x = |t: f64| if t1 > t0 { pad + (t - t0) / (t1 - t0) * (width - 2.0 * pad) } else { width / 2.0 };
    let y = |v: f64| height - pad - v / max * (height - 2.0 * pad);
    let path: Vec<String> = points.iter().map(|p| format!("{:.1},{:.1}", x(p.at.timestamp_millis() as f64), y(p.value))).collect();
    html! {
        svg width=(width) height=(height) role="img" aria-label=(title) class="plot" data-points=(points.len()) {
            line x1=(pad) y1=(height - pad) x2=(width - pad) y2=(height - pad) stroke="#9aa3b5" {}
            line x1=(pad) y1=(pad) x2=(pad) y2=(height - pad) stroke="#9aa3b5" {}
            text x=(pad) y=(pad - 8.0) font-size="11" { (title) " (max " (max) ")" }
            polyline points=(path.join(" ")) fill="none" stroke="#3b5bdb" stroke-width="1.5" {}
            @for p in points {
                a href=(p.href) {
                    circle cx=(format!("{:.1}", x(p.at.timestamp_millis() as f64))) cy=(format!("{:.1}", y(p.value))) r="3.5" fill="#3b5bdb" {
                        title { (p.label) }
                    }
                }
            }
        }
    }
}
