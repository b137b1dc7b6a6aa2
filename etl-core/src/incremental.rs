//! Incremental loading (dlt's `dlt.sources.incremental`): a cursor column whose last value is kept
//! in the pipeline state, so each run loads only rows at or past it, without duplicating rows
//! that share the last cursor value.
//!
//! Pure: the pipeline gives the previous state, feeds every row through [`IncrementalFilter`]
//! and stores [`IncrementalFilter::finish`]'s state in the same transaction as the rows.

use std::cmp::Ordering;
use std::collections::BTreeSet;

use serde_json::{json, Value as Json};

use crate::normalize::digest128;
use crate::types::parse_iso_timestamp;
use crate::value::Value;

/// Which cursor values are "newer".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LastValueFunc {
    /// Larger values are newer (the default).
    #[default]
    Max,
    /// Smaller values are newer.
    Min,
}

/// What to do with a row that has no cursor value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CursorMissing {
    /// Fail the run, naming the row (the default).
    #[default]
    Raise,
    /// Load the row.
    Include,
    /// Skip the row.
    Exclude,
}

/// How rows arrive, which lets the filter stop reading once past the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowOrder {
    /// Cursor ascending.
    Asc,
    /// Cursor descending.
    Desc,
}

/// The incremental settings of a resource.
#[derive(Debug, Clone, PartialEq)]
pub struct Incremental {
    /// Path of the cursor in a row (`updated_at`, or `meta.updated_at` for nested values).
    pub cursor_path: String,
    /// Start of the window on the first run.
    pub initial_value: Option<Json>,
    /// End of the window (exclusive); with an end value nothing is stored between runs.
    pub end_value: Option<Json>,
    /// Which values are newer.
    pub last_value_func: LastValueFunc,
    /// Columns identifying a row for deduplication at the boundary (default: the whole row).
    pub primary_key: Option<Vec<String>>,
    /// Order of the rows, if known.
    pub row_order: Option<RowOrder>,
    /// Re-load this much before the last value (numbers, or seconds for timestamps).
    pub lag: Option<f64>,
    /// Rows without a cursor value.
    pub on_cursor_value_missing: CursorMissing,
}

impl Incremental {
    /// An incremental cursor on `cursor_path`.
    pub fn new(cursor_path: impl Into<String>) -> Self {
        Incremental {
            cursor_path: cursor_path.into(),
            initial_value: None,
            end_value: None,
            last_value_func: LastValueFunc::Max,
            primary_key: None,
            row_order: None,
            lag: None,
            on_cursor_value_missing: CursorMissing::Raise,
        }
    }

    /// The column the cursor names when its path is a single field (dlt's
    /// `get_cursor_column_name`: `updated_at` or `"na.me"`; `None` for `meta.updated_at`, `$.x`
    /// or wildcards), not yet normalized. That column gets dlt's `incremental` hint.
    pub fn cursor_column(&self) -> Option<&str> {
        let path = self.cursor_path.as_str();
        if let Some(quoted) = path.strip_prefix('"').and_then(|p| p.strip_suffix('"')) {
            return (!quoted.is_empty() && !quoted.contains('"')).then_some(quoted);
        }
        let simple = !path.is_empty() && !path.contains(['.', '[', ']', '$', '*', '\'', '"', '|', '@', ' ', '(', ')']);
        simple.then_some(path)
    }

    /// The settings as JSON (for the pending-package manifest).
    pub fn to_json(&self) -> Json {
        json!({
            "cursor_path": self.cursor_path,
            "initial_value": self.initial_value,
            "end_value": self.end_value,
            "last_value_func": match self.last_value_func { LastValueFunc::Max => "max", LastValueFunc::Min => "min" },
            "primary_key": self.primary_key,
            "row_order": self.row_order.map(|o| match o { RowOrder::Asc => "asc", RowOrder::Desc => "desc" }),
            "lag": self.lag,
            "on_cursor_value_missing": match self.on_cursor_value_missing {
                CursorMissing::Raise => "raise",
                CursorMissing::Include => "include",
                CursorMissing::Exclude => "exclude",
            },
        })
    }

