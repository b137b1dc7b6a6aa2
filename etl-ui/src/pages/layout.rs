//! The frame of every page: title, navigation, style. Everything a user or a source wrote goes
//! through maud's `(value)`, which escapes it; nothing is ever `PreEscaped` but this file's own
//! constant style and the run page's live script (whose one datum is a JSON-encoded URL with
//! `</` broken up).

use maud::{html, Markup, PreEscaped, DOCTYPE};

const STYLE: &str = "
body { font-family: system-ui, sans-serif; margin: 0; color: #1d2330; }
header { background: #1d2330; color: #fff; padding: 0.6rem 1.2rem; display: flex; gap: 1.5rem; align-items: baseline; }
header a { color: #cfd8ff; text-decoration: none; } header strong { font-size: 1.1rem; }
main { padding: 1rem 1.5rem; }
table { border-collapse: collapse; margin: 0.5rem 0 1rem; } th, td { padding: 0.25rem 0.6rem; border-bottom: 1px solid #e3e6ee; text-align: left; vertical-align: top; }
th { background: #f4f6fb; } .num { text-align: right; font-variant-numeric: tabular-nums; }
.SUCCESS { color: #137333; } .FAILURE, .ABANDONED, .error { color: #b3261e; } .STARTED, .QUEUED { color: #8a5a00; }
.parts span { display: inline-block; width: 11px; height: 11px; margin: 1px; background: #e5e7eb; } .parts .p-ok { background: #16a34a; } .parts .p-failed { background: #dc2626; }
.muted { color: #6b7280; } form.inline { display: inline; } pre { white-space: pre-wrap; background: #f8f9fc; padding: 0.5rem; }
button { background: #3b5bdb; color: #fff; border: 0; padding: 0.35rem 0.8rem; border-radius: 4px; cursor: pointer; }
";

/// A whole page; `refresh`: reload every N seconds when JavaScript is off.
pub fn page(title: &str, refresh: Option<u32>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                // Live pages update themselves with a script; without JavaScript they reload.
                @if let Some(secs) = refresh { noscript { meta http-equiv="refresh" content=(secs); } }
                title { (title) " · etl" }
                style { (PreEscaped(STYLE)) }
            }
            body {
                header {
                    strong { "etl" }
                    a href="/" { "Assets" }
                    a href="/runs" { "Runs" }
                    a href="/schedules" { "Schedules" }
                    a href="/queue" { "Queue" }
                    a href="/lineage" { "Lineage" }
                }
                main { h1 { (title) } (body) }
            }
        }
    }
}

/// A run's status, coloured.
pub fn status(s: &str) -> Markup {
    html! { span class=(s) { (s) } }
}
