use super::*;

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn def(t: TimeWindowPartitions) -> PartitionsDefinition {
    t.into()
}

#[test]
fn daily_keys_run_to_the_last_window_that_has_ended_or_to_the_end() {
    let d = def(daily_partitions("2024-01-01"));
    let keys = d.keys(at("2024-01-04T12:00:00Z")).unwrap();
    assert_eq!(keys, ["2024-01-01", "2024-01-02", "2024-01-03"], "the 4th has not ended");
    assert_eq!(d.keys(at("2024-01-04T00:00:00Z")).unwrap().len(), 3, "it ends at midnight");
    let bounded = def(daily_partitions("2024-01-01").end("2024-01-03"));
    assert_eq!(bounded.keys(at("2030-01-01T00:00:00Z")).unwrap(), ["2024-01-01", "2024-01-02"]);
    assert_eq!(bounded.keys(at("2024-01-02T12:00:00Z")).unwrap(), ["2024-01-01"], "a future window is no partition, end or not");
    assert_eq!(d.last_key(at("2024-01-04T12:00:00Z")).unwrap().as_deref(), Some("2024-01-03"));
}

#[test]
fn hourly_weekly_and_monthly_keys_are_dagsters() {
    let h = def(hourly_partitions("2024-01-01-22:00"));
    assert_eq!(h.keys(at("2024-01-02T00:30:00Z")).unwrap(), ["2024-01-01-22:00", "2024-01-01-23:00"]);
    // 2024-01-03 is a Wednesday: weeks start on the Sunday before, 2023-12-31.
    let w = def(weekly_partitions("2024-01-03"));
    assert_eq!(w.keys(at("2024-01-15T00:00:00Z")).unwrap(), ["2023-12-31", "2024-01-07"]);
    let m = def(monthly_partitions("2024-01-01"));
    assert_eq!(m.keys(at("2024-03-31T23:00:00Z")).unwrap(), ["2024-01-01", "2024-02-01"]);
    let w = m.time_window("2024-02-01").unwrap().unwrap();
    assert_eq!((w.start.to_rfc3339(), w.end.to_rfc3339()), ("2024-02-01T00:00:00+00:00".into(), "2024-03-01T00:00:00+00:00".into()));
}

#[test]
fn a_day_in_a_timezone_runs_from_local_midnight_to_local_midnight_across_dst() {
    let d = def(daily_partitions("2024-03-30").timezone("Europe/Berlin"));
    let w = d.time_window("2024-03-31").unwrap().unwrap();
    assert_eq!(w.start.to_rfc3339(), "2024-03-31T00:00:00+01:00");
    assert_eq!(w.end.to_rfc3339(), "2024-04-01T00:00:00+02:00");
    assert_eq!((w.end - w.start).num_hours(), 23, "the day the clocks go forward");
    // The 31st ended at 22:00 UTC.
    assert_eq!(d.keys(at("2024-03-31T22:00:00Z")).unwrap(), ["2024-03-30", "2024-03-31"]);
    assert_eq!(d.keys(at("2024-03-31T21:59:59Z")).unwrap(), ["2024-03-30"]);
    let bad = def(daily_partitions("2024-01-01").timezone("Mars/Olympus"));
    assert!(bad.validate().unwrap_err().to_string().contains("unknown timezone `Mars/Olympus`"));
}

#[test]
fn requests_resolve_to_keys_and_their_window_and_bad_ones_are_named() {
    let d = def(daily_partitions("2024-01-01"));
    let now = at("2024-02-01T00:00:00Z");
    let p = d.resolve(&PartitionRequest::parse("2024-01-03...2024-01-05").unwrap(), now).unwrap();
    assert_eq!(p.keys(), ["2024-01-03", "2024-01-04", "2024-01-05"]);
    assert_eq!(p.key(), None, "a range has no single key");
    let w = p.time_window().unwrap();
    assert_eq!((w.start.to_rfc3339(), w.end.to_rfc3339()), ("2024-01-03T00:00:00+00:00".into(), "2024-01-06T00:00:00+00:00".into()));
    assert_eq!(p.request().to_string(), "2024-01-03...2024-01-05");
    let one = d.resolve(&PartitionRequest::Key("2024-01-31".into()), now).unwrap();
    assert_eq!(one.key(), Some("2024-01-31"));
    let err = d.resolve(&PartitionRequest::Key("2024-02-01".into()), now).unwrap_err().to_string();
    assert!(err.contains("unknown partition key `2024-02-01`") && err.contains("from `2024-01-01` to `2024-01-31`"), "{err}");
    let err = d.resolve(&PartitionRequest::Key("Jan 3".into()), now).unwrap_err().to_string();
    assert!(err.contains("a daily key like `2024-01-01`"), "{err}");
    let err = d.resolve(&PartitionRequest::parse("2024-01-05...2024-01-03").unwrap(), now).unwrap_err().to_string();
    assert!(err.contains("runs backwards"), "{err}");
    assert!(PartitionRequest::parse("2024-01-05...").is_err());
}

#[test]
fn static_partitions_are_their_list_and_are_checked() {
    let s = static_partitions(["eu", "us", "apac"]);
    let now = Utc::now();
    assert_eq!(s.keys(now).unwrap(), ["eu", "us", "apac"]);
    let p = s.resolve(&PartitionRequest::parse("us...apac").unwrap(), now).unwrap();
    assert_eq!(p.keys(), ["us", "apac"]);
    assert_eq!(p.time_window(), None);
    assert!(static_partitions(["a", "a"]).validate().unwrap_err().to_string().contains("listed twice"));
    assert!(static_partitions(Vec::<String>::new()).validate().is_err());
}