    /// Reads [`Incremental::to_json`].
    pub fn from_json(v: &Json) -> Option<Self> {
        let mut inc = Incremental::new(v.get("cursor_path")?.as_str()?);
        let opt = |k: &str| v.get(k).filter(|x| !x.is_null()).cloned();
        inc.initial_value = opt("initial_value");
        inc.end_value = opt("end_value");
        inc.last_value_func = if v.get("last_value_func").and_then(Json::as_str) == Some("min") { LastValueFunc::Min } else { LastValueFunc::Max };
        inc.primary_key = v.get("primary_key").and_then(Json::as_array).map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_owned)).collect());
        inc.row_order = match v.get("row_order").and_then(Json::as_str) {
            Some("asc") => Some(RowOrder::Asc),
            Some("desc") => Some(RowOrder::Desc),
            _ => None,
        };
        inc.lag = v.get("lag").and_then(Json::as_f64);
        inc.on_cursor_value_missing = match v.get("on_cursor_value_missing").and_then(Json::as_str) {
            Some("include") => CursorMissing::Include,
            Some("exclude") => CursorMissing::Exclude,
            _ => CursorMissing::Raise,
        };
        Some(inc)
    }

    /// Checks the settings as dlt does before a run: an `end_value` needs an `initial_value`, and
    /// must be newer than it (by `last_value_func`); a `lag` needs a number or an ISO date or
    /// timestamp as its start.
    pub fn validate(&self) -> Result<(), IncrementalError> {
        if let Some(end) = &self.end_value {
            let Some(initial) = &self.initial_value else {
                return Err(IncrementalError::EndWithoutInitial { cursor_path: self.cursor_path.clone() });
            };
            let newer = match self.last_value_func {
                LastValueFunc::Max => compare(end, initial),
                LastValueFunc::Min => compare(initial, end),
            };
            if newer != Ordering::Greater {
                return Err(IncrementalError::EndNotAfterInitial {
                    cursor_path: self.cursor_path.clone(),
                    initial: initial.to_string(),
                    end: end.to_string(),
                    func: self.last_value_func,
                });
            }
        }
        if let (Some(lag), Some(initial)) = (self.lag, &self.initial_value) {
            if !lag.is_finite() || lag < 0.0 {
                return Err(IncrementalError::BadLag { cursor_path: self.cursor_path.clone(), lag });
            }
            if shift(initial, 0.0).is_none() {
                return Err(IncrementalError::LagUnsupported { cursor_path: self.cursor_path.clone(), value: initial.to_string() });
            }
        }
        Ok(())
    }

    /// Whether this is a bounded window (`end_value` set): dlt runs it on a state of its own that
    /// is neither read from nor written to the pipeline state.
    pub fn is_bounded(&self) -> bool {
        self.end_value.is_some()
    }

    /// Sets the initial value.
    pub fn initial_value(mut self, v: impl Into<Json>) -> Self {
        self.initial_value = Some(v.into());
        self
    }

    /// Sets the end value.
    pub fn end_value(mut self, v: impl Into<Json>) -> Self {
        self.end_value = Some(v.into());
        self
    }

    /// Sets the last value function.
    pub fn last_value_func(mut self, f: LastValueFunc) -> Self {
        self.last_value_func = f;
        self
    }

    /// Sets the deduplication key.
    pub fn primary_key<S: Into<String>>(mut self, cols: impl IntoIterator<Item = S>) -> Self {
        self.primary_key = Some(cols.into_iter().map(Into::into).collect());
        self
    }

    /// Declares the row order.
    pub fn row_order(mut self, order: RowOrder) -> Self {
        self.row_order = Some(order);
        self
    }

    /// Sets the lag.
    pub fn lag(mut self, lag: f64) -> Self {
        self.lag = Some(lag);
        self
    }

    /// Sets the rule for rows without a cursor.
    pub fn on_cursor_value_missing(mut self, rule: CursorMissing) -> Self {
        self.on_cursor_value_missing = rule;
        self
    }
}

/// The stored state of one cursor, in dlt's layout.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CursorState {
    /// The initial value it was created with.
    pub initial_value: Option<Json>,
    /// The newest cursor value loaded.
    pub last_value: Option<Json>,
    /// Hashes of the rows loaded with `last_value` (for deduplication on the next run).
    pub unique_hashes: Vec<String>,
    /// Where the window of the last run that loaded rows started.
    pub start_value: Option<Json>,
}

