//! Cron expressions: when a schedule is due.

use std::collections::BTreeSet;

use chrono::{DateTime, Datelike, Duration as ChronoDuration, TimeZone, Timelike, Utc};

/// seconds field. Fields take `*`, numbers, ranges `a-b`, steps `*/n` or `a-b/n`, lists `a,b`,
/// and month and day names (`jan`, `mon`). Times are UTC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    text: String,
    seconds: BTreeSet<u32>,
    minutes: BTreeSet<u32>,
    hours: BTreeSet<u32>,
    days: BTreeSet<u32>,
    months: BTreeSet<u32>,
    weekdays: BTreeSet<u32>,
    days_restricted: bool,
    weekdays_restricted: bool,
}

/// A cron expression that cannot be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid cron expression `{expr}`: {message}")]
pub struct CronError {
    /// The expression.
    pub expr: String,
    /// What is wrong.
    pub message: String,
}

const MONTHS: [&str; 12] = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
const WEEKDAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

impl Cron {
    /// Parses an expression; `@hourly`, `@daily`, `@weekly`, `@monthly` are accepted too.
    pub fn parse(expr: &str) -> Result<Cron, CronError> {
        let err = |message: String| CronError { expr: expr.to_owned(), message };
        let expanded = match expr.trim() {
            "@hourly" => "0 * * * *",
            "@daily" | "@midnight" => "0 0 * * *",
            "@weekly" => "0 0 * * 0",
            "@monthly" => "0 0 1 * *",
            "@yearly" | "@annually" => "0 0 1 1 *",
            other => other,
        };
        let parts: Vec<&str> = expanded.split_whitespace().collect();
        let (sec, rest) = match parts.len() {
            5 => ("0", &parts[..]),
            6 => (parts[0], &parts[1..]),
            n => return Err(err(format!("expected 5 fields (minute hour day month weekday) or 6 (with seconds first), found {n}"))),
        };
        let field = |text: &str, name: &str, min: u32, max: u32, names: &[&str]| {
            parse_field(text, min, max, names).map_err(|m| err(format!("{name} field `{text}`: {m}")))
        };
        let mut weekdays = field(rest[4], "weekday", 0, 7, &WEEKDAYS)?;
        if weekdays.remove(&7) {
            weekdays.insert(0);
        }
        Ok(Cron {
            text: expr.to_owned(),
            seconds: field(sec, "second", 0, 59, &[])?,
            minutes: field(rest[0], "minute", 0, 59, &[])?,
            hours: field(rest[1], "hour", 0, 23, &[])?,
            days: field(rest[2], "day-of-month", 1, 31, &[])?,
            months: field(rest[3], "month", 1, 12, &MONTHS)?,
            weekdays,
            days_restricted: rest[2] != "*" && rest[2] != "?",
            weekdays_restricted: rest[4] != "*" && rest[4] != "?",
        })
    }

    /// The expression as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    fn day_matches(&self, t: &DateTime<Utc>) -> bool {
        let dom = self.days.contains(&t.day());
        let dow = self.weekdays.contains(&t.weekday().num_days_from_sunday());
        match (self.days_restricted, self.weekdays_restricted) {
            (true, true) => dom || dow,
            (true, false) => dom,
            (false, true) => dow,
            (false, false) => true,
        }
    }

    /// The first time strictly after `after` that matches (within ten years).
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let mut t = after.with_nanosecond(0)? + ChronoDuration::seconds(1);
        let limit = after + ChronoDuration::days(366 * 10);
        while t <= limit {
            if !self.months.contains(&t.month()) {
                let (y, m) = if t.month() == 12 { (t.year() + 1, 1) } else { (t.year(), t.month() + 1) };
                t = Utc.with_ymd_and_hms(y, m, 1, 0, 0, 0).single()?;
                continue;
            }
            if !self.day_matches(&t) {
                t = (t + ChronoDuration::days(1)).with_hour(0)?.with_minute(0)?.with_second(0)?;
                continue;
            }
            if !self.hours.contains(&t.hour()) {
                t = (t + ChronoDuration::hours(1)).with_minute(0)?.with_second(0)?;
                continue;
            }
            if !self.minutes.contains(&t.minute()) {
                t = (t + ChronoDuration::minutes(1)).with_second(0)?;
                continue;
            }
            if !self.seconds.contains(&t.second()) {
                t += ChronoDuration::seconds(1);
                continue;
            }
            return Some(t);
        }
        None
    }
}

fn parse_field(text: &str, min: u32, max: u32, names: &[&str]) -> Result<BTreeSet<u32>, String> {
    let value = |s: &str| -> Result<u32, String> {
        if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(s)) {
            return Ok(i as u32 + if min == 1 { 1 } else { 0 });
        }
        let v: u32 = s.parse().map_err(|_| format!("`{s}` is not a number"))?;
        if v < min || v > max {
            return Err(format!("{v} is out of range {min}-{max}"));
        }
        Ok(v)
    };
    let mut out = BTreeSet::new();
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => (r, s.parse::<u32>().ok().filter(|s| *s > 0).ok_or_else(|| format!("step `{s}` must be a positive number"))?),
            None => (part, 1),
        };
        let (lo, hi) = if range == "*" || range == "?" {
            (min, max)
        } else if let Some((a, b)) = range.split_once('-') {
            (value(a)?, value(b)?)
        } else {
            let v = value(range)?;
            (v, if part.contains('/') { max } else { v })
        };
        if lo > hi {
            return Err(format!("range {lo}-{hi} is empty"));
        }
        out.extend((lo..=hi).step_by(step as usize));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn next_occurrences() {
        let c = Cron::parse("*/15 * * * *").unwrap();
        assert_eq!(c.next_after(at("2026-11-24T05:07:13Z")), Some(at("2026-11-24T05:15:00Z")));
        let c = Cron::parse("0 3 * * mon-fri").unwrap();
        // 2026-11-28 is a Saturday.
        assert_eq!(c.next_after(at("2026-11-27T04:00:00Z")), Some(at("2026-11-30T03:00:00Z")));
        let c = Cron::parse("0 0 29 feb *").unwrap();
        assert_eq!(c.next_after(at("2026-03-01T00:00:00Z")), Some(at("2028-02-29T00:00:00Z")));
        let c = Cron::parse("*/2 * * * * *").unwrap();
        assert_eq!(c.next_after(at("2026-11-24T05:07:13Z")), Some(at("2026-11-24T05:07:14Z")));
        let c = Cron::parse("@daily").unwrap();
        assert_eq!(c.next_after(at("2026-12-31T23:59:59Z")), Some(at("2027-01-01T00:00:00Z")));
        // Day of month and day of week restricted together: either matches (cron's rule).
        let c = Cron::parse("0 0 1 * sun").unwrap();
        assert_eq!(c.next_after(at("2026-11-24T00:00:00Z")), Some(at("2026-11-29T00:00:00Z")));
    }

    #[test]
    fn errors_name_the_field() {
        assert_eq!(Cron::parse("61 * * * *").unwrap_err().message, "minute field `61`: 61 is out of range 0-59");
        assert!(Cron::parse("* * *").unwrap_err().message.starts_with("expected 5 fields"));
        assert!(Cron::parse("*/0 * * * *").unwrap_err().message.contains("step `0`"));
        assert!(Cron::parse("0 0 * * funday").unwrap_err().message.contains("weekday field"));
    }
}
