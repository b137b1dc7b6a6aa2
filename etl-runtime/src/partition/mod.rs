//! Partitions (Dagster's `PartitionsDefinition`): an asset split into keys that are materialized
//! one by one or by ranges. Static partitions are a list of keys; time-window partitions are
//! the hours, days, weeks (from Sunday, as Dagster's) or months from a start, in a timezone,
//! up to an end or, without one, up to the last window that has ended.
//!
//! Keys are formatted as Dagster formats them (`2024-01-31` for days, weeks and months,
//! `2024-01-31-13:00` for hours). A run materializes one key or a contiguous range (`A...B`),
//! given to it as a [`PartitionRequest`] and resolved against the selected assets' definition
//! into a [`Partition`] (its keys and, for time windows, the window they span).

pub mod dlt;
pub mod status;
#[cfg(test)]
mod tests;

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, Duration, Timelike, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

/// How long one time window is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cadence {
    /// An hour (`2024-01-31-13:00`).
    Hourly,
    /// A day (`2024-01-31`).
    Daily,
    /// A week starting on Sunday (`2024-01-28`, its Sunday).
    Weekly,
    /// A calendar month (`2024-01-01`).
    Monthly,
}

impl Cadence {
    fn name(self) -> &'static str {
        match self {
            Cadence::Hourly => "hourly",
            Cadence::Daily => "daily",
            Cadence::Weekly => "weekly",
            Cadence::Monthly => "monthly",
        }
    }

    fn key_format(self) -> &'static str {
        match self {
            Cadence::Hourly => "%Y-%m-%d-%H:%M",
            _ => "%Y-%m-%d",
        }
    }

    /// The start of the window that contains the wall-clock time `t` (aligned).
    fn floor(self, t: NaiveDateTime) -> NaiveDateTime {
        let day = t.date();
        match self {
            Cadence::Hourly => day.and_hms_opt(t.hour(), 0, 0).unwrap_or(t),
            Cadence::Daily => day.and_time(NaiveTime::MIN),
            Cadence::Weekly => (day - Duration::days(i64::from(day.weekday().num_days_from_sunday()))).and_time(NaiveTime::MIN),
            Cadence::Monthly => NaiveDate::from_ymd_opt(day.year(), day.month(), 1).unwrap_or(day).and_time(NaiveTime::MIN),
        }
    }

    /// The start of the window after the one starting at `t`.
    fn next(self, t: NaiveDateTime) -> NaiveDateTime {
        match self {
            Cadence::Hourly => t + Duration::hours(1),
            Cadence::Daily => t + Duration::days(1),
            Cadence::Weekly => t + Duration::days(7),
            Cadence::Monthly => {
                let (y, m) = if t.month() == 12 { (t.year() + 1, 1) } else { (t.year(), t.month() + 1) };
                NaiveDate::from_ymd_opt(y, m, 1).map(|d| d.and_time(NaiveTime::MIN)).unwrap_or(t)
            }
        }
    }
}

/// Time-window partitions: every window of a cadence from `start`, in a timezone.
#[derive(Debug, Clone, PartialEq)]
pub struct TimeWindowPartitions {
    cadence: Cadence,
    start: String,
    end: Option<String>,
    timezone: Option<String>,
}

impl TimeWindowPartitions {
    /// Windows of `cadence` from `start` (`2024-01-01`, `2024-01-01-06:00` or
    /// `2024-01-01T06:00:00`, wall clock of the timezone; aligned down to the window).
    pub fn new(cadence: Cadence, start: impl Into<String>) -> Self {
        TimeWindowPartitions { cadence, start: start.into(), end: None, timezone: None }
    }

    /// No windows from `end` on (exclusive; same formats as the start). The last partition is
    /// the last window that has ended (before the end, if there is one).
    pub fn end(mut self, end: impl Into<String>) -> Self {
        self.end = Some(end.into());
        self
    }

