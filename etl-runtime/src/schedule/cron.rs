//! Cron expressions: when a schedule is due. Parsed and evaluated by `croner` (a well-kept
//! crate): 5 fields, or 6 with seconds first; `*`, numbers, ranges, steps, lists, month and day
//! names, `L` (last day of the month, or `5L` the last Friday), `W` (the weekday nearest a
//! day), `#` (`1#2`: the second Monday), and `@hourly`, `@daily`, `@weekly`, `@monthly`,
//! `@yearly`. Times are UTC unless the schedule names a timezone: then the expression is read in
//! that zone's wall clock, across DST changes (a time that does not exist on the day the
//! clocks go forward moves to the next one that does; one that happens twice when they go back
//! runs once).

use std::str::FromStr;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

/// A cron expression, in UTC or a timezone.
#[derive(Debug, Clone)]
pub struct Cron {
    text: String,
    inner: croner::Cron,
    tz: Option<Tz>,
}

impl PartialEq for Cron {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text && self.tz == other.tz
    }
}

/// A cron expression that cannot be parsed, or a timezone that does not exist.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid cron expression `{expr}`: {message}")]
pub struct CronError {
    /// The expression.
    pub expr: String,
    /// What is wrong.
    pub message: String,
}

impl Cron {
    /// Parses an expression (in UTC).
    pub fn parse(expr: &str) -> Result<Cron, CronError> {
        let text = expr.trim().to_owned();
        let err = |message: String| CronError { expr: expr.to_owned(), message };
        let fields = text.split_whitespace().count();
        if !text.starts_with('@') && !(5..=6).contains(&fields) {
            return Err(err(format!("expected 5 fields (minute hour day-of-month month day-of-week) or 6 with seconds first, found {fields}")));
        }
        let parse = |t: &str| croner::Cron::new(t).with_seconds_optional().parse();
        let inner = parse(&text).map_err(|e| err(name_the_field(&text, &e.to_string(), parse)))?;
        Ok(Cron { text, inner, tz: None })
    }

    /// The same expression read in the timezone `name` (IANA, e.g. `Europe/Berlin`).
    pub fn in_timezone(self, name: &str) -> Result<Cron, CronError> {
        let tz = Tz::from_str(name).map_err(|_| CronError {
            expr: self.text.clone(),
            message: format!("unknown timezone `{name}`: give an IANA name such as `Europe/Berlin` or `America/New_York`"),
        })?;
        Ok(Cron { tz: Some(tz), ..self })
    }

    /// The expression as given.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The timezone it is read in (`None`: UTC).
    pub fn timezone(&self) -> Option<Tz> {
        self.tz
    }

    /// The first time after `after` that the expression matches.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self.tz {
            None => self.inner.find_next_occurrence(&after, false).ok(),
            Some(tz) => self.inner.find_next_occurrence(&after.with_timezone(&tz), false).ok().map(|t| t.with_timezone(&Utc)),
        }
    }
}

/// The error with the field at fault named: each field is tried alone (the others `*`), and
/// the first that fails alone is the one (`minute field `61`: ...`).
fn name_the_field(text: &str, message: &str, parse: impl Fn(&str) -> Result<croner::Cron, croner::errors::CronError>) -> String {
    let fields: Vec<&str> = text.split_whitespace().collect();
    let names: &[&str] = if fields.len() == 6 {
        &["second", "minute", "hour", "day-of-month", "month", "day-of-week"]
    } else {
        &["minute", "hour", "day-of-month", "month", "day-of-week"]
    };
    if fields.len() != names.len() {
        return message.to_owned();
    }
    for (i, field) in fields.iter().enumerate() {
        let alone: Vec<&str> = (0..fields.len()).map(|j| if j == i { *field } else { "*" }).collect();
        if parse(&alone.join(" ")).is_err() {
            return format!("{} field `{field}`: {}", names[i], message.trim_end_matches('.').to_lowercase());
        }
    }
    message.to_owned()
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
    fn last_nearest_weekday_and_nth_weekday() {
        // L: the last day of the month.
        let c = Cron::parse("0 6 L * *").unwrap();
        assert_eq!(c.next_after(at("2027-02-01T00:00:00Z")), Some(at("2027-02-28T06:00:00Z")));
        // 5L: the last Friday (2026-12-25).
        let c = Cron::parse("0 6 * * 5L").unwrap();
        assert_eq!(c.next_after(at("2026-12-01T00:00:00Z")), Some(at("2026-12-25T06:00:00Z")));
        // 15W: the weekday nearest the 15th (2026-11-15 is a Sunday: Monday the 16th).
        let c = Cron::parse("0 6 15W * *").unwrap();
        assert_eq!(c.next_after(at("2026-11-01T00:00:00Z")), Some(at("2026-11-16T06:00:00Z")));
        // 1#2: the second Monday (2026-12-14).
        let c = Cron::parse("0 6 * * 1#2").unwrap();
        assert_eq!(c.next_after(at("2026-12-01T00:00:00Z")), Some(at("2026-12-14T06:00:00Z")));
    }

    #[test]
    fn a_timezone_follows_the_wall_clock_across_dst() {
        // 03:30 in Berlin: UTC+1 in winter, UTC+2 in summer (clocks forward 2027-03-28).
        let c = Cron::parse("30 3 * * *").unwrap().in_timezone("Europe/Berlin").unwrap();
        assert_eq!(c.next_after(at("2027-03-26T12:00:00Z")), Some(at("2027-03-27T02:30:00Z")));
        assert_eq!(c.next_after(at("2027-03-27T12:00:00Z")), Some(at("2027-03-28T01:30:00Z")));
        // 02:30 does not exist on 2027-03-28 in Berlin: the next run is the next time that does.
        let gap = Cron::parse("30 2 * * *").unwrap().in_timezone("Europe/Berlin").unwrap();
        let next = gap.next_after(at("2027-03-27T12:00:00Z")).unwrap();
        assert!(next > at("2027-03-28T00:59:59Z"), "{next}");
        // 02:30 happens twice on 2027-10-31 (clocks back): one run.
        let twice = gap.next_after(at("2027-10-30T12:00:00Z")).unwrap();
        let after = gap.next_after(twice).unwrap();
        assert!(after > at("2027-11-01T00:00:00Z"), "{twice} then {after}");
        let err = Cron::parse("0 * * * *").unwrap().in_timezone("Mars/Olympus").unwrap_err().to_string();
        assert!(err.contains("Mars/Olympus"), "{err}");
    }

    #[test]
    fn errors_name_the_expression() {
        for bad in ["61 * * * *", "* * *", "*/0 * * * *", "0 0 * * funday"] {
            let err = Cron::parse(bad).unwrap_err();
            assert_eq!(err.expr, bad);
            assert!(!err.message.is_empty(), "{bad}");
        }
        assert!(Cron::parse("* * *").unwrap_err().message.starts_with("expected 5 fields"));
        assert!(Cron::parse("61 * * * *").unwrap_err().message.starts_with("minute field `61`"), "{}", Cron::parse("61 * * * *").unwrap_err());
        assert!(Cron::parse("0 0 * * funday").unwrap_err().message.starts_with("day-of-week field `funday`"));
    }
}
