//! A partition's time window as the incremental windows of a dlt source's resources (what dlt
//! does for an external scheduler with `allow_external_schedulers`): each selected resource with
//! an `Incremental` loads exactly `[start, end)`, as a bounded window that neither reads nor
//! moves the cursor in the pipeline state, so partitions of one pipeline never clobber each
//! other's state and a partition loaded twice loads the same rows.

use chrono::{DateTime, FixedOffset, SecondsFormat};
use serde_json::{json, Value as Json};

use etl_core::{Source, WriteDisposition};

use super::TimeWindow;

/// What mapping a window onto a source found.
#[derive(Debug, Default, PartialEq)]
pub struct Mapped {
    /// Resources that got the window, with it as `(start, end)`.
    pub windowed: Vec<(String, Json, Json)>,
    /// Selected resources without an incremental: they load what they load for any partition.
    pub unwindowed: Vec<String>,
}

/// A bound in the cursor's own type, judged by the incremental's `initial_value`: seconds since
/// the epoch for a number, the window's local date for a `YYYY-MM-DD` text, else an ISO 8601
/// timestamp in UTC.
fn bound(t: DateTime<FixedOffset>, like: Option<&Json>) -> Json {
    match like {
        Some(v) if v.is_i64() || v.is_u64() => json!(t.timestamp()),
        Some(v) if v.is_f64() => json!(t.timestamp_micros() as f64 / 1e6),
        Some(Json::String(s)) if s.len() == 10 && chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok() => {
            json!(t.date_naive().format("%Y-%m-%d").to_string())
        }
        // In UTC: a cursor without a timezone is read as UTC (here and by dlt), and a database
        // casting the bound to a naive type drops any offset.
        _ => json!(t.with_timezone(&chrono::Utc).to_rfc3339_opts(SecondsFormat::AutoSi, true)),
    }
}

/// Sets the window on every selected resource of `source` with an incremental. A selected
/// `replace` resource is an error: loading one partition would replace every other's rows.
pub fn apply_window(source: &mut Source, window: TimeWindow) -> Result<Mapped, String> {
    let mut mapped = Mapped::default();
    for resource in source.resources_mut().iter_mut().filter(|r| r.is_selected()) {
        let name = resource.name().to_owned();
        let hints = resource.hints_mut();
        if hints.write_disposition == WriteDisposition::Replace {
            return Err(format!(
                "resource `{name}` has write_disposition `replace`: loading one partition would replace the rows of every other; use `append` or `merge` for a partitioned asset"
            ));
        }
        match hints.incremental.as_mut() {
            Some(inc) => {
                let like = inc.initial_value.clone();
                let (start, end) = (bound(window.start, like.as_ref()), bound(window.end, like.as_ref()));
                inc.initial_value = Some(start.clone());
                inc.end_value = Some(end.clone());
                mapped.windowed.push((name, start, end));
            }
            None => mapped.unwindowed.push(name),
        }
    }
    Ok(mapped)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use etl_core::{Incremental, Resource};

    fn window() -> TimeWindow {
        let tz = FixedOffset::east_opt(3600).unwrap();
        TimeWindow { start: tz.with_ymd_and_hms(2024, 1, 5, 0, 0, 0).unwrap(), end: tz.with_ymd_and_hms(2024, 1, 6, 0, 0, 0).unwrap() }
    }

    #[test]
    fn each_incremental_gets_the_window_in_its_cursors_type() {
        let r = |name: &str, inc: Incremental| Resource::from_values(name, vec![]).with_incremental(inc);
        let mut source = Source::with(
            "s",
            vec![
                r("ts", Incremental::new("at")),
                r("epoch", Incremental::new("at").initial_value(0)),
                r("day", Incremental::new("at").initial_value("2020-01-01")),
                Resource::from_values("plain", vec![]),
            ],
        )
        .unwrap();
        let mapped = apply_window(&mut source, window()).unwrap();
        assert_eq!(mapped.unwindowed, ["plain"]);
        let got: Vec<(String, Json, Json)> = mapped.windowed;
        assert_eq!(got[0], ("ts".into(), json!("2024-01-04T23:00:00Z"), json!("2024-01-05T23:00:00Z")), "UTC: naive cursors and casts agree");
        assert_eq!(got[1], ("epoch".into(), json!(1704409200), json!(1704495600)));
        assert_eq!(got[2], ("day".into(), json!("2024-01-05"), json!("2024-01-06")));
        let inc = source.resource("ts").unwrap().hints().incremental.clone().unwrap();
        assert!(inc.is_bounded(), "a bounded window: stateless");
    }

    #[test]
    fn a_replace_resource_cannot_be_partitioned() {
        let mut source = Source::with("s", vec![Resource::from_values("r", vec![]).with_write_disposition(WriteDisposition::Replace)]).unwrap();
        let err = apply_window(&mut source, window()).unwrap_err();
        assert!(err.contains("resource `r`") && err.contains("replace"), "{err}");
    }
}