    /// The windows' timezone (IANA, e.g. `Europe/Berlin`; default UTC): days start at local
    /// midnight, across DST changes.
    pub fn timezone(mut self, name: impl Into<String>) -> Self {
        self.timezone = Some(name.into());
        self
    }

    /// The cadence.
    pub fn cadence(&self) -> Cadence {
        self.cadence
    }

    fn tz(&self) -> Result<Tz, PartitionError> {
        match &self.timezone {
            None => Ok(Tz::UTC),
            Some(name) => Tz::from_str(name).map_err(|_| PartitionError::Definition(format!(
                "unknown timezone `{name}`: give an IANA name such as `Europe/Berlin` or `America/New_York`"
            ))),
        }
    }

    fn parse_wall(text: &str, what: &str) -> Result<NaiveDateTime, PartitionError> {
        let t = text.trim();
        if let Ok(d) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
            return Ok(d.and_time(NaiveTime::MIN));
        }
        for fmt in ["%Y-%m-%d-%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M"] {
            if let Ok(dt) = NaiveDateTime::parse_from_str(t, fmt) {
                return Ok(dt);
            }
        }
        Err(PartitionError::Definition(format!("{what} `{text}` is not a date (`2024-01-31`) or a time (`2024-01-31-13:00`, `2024-01-31T13:00:00`)")))
    }

    fn first(&self) -> Result<NaiveDateTime, PartitionError> {
        Ok(self.cadence.floor(Self::parse_wall(&self.start, "start")?))
    }

    fn end_wall(&self) -> Result<Option<NaiveDateTime>, PartitionError> {
        self.end.as_deref().map(|e| Self::parse_wall(e, "end")).transpose()
    }

    /// A wall-clock time of the zone as an instant: a time skipped by a DST change moves on to
    /// the next that exists; a repeated one is its first occurrence.
    fn instant(tz: Tz, wall: NaiveDateTime) -> DateTime<FixedOffset> {
        let mut t = wall;
        for _ in 0..4 {
            if let Some(dt) = tz.from_local_datetime(&t).earliest() {
                return dt.fixed_offset();
            }
            t += Duration::minutes(30);
        }
        Utc.from_utc_datetime(&wall).fixed_offset()
    }

    /// Checks the start, end and timezone.
    pub fn validate(&self) -> Result<(), PartitionError> {
        self.tz()?;
        let first = self.first()?;
        if let Some(end) = self.end_wall()? {
            if end <= first {
                return Err(PartitionError::Definition(format!("end `{}` is not after start `{}`", self.end.as_deref().unwrap_or_default(), self.start)));
            }
        }
        Ok(())
    }

    /// The window starts (wall clock) of every partition as of `now`.
    fn starts(&self, now: DateTime<Utc>) -> Result<Vec<NaiveDateTime>, PartitionError> {
        let tz = self.tz()?;
        let end = self.end_wall()?;
        let mut out = Vec::new();
        let mut t = self.first()?;
        loop {
            let next = self.cadence.next(t);
            // A window is a partition once it has ended (and, with an end, before it).
            let ended = end.is_none_or(|e| next <= e) && Self::instant(tz, next) <= now;
            if !ended || next <= t {
                return Ok(out);
            }
            out.push(t);
            t = next;
        }
    }

    fn key_of(&self, start: NaiveDateTime) -> String {
        start.format(self.cadence.key_format()).to_string()
    }

    /// The window of a key (checked to be aligned; not checked to be in range).
    fn window_of(&self, key: &str) -> Result<TimeWindow, PartitionError> {
        let tz = self.tz()?;
        let bad = || PartitionError::UnknownKey { key: key.to_owned(), expected: format!("a {} key like `{}`", self.cadence.name(), self.example_key()) };
        let wall = match self.cadence {
            Cadence::Hourly => NaiveDateTime::parse_from_str(key, "%Y-%m-%d-%H:%M").map_err(|_| bad())?,
            _ => NaiveDate::parse_from_str(key, "%Y-%m-%d").map_err(|_| bad())?.and_time(NaiveTime::MIN),
        };
        if self.cadence.floor(wall) != wall {
            return Err(bad());
        }
        Ok(TimeWindow { start: Self::instant(tz, wall), end: Self::instant(tz, self.cadence.next(wall)) })
    }

    fn example_key(&self) -> String {
        self.first().map(|f| self.key_of(f)).unwrap_or_else(|_| "2024-01-01".into())
    }
}