impl CursorState {
    /// dlt's JSON form.
    pub fn to_json(&self) -> Json {
        json!({
            "initial_value": self.initial_value,
            "last_value": self.last_value,
            "unique_hashes": self.unique_hashes,
            "start_value": self.start_value,
        })
    }

    /// Reads dlt's JSON form.
    pub fn from_json(v: &Json) -> Self {
        let opt = |k: &str| v.get(k).filter(|x| !x.is_null()).cloned();
        CursorState {
            initial_value: opt("initial_value"),
            last_value: opt("last_value"),
            unique_hashes: v
                .get("unique_hashes")
                .and_then(Json::as_array)
                .map(|a| a.iter().filter_map(|h| h.as_str().map(str::to_owned)).collect())
                .unwrap_or_default(),
            start_value: opt("start_value"),
        }
    }
}

/// Incremental settings that cannot be run.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum IncrementalError {
    /// `end_value` without `initial_value`.
    #[error("incremental on `{cursor_path}`: `end_value` is set without `initial_value`; a bounded window needs both (dlt's rule)")]
    EndWithoutInitial {
        /// The cursor path.
        cursor_path: String,
    },
    /// The window is empty or reversed.
    #[error("incremental on `{cursor_path}`: `end_value` {end} must be {} than `initial_value` {initial} (last_value_func `{}`)", if *func == LastValueFunc::Max { "greater" } else { "smaller" }, if *func == LastValueFunc::Max { "max" } else { "min" })]
    EndNotAfterInitial {
        /// The cursor path.
        cursor_path: String,
        /// `initial_value` as JSON.
        initial: String,
        /// `end_value` as JSON.
        end: String,
        /// Which values are newer.
        func: LastValueFunc,
    },
    /// A negative or non-finite lag.
    #[error("incremental on `{cursor_path}`: `lag` must be a finite number of at least 0, not {lag}")]
    BadLag {
        /// The cursor path.
        cursor_path: String,
        /// The lag.
        lag: f64,
    },
    /// A lag on a cursor that is neither a number nor a date or timestamp.
    #[error("incremental on `{cursor_path}`: `lag` works on numbers, ISO dates and ISO timestamps, not on {value}")]
    LagUnsupported {
        /// The cursor path.
        cursor_path: String,
        /// The value, as JSON.
        value: String,
    },
}

/// A row the filter cannot judge.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("row has no value at cursor path `{cursor_path}`; set `on_cursor_value_missing` to include or exclude such rows")]
pub struct CursorMissingError {
    /// The cursor path.
    pub cursor_path: String,
}

/// What to do with one row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Load it.
    Keep,
    /// Skip it.
    Skip,
    /// Skip it and stop reading: ordered rows are past the window.
    Stop,
}

/// Filters the rows of one run and computes the next state.
#[derive(Debug)]
pub struct IncrementalFilter {
    cfg: Incremental,
    prior: CursorState,
    /// Lower bound of the window (with the lag applied).
    start_value: Option<Json>,
    start_hashes: BTreeSet<String>,
    last_value: Option<Json>,
    last_hashes: BTreeSet<String>,
    kept: u64,
}

impl IncrementalFilter {
    /// The cursor's path.
    pub fn cursor_path(&self) -> &str {
        &self.cfg.cursor_path
    }

    /// The columns that identify a row at the boundary (`None`: the whole row; empty: no
    /// deduplication).
    pub fn dedup_key(&self) -> Option<&[String]> {
        self.cfg.primary_key.as_deref()
    }

