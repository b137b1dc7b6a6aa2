//! Binary COPY of every column type the buffers hold, read back as PostgreSQL's text.

use chrono::{NaiveDate, NaiveTime, TimeZone, Utc};
use etl_core::columnar::TableColumns;
use etl_core::{DataType, Table, Value};
use etl_pipeline::destination::postgres::{numeric, CopyBatch, PgSession, SessionError};
use etl_testkit::pg_or_skip;

use crate::{col, create_all, texts};

/// One column of every PostgreSQL type dlt maps to, with their hints.
fn every_type() -> Table {
    let hinted = |name: &str, t: DataType, p: Option<u32>, s: Option<u32>, tz: Option<bool>| {
        let mut c = col(name, t);
        (c.precision, c.scale, c.timezone) = (p, s, tz);
        c
    };
    let mut id = col("_dlt_id", DataType::Text);
    (id.nullable, id.unique) = (false, true);
    Table {
        name: "every_type".into(),
        columns: vec![
            col("big", DataType::Bigint),
            hinted("small", DataType::Bigint, Some(16), None, None),
            hinted("int", DataType::Bigint, Some(32), None, None),
            col("dbl", DataType::Double),
            col("flag", DataType::Bool),
            col("txt", DataType::Text),
            hinted("short_txt", DataType::Text, Some(64), None, None),
            col("ts", DataType::Timestamp),
            hinted("ts_naive_ms", DataType::Timestamp, Some(3), None, Some(false)),
            col("day", DataType::Date),
            col("tod", DataType::Time),
            col("dec", DataType::Decimal),
            hinted("money", DataType::Decimal, Some(10), Some(2), None),
            hinted("wei_like", DataType::Decimal, Some(156), Some(78), None),
            col("doc", DataType::Json),
            col("bin", DataType::Binary),
            id,
        ],
        ..Default::default()
    }
}

fn ts(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32, micro: u32) -> Value {
    Value::Timestamp(Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap() + chrono::Duration::microseconds(i64::from(micro)))
}