/// How an asset is partitioned.
#[derive(Debug, Clone, PartialEq)]
pub enum PartitionsDefinition {
    /// A fixed list of keys.
    Static(Vec<String>),
    /// Time windows.
    TimeWindow(TimeWindowPartitions),
}

/// Hourly partitions from `start` (Dagster's `HourlyPartitionsDefinition`).
pub fn hourly_partitions(start: impl Into<String>) -> TimeWindowPartitions {
    TimeWindowPartitions::new(Cadence::Hourly, start)
}

/// Daily partitions from `start` (Dagster's `DailyPartitionsDefinition`).
pub fn daily_partitions(start: impl Into<String>) -> TimeWindowPartitions {
    TimeWindowPartitions::new(Cadence::Daily, start)
}

/// Weekly partitions (Sunday to Sunday) from `start` (Dagster's `WeeklyPartitionsDefinition`).
pub fn weekly_partitions(start: impl Into<String>) -> TimeWindowPartitions {
    TimeWindowPartitions::new(Cadence::Weekly, start)
}

/// Monthly partitions from `start` (Dagster's `MonthlyPartitionsDefinition`).
pub fn monthly_partitions(start: impl Into<String>) -> TimeWindowPartitions {
    TimeWindowPartitions::new(Cadence::Monthly, start)
}

/// Static partitions: these keys, in this order (Dagster's `StaticPartitionsDefinition`).
pub fn static_partitions<S: Into<String>>(keys: impl IntoIterator<Item = S>) -> PartitionsDefinition {
    PartitionsDefinition::Static(keys.into_iter().map(Into::into).collect())
}

impl From<TimeWindowPartitions> for PartitionsDefinition {
    fn from(t: TimeWindowPartitions) -> Self {
        PartitionsDefinition::TimeWindow(t)
    }
}

impl fmt::Display for PartitionsDefinition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PartitionsDefinition::Static(keys) => write!(f, "static ({} keys)", keys.len()),
            PartitionsDefinition::TimeWindow(t) => {
                write!(f, "{} from {}", t.cadence.name(), t.start)?;
                if let Some(end) = &t.end {
                    write!(f, " to {end}")?;
                }
                if let Some(tz) = &t.timezone {
                    write!(f, " ({tz})")?;
                }
                Ok(())
            }
        }
    }
}

impl PartitionsDefinition {
    /// Checks the definition (dates, timezone, keys).
    pub fn validate(&self) -> Result<(), PartitionError> {
        match self {
            PartitionsDefinition::Static(keys) => {
                if keys.is_empty() {
                    return Err(PartitionError::Definition("static partitions need at least one key".into()));
                }
                let mut seen = std::collections::BTreeSet::new();
                for k in keys {
                    if k.is_empty() || k.contains("...") || k.contains(',') {
                        return Err(PartitionError::Definition(format!("partition key `{k}` is empty or contains `...` or `,`")));
                    }
                    if !seen.insert(k) {
                        return Err(PartitionError::Definition(format!("partition key `{k}` is listed twice")));
                    }
                }
                Ok(())
            }
            PartitionsDefinition::TimeWindow(t) => t.validate(),
        }
    }

    /// Every key as of `now`, in order.
    pub fn keys(&self, now: DateTime<Utc>) -> Result<Vec<String>, PartitionError> {
        match self {
            PartitionsDefinition::Static(keys) => Ok(keys.clone()),
            PartitionsDefinition::TimeWindow(t) => Ok(t.starts(now)?.into_iter().map(|s| t.key_of(s)).collect()),
        }
    }