    /// Starts a run from the stored state (or none on the first run).
    ///
    /// As dlt: a bounded window (`end_value` set) ignores the stored state and starts at
    /// `initial_value`, with no lag and no boundary hashes; otherwise the window starts at the
    /// stored `last_value` (or `initial_value`), moved back by `lag` but never past
    /// `initial_value`. Boundary rows are de-duplicated only against the last run's own boundary,
    /// and only without a lag (a lag re-loads rows on purpose).
    pub fn new(cfg: Incremental, prior: Option<CursorState>) -> Self {
        let fresh = || CursorState {
            initial_value: cfg.initial_value.clone(),
            last_value: cfg.initial_value.clone(),
            unique_hashes: Vec::new(),
            start_value: cfg.initial_value.clone(),
        };
        let prior = if cfg.is_bounded() { fresh() } else { prior.unwrap_or_else(|| CursorState { initial_value: cfg.initial_value.clone(), ..Default::default() }) };
        let base = prior.last_value.clone().or_else(|| cfg.initial_value.clone());
        let start_value = match (&base, cfg.lag) {
            (Some(v), Some(lag)) if !cfg.is_bounded() => Some(apply_lag(v, lag, cfg.last_value_func, cfg.initial_value.as_ref())),
            (v, _) => v.clone(),
        };
        let start_hashes = if cfg.lag.is_none() && prior.last_value.is_some() { prior.unique_hashes.iter().cloned().collect() } else { BTreeSet::new() };
        IncrementalFilter { last_value: prior.last_value.clone(), prior, start_value, start_hashes, last_hashes: BTreeSet::new(), kept: 0, cfg }
    }

    /// The lower bound of this run's window, for pushing the filter down to the source.
    pub fn start_value(&self) -> Option<&Json> {
        self.start_value.as_ref()
    }

    /// The newest value seen so far (the stored one before any row).
    pub fn last_value(&self) -> Option<&Json> {
        self.last_value.as_ref()
    }

    /// The end of the window, if any.
    pub fn end_value(&self) -> Option<&Json> {
        self.cfg.end_value.as_ref()
    }

    /// Judges one row (as yielded, before normalization).
    pub fn check(&mut self, row: &Value) -> Result<Decision, CursorMissingError> {
        let cursor = lookup(row, &self.cfg.cursor_path).filter(|v| !v.is_null()).map(Value::to_json);
        let Some(cursor) = cursor else {
            return match self.cfg.on_cursor_value_missing {
                CursorMissing::Raise => Err(CursorMissingError { cursor_path: self.cfg.cursor_path.clone() }),
                CursorMissing::Include => {
                    self.kept += 1;
                    Ok(Decision::Keep)
                }
                CursorMissing::Exclude => Ok(Decision::Skip),
            };
        };
        let newer = |a: &Json, b: &Json| -> Ordering {
            match self.cfg.last_value_func {
                LastValueFunc::Max => compare(a, b),
                LastValueFunc::Min => compare(b, a),
            }
        };
        if let Some(end) = &self.cfg.end_value {
            if newer(&cursor, end) != Ordering::Less {
                let past_end = matches!(
                    (self.cfg.row_order, self.cfg.last_value_func),
                    (Some(RowOrder::Asc), LastValueFunc::Max) | (Some(RowOrder::Desc), LastValueFunc::Min)
                );
                return Ok(if past_end { Decision::Stop } else { Decision::Skip });
            }
        }
        if let Some(start) = &self.start_value {
            match newer(&cursor, start) {
                Ordering::Less => {
                    let before_start = matches!(
                        (self.cfg.row_order, self.cfg.last_value_func),
                        (Some(RowOrder::Desc), LastValueFunc::Max) | (Some(RowOrder::Asc), LastValueFunc::Min)
                    );
                    return Ok(if before_start { Decision::Stop } else { Decision::Skip });
                }
                Ordering::Equal if self.dedup() && self.start_hashes.contains(&self.row_hash(row)) => return Ok(Decision::Skip),
                _ => {}
            }
        }
        match self.last_value.as_ref().map(|last| newer(&cursor, last)) {
            None | Some(Ordering::Greater) => {
                self.last_value = Some(cursor);
                self.last_hashes.clear();
                self.last_hashes.insert(self.row_hash(row));
            }
            Some(Ordering::Equal) => {
                self.last_hashes.insert(self.row_hash(row));
            }
            Some(Ordering::Less) => {}
        }
        self.kept += 1;
        Ok(Decision::Keep)
    }

    fn dedup(&self) -> bool {
        !self.cfg.primary_key.as_ref().is_some_and(Vec::is_empty)
    }

