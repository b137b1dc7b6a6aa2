//! Reading query results as JSON (tests, tools and `DuckDbResource`).

/// Runs a query on a connection and returns the rows as JSON values. Types JSON lacks are tagged
/// as in the conformance suite: `{"$datetime": "2024-01-15T10:30:00"}` (naive, UTC),
/// `{"$date": ..}`, `{"$time": ..}`, `{"$decimal": "12.340"}`, `{"$bytes_hex": "00ff"}`.
pub fn query_conn(conn: &duckdb::Connection, sql: &str) -> Result<Vec<Vec<serde_json::Value>>, duckdb::Error> {
    use duckdb::types::Value as D;
    use serde_json::Value as J;
    let mut stmt = conn.prepare(sql)?;
    let mut rows = stmt.query([])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let n = row.as_ref().column_count();
        let mut values = Vec::with_capacity(n);
        for i in 0..n {
            let v: D = row.get(i)?;
            values.push(match v {
                D::Null => J::Null,
                D::Boolean(b) => J::Bool(b),
                D::TinyInt(i) => J::from(i),
                D::SmallInt(i) => J::from(i),
                D::Int(i) => J::from(i),
                D::BigInt(i) => J::from(i),
                D::HugeInt(i) => J::String(i.to_string()),
                D::UTinyInt(i) => J::from(i),
                D::USmallInt(i) => J::from(i),
                D::UInt(i) => J::from(i),
                D::UBigInt(i) => J::from(i),
                D::Float(f) => J::from(f64::from(f)),
                D::Double(f) => J::from(f),
                D::Text(s) => J::String(s),
                D::Decimal(d) => serde_json::json!({"$decimal": d.to_string()}),
                D::Blob(b) => serde_json::json!({"$bytes_hex": b.iter().map(|x| format!("{x:02x}")).collect::<String>()}),
                D::Date32(days) => {
                    let date = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch") + chrono::Duration::days(days.into());
                    serde_json::json!({"$date": date.to_string()})
                }
                D::Timestamp(unit, v) => {
                    let micros = to_micros(unit, v);
                    let t = chrono::DateTime::from_timestamp_micros(micros).unwrap_or_default().naive_utc();
                    serde_json::json!({"$datetime": iso(t.format("%Y-%m-%dT%H:%M:%S").to_string(), micros)})
                }
                D::Time64(unit, v) => {
                    let micros = to_micros(unit, v);
                    let secs = micros.div_euclid(1_000_000);
                    let text = format!("{:02}:{:02}:{:02}", secs / 3600, (secs / 60) % 60, secs % 60);
                    serde_json::json!({"$time": iso(text, micros)})
                }
                other => J::String(format!("{other:?}")),
            });
        }
        out.push(values);
    }
    Ok(out)
}

fn to_micros(unit: duckdb::types::TimeUnit, v: i64) -> i64 {
    use duckdb::types::TimeUnit as U;
    match unit {
        U::Second => v * 1_000_000,
        U::Millisecond => v * 1_000,
        U::Microsecond => v,
        U::Nanosecond => v / 1_000,
    }
}

/// Python's `isoformat`: microseconds only when non-zero.
fn iso(base: String, micros: i64) -> String {
    match micros.rem_euclid(1_000_000) {
        0 => base,
        frac => format!("{base}.{frac:06}"),
    }
}