    /// The last key as of `now` (for a time window: the last window that has ended), if any.
    pub fn last_key(&self, now: DateTime<Utc>) -> Result<Option<String>, PartitionError> {
        Ok(self.keys(now)?.pop())
    }

    /// The window of a time-window key.
    pub fn time_window(&self, key: &str) -> Result<Option<TimeWindow>, PartitionError> {
        match self {
            PartitionsDefinition::Static(_) => Ok(None),
            PartitionsDefinition::TimeWindow(t) => t.window_of(key).map(Some),
        }
    }

    /// Resolves a request into the run's partition: its keys (checked to exist as of `now`) and,
    /// for time windows, the window they span.
    pub fn resolve(&self, request: &PartitionRequest, now: DateTime<Utc>) -> Result<Partition, PartitionError> {
        let all = self.keys(now)?;
        let position = |key: &str| -> Result<usize, PartitionError> {
            if let PartitionsDefinition::TimeWindow(t) = self {
                t.window_of(key)?;
            }
            all.iter().position(|k| k == key).ok_or_else(|| PartitionError::UnknownKey {
                key: key.to_owned(),
                expected: match (all.first(), all.last()) {
                    (Some(a), Some(b)) => format!("one of the {} keys from `{a}` to `{b}` ({self})", all.len()),
                    _ => format!("a key, but there are none yet ({self})"),
                },
            })
        };
        let (from, to) = match request {
            PartitionRequest::Key(k) => {
                let i = position(k)?;
                (i, i)
            }
            PartitionRequest::Range(a, b) => {
                let (i, j) = (position(a)?, position(b)?);
                if i > j {
                    return Err(PartitionError::BackwardRange { from: a.clone(), to: b.clone() });
                }
                (i, j)
            }
        };
        let keys = all[from..=to].to_vec();
        let window = match self {
            PartitionsDefinition::Static(_) => None,
            PartitionsDefinition::TimeWindow(t) => {
                let first = t.window_of(&keys[0])?;
                let last = t.window_of(&keys[keys.len() - 1])?;
                Some(TimeWindow { start: first.start, end: last.end })
            }
        };
        Ok(Partition { keys, window })
    }
}

/// A window of time: `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeWindow {
    /// Start (inclusive), with the partitions' timezone offset.
    pub start: DateTime<FixedOffset>,
    /// End (exclusive).
    pub end: DateTime<FixedOffset>,
}

impl fmt::Display for TimeWindow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}, {})", self.start.to_rfc3339(), self.end.to_rfc3339())
    }
}

/// What a run is asked to materialize: one key, or a range of keys (`A...B`, both included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartitionRequest {
    /// One key (`--partition K`).
    Key(String),
    /// A range (`--partition-range A...B`).
    Range(String, String),
}

impl PartitionRequest {
    /// Reads `K` or `A...B`.
    pub fn parse(text: &str) -> Result<Self, PartitionError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(PartitionError::Request("an empty partition key".into()));
        }
        match text.split_once("...") {
            Some((a, b)) if !a.trim().is_empty() && !b.trim().is_empty() => Ok(PartitionRequest::Range(a.trim().into(), b.trim().into())),
            Some(_) => Err(PartitionError::Request(format!("`{text}` is not a range: write `FIRST...LAST`, e.g. `2024-01-01...2024-01-10`"))),
            None => Ok(PartitionRequest::Key(text.into())),
        }
    }
}

impl fmt::Display for PartitionRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PartitionRequest::Key(k) => f.write_str(k),
            PartitionRequest::Range(a, b) if a == b => f.write_str(a),
            PartitionRequest::Range(a, b) => write!(f, "{a}...{b}"),
        }
    }
}