    fn row_hash(&self, row: &Value) -> String {
        let key = match &self.cfg.primary_key {
            // An empty key turns boundary deduplication off (dlt's `primary_key=()`).
            Some(cols) if cols.is_empty() => return String::new(),
            Some(cols) if cols.len() == 1 => lookup(row, &cols[0]).map(Value::to_json).unwrap_or(Json::Null),
            Some(cols) => Json::Array(cols.iter().map(|c| lookup(row, c).map(Value::to_json).unwrap_or(Json::Null)).collect()),
            None => row.to_json(),
        };
        digest128(&crate::value::sorted_json(&key).to_string(), 9)
    }

    /// The state to store after the run: `None` for a bounded window (`end_value` set), which
    /// neither reads nor writes the pipeline state; the stored state unchanged when no row
    /// passed. Only the hashes of rows at the new last value are kept (dlt's rule), so the state
    /// does not grow with the rows loaded.
    pub fn finish(self) -> Option<CursorState> {
        if self.cfg.is_bounded() {
            return None;
        }
        if self.kept == 0 {
            return Some(self.prior);
        }
        let mut hashes: Vec<String> = if self.last_value == self.prior.last_value {
            // The boundary did not move: keep the earlier boundary rows too.
            self.prior.unique_hashes.iter().cloned().chain(self.last_hashes).collect::<BTreeSet<_>>().into_iter().collect()
        } else {
            self.last_hashes.into_iter().collect()
        };
        hashes.retain(|h| !h.is_empty());
        if hashes.len() > 100_000 {
            tracing::warn!(
                cursor = %self.cfg.cursor_path,
                rows = hashes.len(),
                "more than 100000 rows share the last cursor value; all their hashes are kept in the state, \
                 consider a more selective cursor or a primary_key"
            );
        }
        Some(CursorState {
            initial_value: self.prior.initial_value.or(self.cfg.initial_value),
            last_value: self.last_value,
            unique_hashes: hashes,
            start_value: self.prior.last_value.or(self.start_value),
        })
    }
}

/// The value at a dotted path in a row.
pub fn lookup<'a>(row: &'a Value, path: &str) -> Option<&'a Value> {
    let mut cur = row;
    for part in path.split('.') {
        cur = cur.get(part)?;
    }
    Some(cur)
}

/// The window's start for a lag (dlt's `apply_lag`): `v` moved back by `lag` (seconds for
/// timestamps, days for dates, the number itself for numbers; integers stay integers), never
/// past `initial_value`.
fn apply_lag(v: &Json, lag: f64, func: LastValueFunc, initial: Option<&Json>) -> Json {
    let sign = if func == LastValueFunc::Max { -1.0 } else { 1.0 };
    let Some(lagged) = shift(v, sign * lag) else { return v.clone() };
    match initial {
        // Do not cross the initial value.
        Some(init) if matches!((func, compare(&lagged, init)), (LastValueFunc::Max, Ordering::Less) | (LastValueFunc::Min, Ordering::Greater)) => init.clone(),
        _ => lagged,
    }
}

/// `v` moved by `by` (seconds for timestamps, days for `YYYY-MM-DD` dates); `None` for values
/// that cannot move.
fn shift(v: &Json, by: f64) -> Option<Json> {
    if let Some(n) = v.as_i64() {
        // Exact for whole lags (ids past 2^53 included); a fractional lag is truncated, as dlt's
        // `int(value - lag)`.
        let moved = if by.fract() == 0.0 { n.checked_add(by as i64) } else { None };
        return Some(json!(moved.unwrap_or((n as f64 + by) as i64)));
    }
    if let Some(n) = v.as_f64() {
        return Some(json!(n + by));
    }
    let s = v.as_str()?;
    if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        let days = chrono::Duration::microseconds((by * 86_400e6) as i64);
        return Some(json!((d + days).format("%Y-%m-%d").to_string()));
    }
    let t = parse_iso_timestamp(s)?;
    let shifted = t + chrono::Duration::microseconds((by * 1e6) as i64);
    Some(json!(shifted.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)))
}