#[test]
fn every_type_round_trips_through_binary_copy() {
    let pg = pg_or_skip!();
    let url = pg.create_database().unwrap();
    let table = every_type();
    let mut buffers = TableColumns::default();
    let big_mantissa: i128 = 12_345_678_901_234_567_890_123_456_789_012_345_678; // 38 digits
    let row1 = vec![
        Value::Int(i64::MAX),
        Value::Int(32_767),
        Value::Int(-2_147_483_648),
        Value::Float(3.25),
        Value::Bool(true),
        Value::Text("hello ünïcödé 日本".into()),
        Value::Text("L1".into()),
        ts(2024, 2, 29, 18, 29, 59, 999_999),
        ts(2024, 1, 15, 10, 30, 0, 123_456),
        Value::Date(NaiveDate::from_ymd_opt(2024, 2, 29).unwrap()),
        Value::Time(NaiveTime::from_hms_micro_opt(23, 59, 59, 500_000).unwrap()),
        Value::BigDecimal { mantissa: big_mantissa, scale: 9 },
        Value::Decimal("1234.5".parse().unwrap()),
        Value::BigDecimal { mantissa: 10i128.pow(38) - 1, scale: 78 },
        Value::Object(vec![("b".into(), Value::List(vec![Value::Int(1), Value::Text("two".into())])), ("a".into(), Value::Null)]),
        Value::Bytes(vec![0, 255, 16]),
        Value::Text("r1".into()),
    ];
    let row2 = vec![
        Value::Int(-1),
        Value::Null,
        Value::Null,
        Value::Float(1e-10),
        Value::Bool(false),
        Value::Text(String::new()),
        Value::Null,
        ts(1969, 12, 31, 23, 59, 59, 0),
        Value::Null,
        Value::Date(NaiveDate::from_ymd_opt(1969, 12, 31).unwrap()),
        Value::Time(NaiveTime::from_hms_opt(0, 0, 0).unwrap()),
        Value::Decimal("-0.000000001".parse().unwrap()),
        Value::Null,
        Value::BigDecimal { mantissa: -1, scale: 78 },
        Value::List(vec![]),
        Value::Bytes(vec![]),
        Value::Text("r2".into()),
    ];
    let row3: Vec<Value> = (0..table.columns.len()).map(|i| if i == table.columns.len() - 1 { Value::Text("r3".into()) } else { Value::Null }).collect();
    for row in [row1, row2, row3] {
        let row: Vec<(usize, Value)> = row.into_iter().enumerate().collect();
        buffers.push_row(&table, &row).unwrap();
    }

    let mut session = PgSession::begin(&url).unwrap();
    create_all(&mut session, "types", &table);
    let batch = CopyBatch::from_table_columns(&table, &buffers).unwrap();
    assert_eq!(session.copy("types", &batch).unwrap(), 3);
    session.commit().unwrap();

    let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let select: Vec<String> = table.columns.iter().map(|c| format!("\"{}\"::text", c.name)).collect();
    let got = texts(&mut client, &format!("SELECT {} FROM types.every_type ORDER BY _dlt_id", select.join(", ")));
    let s = |v: &str| Some(v.to_owned());
    let wei_max = format!("0.{}{}", "0".repeat(78 - 38), "9".repeat(38));
    let wei_neg = format!("-0.{}1", "0".repeat(77));
    assert_eq!(
        got[0],
        vec![
            s("9223372036854775807"),
            s("32767"),
            s("-2147483648"),
            s("3.25"),
            s("true"),
            s("hello ünïcödé 日本"),
            s("L1"),
            s("2024-02-29 18:29:59.999999+00"),
            s("2024-01-15 10:30:00.123"),
            s("2024-02-29"),
            s("23:59:59.5"),
            s("12345678901234567890123456789.012345678"),
            s("1234.50"),
            Some(wei_max),
            s(r#"{"a": null, "b": [1, "two"]}"#),
            s("\\x00ff10"),
            s("r1"),
        ]
    );
    assert_eq!(
        got[1],
        vec![
            s("-1"),
            None,
            None,
            s("1e-10"),
            s("false"),
            s(""),
            None,
            s("1969-12-31 23:59:59+00"),
            None,
            s("1969-12-31"),
            s("00:00:00"),
            s("-0.000000001"),
            None,
            Some(wei_neg),
            s("[]"),
            s("\\x"),
            s("r2"),
        ]
    );
    assert!(got[2][..table.columns.len() - 1].iter().all(Option::is_none), "{:?}", got[2]);
}

/// Numerics from text, far beyond 28 digits: dlt's `wei` column (`numeric(156,78)`) holding
/// 2^256 − 1, and values whose base-10000 groups straddle the point.
#[test]
fn numeric_text_encoding_is_what_the_server_reads() {
    let pg = pg_or_skip!();
    let mut client = pg.connect().unwrap();
    client.batch_execute("CREATE TABLE n (i int, v numeric(156,78), free numeric)").unwrap();
    let max = "115792089237316195423570985008687907853269984665640564039457584007913129639935";
    let cases = [
        (max.to_owned(), format!("{max}.{}", "0".repeat(78))),
        ("-0.000000001".into(), format!("-0.000000001{}", "0".repeat(69))),
        ("12345.6789e-2".into(), format!("123.456789{}", "0".repeat(72))),
        ("0".into(), format!("0.{}", "0".repeat(78))),
    ];
    let mut data = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0".to_vec();
    for (i, (input, _)) in cases.iter().enumerate() {
        data.extend_from_slice(&3i16.to_be_bytes());
        data.extend_from_slice(&4i32.to_be_bytes());
        data.extend_from_slice(&(i as i32).to_be_bytes());
        for _ in 0..2 {
            let mut value = Vec::new();
            numeric::encode_text(input, &mut value).unwrap();
            data.extend_from_slice(&(value.len() as i32).to_be_bytes());
            data.extend_from_slice(&value);
        }
    }
    data.extend_from_slice(&(-1i16).to_be_bytes());
    let mut writer = client.copy_in("COPY n FROM STDIN (FORMAT binary)").unwrap();
    std::io::Write::write_all(&mut writer, &data).unwrap();
    writer.finish().unwrap();
    let got = crate::texts(&mut client, "SELECT v::text, free::text FROM n ORDER BY i");
    for ((input, expected), row) in cases.iter().zip(got) {
        assert_eq!(row[0].as_deref(), Some(expected.as_str()), "{input}");
        // Unconstrained numeric keeps the value's own scale, as PostgreSQL prints it from text.
        let text_roundtrip: String = client.query_one(&format!("SELECT ('{input}'::numeric)::text"), &[]).unwrap().get(0);
        assert_eq!(row[1].as_deref(), Some(text_roundtrip.as_str()), "{input}");
    }
}

/// Values the server refuses (a string longer than `varchar(n)`, an integer beyond `smallint`)
/// are errors, not panics, and leave the session's transaction to be rolled back.
#[test]
fn refused_values_are_errors() {
    let pg = pg_or_skip!();
    let url = pg.create_database().unwrap();
    let mut short = col("s", DataType::Text);
    short.precision = Some(3);
    let mut small = col("n", DataType::Bigint);
    small.precision = Some(16);
    let table = Table { name: "t".into(), columns: vec![short, small], ..Default::default() };

    let mut session = PgSession::begin(&url).unwrap();
    session.execute(&etl_pipeline::destination::postgres::ddl::table_update_sql("public", &table, &[]).unwrap().unwrap()).unwrap();
    let mut too_long = TableColumns::default();
    too_long.push_row(&table, &[(0, Value::Text("four".into()))]).unwrap();
    let err = session.copy("public", &CopyBatch::from_table_columns(&table, &too_long).unwrap()).unwrap_err();
    let chain = format!("{:?}", err);
    assert!(matches!(err, SessionError::Statement { .. }), "{chain}");
    assert!(chain.contains("too long for type character varying(3)"), "{chain}");
    session.rollback().unwrap();

    let mut session = PgSession::begin(&url).unwrap();
    session.execute(&etl_pipeline::destination::postgres::ddl::table_update_sql("public", &table, &[]).unwrap().unwrap()).unwrap();
    let mut too_big = TableColumns::default();
    too_big.push_row(&table, &[(1, Value::Int(40_000))]).unwrap();
    let batch = CopyBatch::from_table_columns(&table, &too_big).unwrap();
    let err = session.copy("public", &batch).unwrap_err();
    assert!(err.to_string().contains("COPY into `t`"), "{err}");
    let source = std::error::Error::source(&err).unwrap().to_string();
    assert!(source.contains("value 40000 in row 0 of column `n`") && source.contains("smallint"), "{source}");
}