/// The partition a run materializes: one key or a contiguous range of them.
#[derive(Debug, Clone, PartialEq)]
pub struct Partition {
    keys: Vec<String>,
    window: Option<TimeWindow>,
}

impl Partition {
    /// A partition of given keys and window (for tests and hand-made contexts).
    pub fn new(keys: Vec<String>, window: Option<TimeWindow>) -> Self {
        Partition { keys, window }
    }

    /// A stand-in partition for building a source that takes one when no run is going (the
    /// graph is built from the sources' resources): the definition's first key.
    pub fn for_discovery(def: &PartitionsDefinition) -> Partition {
        let first = match def {
            PartitionsDefinition::Static(keys) => keys.first().cloned(),
            PartitionsDefinition::TimeWindow(t) => t.first().ok().map(|f| t.key_of(f)),
        };
        let key = first.unwrap_or_default();
        let window = def.time_window(&key).ok().flatten();
        Partition { keys: vec![key], window }
    }

    /// The key (Dagster's `context.partition_key`); `None` for a range of several keys.
    pub fn key(&self) -> Option<&str> {
        match self.keys.as_slice() {
            [one] => Some(one),
            _ => None,
        }
    }

    /// Every key of the run, in order.
    pub fn keys(&self) -> &[String] {
        &self.keys
    }

    /// The window the keys span (time-window partitions).
    pub fn time_window(&self) -> Option<TimeWindow> {
        self.window
    }

    /// The request that names it: `K` or `A...B`.
    pub fn request(&self) -> PartitionRequest {
        match self.keys.as_slice() {
            [one] => PartitionRequest::Key(one.clone()),
            keys => PartitionRequest::Range(keys.first().cloned().unwrap_or_default(), keys.last().cloned().unwrap_or_default()),
        }
    }
}

/// A partition definition, key or request that is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PartitionError {
    /// The definition is wrong.
    #[error("invalid partitions: {0}")]
    Definition(String),
    /// A key that the definition does not have.
    #[error("unknown partition key `{key}`: expected {expected}")]
    UnknownKey {
        /// The key.
        key: String,
        /// What keys there are.
        expected: String,
    },
    /// A range whose first key comes after its last.
    #[error("partition range `{from}...{to}` runs backwards: `{from}` comes after `{to}`")]
    BackwardRange {
        /// First key given.
        from: String,
        /// Last key given.
        to: String,
    },
    /// A request that cannot be read.
    #[error("invalid partition: {0}")]
    Request(String),
}

/// The partition of a run: the selected assets' one definition resolved against `request`
/// (`None` when nothing selected is partitioned). `assets` are the selected assets as
/// `(key, definition)`. Errors name the assets at fault and say what to pass.
pub fn for_run<'a>(
    assets: impl IntoIterator<Item = (String, Option<&'a PartitionsDefinition>)>,
    request: Option<&PartitionRequest>,
    now: DateTime<Utc>,
) -> Result<Option<(PartitionsDefinition, Partition)>, String> {
    let mut found: Option<(String, &PartitionsDefinition)> = None;
    for (key, def) in assets {
        let Some(def) = def else { continue };
        match &found {
            None => found = Some((key, def)),
            Some((first, other)) if *other != def => {
                return Err(format!(
                    "assets `{first}` ({other}) and `{key}` ({def}) are partitioned differently: materialize them in separate runs"
                ));
            }
            Some(_) => {}
        }
    }
    match (found, request) {
        (None, None) => Ok(None),
        (None, Some(r)) => Err(format!("partition `{r}` was given, but no selected asset is partitioned")),
        (Some((key, def)), None) => Err(format!(
            "asset `{key}` is partitioned ({def}): pass `--partition KEY` or `--partition-range FIRST...LAST`"
        )),
        (Some((_, def)), Some(r)) => def.resolve(r, now).map(|p| Some((def.clone(), p))).map_err(|e| e.to_string()),
    }
}