/// Orders cursor values: numbers numerically, ISO timestamps as instants, other text as text.
pub fn compare(a: &Json, b: &Json) -> Ordering {
    // Integers exactly (f64 loses precision past 2^53), then other numbers.
    if let (Some(x), Some(y)) = (a.as_i64(), b.as_i64()) {
        return x.cmp(&y);
    }
    if let (Some(x), Some(y)) = (a.as_u64(), b.as_u64()) {
        return x.cmp(&y);
    }
    if let (Some(x), Some(y)) = (a.as_f64(), b.as_f64()) {
        return x.partial_cmp(&y).unwrap_or(Ordering::Equal);
    }
    if let (Some(x), Some(y)) = (a.as_str(), b.as_str()) {
        if let (Some(tx), Some(ty)) = (parse_iso_timestamp(x), parse_iso_timestamp(y)) {
            return tx.cmp(&ty);
        }
        // A date against a timestamp (a partition's window against a date cursor): the date
        // is its midnight in UTC.
        let instant = |s: &str| {
            parse_iso_timestamp(s).or_else(|| {
                chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").ok().map(|d| d.and_time(chrono::NaiveTime::MIN).and_utc())
            })
        };
        if x.len() == 10 || y.len() == 10 {
            if let (Some(tx), Some(ty)) = (instant(x), instant(y)) {
                if tx != ty || x.len() == y.len() {
                    return tx.cmp(&ty);
                }
                // Equal instants: the date comes first, as text would have it.
                return x.len().cmp(&y.len());
            }
        }
        // Decimal cursors travel as text: compare them as numbers.
        if let (Ok(dx), Ok(dy)) = (x.trim().parse::<rust_decimal::Decimal>(), y.trim().parse::<rust_decimal::Decimal>()) {
            return dx.cmp(&dy);
        }
        return x.cmp(y);
    }
    a.to_string().cmp(&b.to_string())
}


#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: i64, at: &str) -> Value {
        Value::from(json!({"id": id, "updated_at": at}))
    }

    /// The shared case `incremental_append`, as dlt behaves on it.
    #[test]
    fn the_cursor_column_is_a_single_field_as_dlt_resolves_it() {
        let column = |path: &str| Incremental::new(path).cursor_column().map(str::to_owned);
        assert_eq!(column("updated_at").as_deref(), Some("updated_at"));
        assert_eq!(column("\"na.me\"").as_deref(), Some("na.me"));
        for complex in ["meta.updated_at", "$.updated_at", "items[*].at", "*", ""] {
            assert_eq!(column(complex), None, "{complex}");
        }
    }

    #[test]
    fn window_dedup_and_state_across_runs() {
        let cfg = Incremental::new("updated_at").initial_value("2024-01-01T00:00:00Z");
        let mut f = IncrementalFilter::new(cfg.clone(), None);
        let run1 = [row(0, "2023-12-31T00:00:00Z"), row(1, "2024-01-01T00:00:00Z"), row(2, "2024-01-02T00:00:00Z"), row(3, "2024-01-03T00:00:00Z")];
        let kept: Vec<bool> = run1.iter().map(|r| f.check(r).unwrap() == Decision::Keep).collect();
        assert_eq!(kept, [false, true, true, true]);
        let s1 = f.finish().unwrap();
        assert_eq!(s1.last_value, Some(json!("2024-01-03T00:00:00Z")));
        assert_eq!(s1.unique_hashes.len(), 1);
        assert_eq!(s1.unique_hashes[0].len(), 12);

        let mut f = IncrementalFilter::new(cfg.clone(), Some(s1.clone()));
        assert_eq!(f.start_value(), Some(&json!("2024-01-03T00:00:00Z")));
        let run2 = [row(2, "2024-01-02T00:00:00Z"), row(3, "2024-01-03T00:00:00Z"), row(5, "2024-01-03T00:00:00Z"), row(6, "2024-01-04T00:00:00Z")];
        let kept: Vec<bool> = run2.iter().map(|r| f.check(r).unwrap() == Decision::Keep).collect();
        assert_eq!(kept, [false, false, true, true]);
        let s2 = f.finish().unwrap();
        assert_eq!(s2.start_value, Some(json!("2024-01-03T00:00:00Z")));
        assert_eq!(s2.last_value, Some(json!("2024-01-04T00:00:00Z")));

        // Nothing new: the state does not change.
        let mut f = IncrementalFilter::new(cfg, Some(s2.clone()));
        assert_eq!(f.check(&row(6, "2024-01-04T00:00:00Z")).unwrap(), Decision::Skip);
        assert_eq!(f.finish(), Some(s2));
    }

    #[test]
    fn cursor_values_compare_exactly() {
        assert_eq!(compare(&json!(9007199254740993i64), &json!(9007199254740992i64)), Ordering::Greater);
        assert_eq!(compare(&json!("10.0"), &json!("9.5")), Ordering::Greater);
        assert_eq!(compare(&json!("2024-01-02T00:00:00+01:00"), &json!("2024-01-01T23:30:00Z")), Ordering::Less);
        assert_eq!(compare(&json!("2024-01-02"), &json!("2024-01-01T23:30:00Z")), Ordering::Greater);
        assert_eq!(compare(&json!("2024-01-02"), &json!("2024-01-02T00:00:01+00:00")), Ordering::Less);
        assert_eq!(compare(&json!("2024-01-02"), &json!("2024-01-03")), Ordering::Less);
    }

    #[test]
    fn empty_primary_key_turns_boundary_dedup_off() {
        let cfg = Incremental::new("n").primary_key(Vec::<String>::new());
        let mut f = IncrementalFilter::new(cfg.clone(), None);
        f.check(&Value::from(json!({"n": 1, "v": "a"}))).unwrap();
        let s = f.finish().unwrap();
        let mut f = IncrementalFilter::new(cfg, Some(s));
        assert_eq!(f.check(&Value::from(json!({"n": 1, "v": "b"}))).unwrap(), Decision::Keep);
    }

    #[test]
    fn ordered_rows_stop_early_and_missing_cursors_follow_the_rule() {
        let cfg = Incremental::new("n").initial_value(5).row_order(RowOrder::Desc);
        let mut f = IncrementalFilter::new(cfg, None);
        assert_eq!(f.check(&Value::from(json!({"n": 9}))).unwrap(), Decision::Keep);
        assert_eq!(f.check(&Value::from(json!({"n": 4}))).unwrap(), Decision::Stop);
        let mut f = IncrementalFilter::new(Incremental::new("n"), None);
        assert!(f.check(&Value::from(json!({"x": 1}))).is_err());
        let mut f = IncrementalFilter::new(Incremental::new("n").on_cursor_value_missing(CursorMissing::Exclude), None);
        assert_eq!(f.check(&Value::from(json!({"x": 1}))).unwrap(), Decision::Skip);
        let mut f = IncrementalFilter::new(Incremental::new("a.b").last_value_func(LastValueFunc::Min).initial_value(10), None);
        assert_eq!(f.check(&Value::from(json!({"a": {"b": 3}}))).unwrap(), Decision::Keep);
        assert_eq!(f.check(&Value::from(json!({"a": {"b": 11}}))).unwrap(), Decision::Skip);
    }
    #[test]
    fn a_bounded_window_ignores_and_keeps_the_stored_state() {
        // Forward runs moved the cursor to 100.
        let stored = CursorState { initial_value: Some(json!(0)), last_value: Some(json!(100)), unique_hashes: vec!["h".into()], start_value: Some(json!(50)) };
        let cfg = Incremental::new("n").initial_value(10).end_value(20);
        let mut f = IncrementalFilter::new(cfg, Some(stored));
        assert_eq!(f.start_value(), Some(&json!(10)));
        assert_eq!(f.last_value(), Some(&json!(10)));
        let kept: Vec<i64> = (0..30).filter(|n| f.check(&Value::from(json!({"n": n}))).unwrap() == Decision::Keep).collect();
        // [initial_value, end_value): closed start, open end.
        assert_eq!(kept, (10..20).collect::<Vec<_>>());
        assert_eq!(f.finish(), None, "a bounded window writes no state");
    }

    #[test]
    fn bounded_windows_are_validated_as_dlt_does() {
        let err = Incremental::new("n").end_value(5).validate().unwrap_err();
        assert!(err.to_string().contains("`end_value` is set without `initial_value`"), "{err}");
        let err = Incremental::new("n").initial_value(5).end_value(5).validate().unwrap_err();
        assert!(err.to_string().contains("must be greater than `initial_value` 5"), "{err}");
        assert!(Incremental::new("n").initial_value(9).end_value(5).last_value_func(LastValueFunc::Min).validate().is_ok());
        assert!(Incremental::new("n").initial_value("x").lag(1.0).validate().unwrap_err().to_string().contains("lag"));
        assert!(Incremental::new("n").initial_value(1).lag(-1.0).validate().is_err());
    }

    #[test]
    fn lag_moves_the_start_back_but_not_past_the_initial_value() {
        let stored = |last: Json| Some(CursorState { initial_value: Some(json!(0)), last_value: Some(last), ..Default::default() });
        // Integers stay integers.
        let f = IncrementalFilter::new(Incremental::new("n").initial_value(0).lag(3.0), stored(json!(10)));
        assert_eq!(f.start_value(), Some(&json!(7)));
        // Exact past 2^53.
        let f = IncrementalFilter::new(Incremental::new("n").initial_value(0).lag(1.0), stored(json!(9_007_199_254_740_993i64)));
        assert_eq!(f.start_value(), Some(&json!(9_007_199_254_740_992i64)));
        // Never past the initial value (the first run starts exactly there).
        let f = IncrementalFilter::new(Incremental::new("n").initial_value(0).lag(3.0), stored(json!(1)));
        assert_eq!(f.start_value(), Some(&json!(0)));
        let f = IncrementalFilter::new(Incremental::new("n").initial_value(0).lag(3.0), None);
        assert_eq!(f.start_value(), Some(&json!(0)));
        // Seconds for timestamps, days for dates; min moves forward.
        let ts = Incremental::new("t").initial_value("2024-01-01T00:00:00Z").lag(3600.0);
        let f = IncrementalFilter::new(ts, Some(CursorState { last_value: Some(json!("2024-01-02T00:00:00Z")), ..Default::default() }));
        assert_eq!(f.start_value(), Some(&json!("2024-01-01T23:00:00Z")));
        let d = Incremental::new("d").initial_value("2024-01-01").lag(2.0);
        let f = IncrementalFilter::new(d, Some(CursorState { last_value: Some(json!("2024-01-10")), ..Default::default() }));
        assert_eq!(f.start_value(), Some(&json!("2024-01-08")));
        let m = Incremental::new("n").initial_value(100).lag(5.0).last_value_func(LastValueFunc::Min);
        let f = IncrementalFilter::new(m, stored(json!(50)));
        assert_eq!(f.start_value(), Some(&json!(55)));
        // The lagged rows load again; the stored last value only moves forward.
        let mut f = IncrementalFilter::new(Incremental::new("n").initial_value(0).lag(3.0), stored(json!(10)));
        assert_eq!(f.check(&Value::from(json!({"n": 8}))).unwrap(), Decision::Keep);
        assert_eq!(f.check(&Value::from(json!({"n": 6}))).unwrap(), Decision::Skip);
        assert_eq!(f.finish().unwrap().last_value, Some(json!(10)));
        // A bounded window has no lag.
        let f = IncrementalFilter::new(Incremental::new("n").initial_value(0).end_value(5).lag(3.0), stored(json!(10)));
        assert_eq!(f.start_value(), Some(&json!(0)));
    }

    #[test]
    fn boundary_hashes_are_only_those_of_the_last_value() {
        let cfg = Incremental::new("n");
        let mut f = IncrementalFilter::new(cfg.clone(), None);
        for n in 0..200_000 {
            assert_eq!(f.check(&Value::from(json!({"n": n, "v": "x"}))).unwrap(), Decision::Keep);
        }
        f.check(&Value::from(json!({"n": 199_999, "v": "y"}))).unwrap();
        let s = f.finish().unwrap();
        assert_eq!(s.unique_hashes.len(), 2, "the two rows at the last value only");
        // Rows out of order: still only the last value's rows.
        let mut f = IncrementalFilter::new(cfg, Some(s));
        for n in (200_000..300_000).rev() {
            f.check(&Value::from(json!({"n": n}))).unwrap();
        }
        assert_eq!(f.finish().unwrap().unique_hashes.len(), 1);
    }
}
