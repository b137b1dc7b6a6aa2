//! Arrow items (issue 17): record batches loaded column by column, typed as dlt types them,
//! without lineage columns unless asked, incremental on a cursor column, names normalized;
//! Parquet files read as record batches.

use std::sync::Arc;

use etl::arrow::array::{ArrayRef, BooleanArray, Date32Array, Decimal128Array, Float64Array, Int32Array, Int64Array, ListArray, StringArray, TimestampMicrosecondArray};
use etl::arrow::datatypes::{DataType, Field, Int32Type, Schema};
use etl::arrow::record_batch::RecordBatch;
use etl::Value;
use etl_testkit::pg_or_skip;

fn batch(ids: std::ops::Range<i64>) -> RecordBatch {
    let n = ids.end - ids.start;
    let ids: Vec<i64> = ids.collect();
    let columns: Vec<(&str, ArrayRef)> = vec![
        ("Id", Arc::new(Int64Array::from(ids.clone()))),
        ("Small Count", Arc::new(Int32Array::from(ids.iter().map(|i| (*i % 7) as i32).collect::<Vec<_>>()))),
        ("name", Arc::new(StringArray::from(ids.iter().map(|i| if i % 5 == 0 { None } else { Some(format!("n{i}")) }).collect::<Vec<_>>()))),
        ("ratio", Arc::new(Float64Array::from(ids.iter().map(|i| *i as f64 / 2.0).collect::<Vec<_>>()))),
        ("ok", Arc::new(BooleanArray::from(ids.iter().map(|i| i % 2 == 0).collect::<Vec<_>>()))),
        ("amount", Arc::new(Decimal128Array::from(ids.iter().map(|i| i128::from(*i) * 125).collect::<Vec<_>>()).with_precision_and_scale(12, 2).unwrap())),
        (
            "updated_at",
            Arc::new(TimestampMicrosecondArray::from(ids.iter().map(|i| 1_704_067_200_000_000 + i * 1_000_000).collect::<Vec<_>>()).with_timezone("UTC")),
        ),
        ("day", Arc::new(Date32Array::from(ids.iter().map(|i| 19_723 + (*i % 3) as i32).collect::<Vec<_>>()))),
        ("tags", Arc::new(ListArray::from_iter_primitive::<Int32Type, _, _>(ids.iter().map(|i| Some(vec![Some(*i as i32), None]))))),
    ];
    let fields: Vec<Field> = columns.iter().map(|(name, a)| Field::new(*name, a.data_type().clone(), true)).collect();
    let arrays = columns.into_iter().map(|(_, a)| a).collect();
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).unwrap();
    assert_eq!(batch.num_rows() as i64, n);
    batch
}

fn check_loaded(ds: &etl::Dataset, rows: u64) {
    assert_eq!(ds.row_counts().unwrap()["events"], rows);
    let all = ds.table("events").unwrap().rows().unwrap();
    assert_eq!(
        all.columns,
        ["id", "small_count", "name", "ratio", "ok", "amount", "updated_at", "day", "tags"],
        "names normalized, no lineage columns by default (dlt's arrow normalizer)"
    );
    assert_eq!(ds.table("events__tags").unwrap_err().to_string().contains("has no table"), true, "lists are json, no nested table");
    let one = ds.query("SELECT id, small_count, name, ratio, ok, amount, updated_at, day, tags FROM events WHERE id = 3").rows().unwrap();
    let r = &one.rows[0];
    assert_eq!(r[0], Value::Int(3));
    assert_eq!(r[1], Value::Int(3));
    assert_eq!(r[2], Value::Text("n3".into()));
    assert_eq!(r[3], Value::Float(1.5));
    assert_eq!(r[4], Value::Bool(false));
    assert_eq!(r[5].as_f64(), Some(3.75));
    assert!(matches!(r[6], Value::Timestamp(t) if t.to_rfc3339() == "2024-01-01T00:00:03+00:00"), "{:?}", r[6]);
    assert!(matches!(r[7], Value::Date(d) if d.to_string() == "2024-01-01"), "{:?}", r[7]);
    assert_eq!(r[8].as_str().map(|s| s.replace(' ', "")), Some("[3,null]".to_owned()), "{:?}", r[8]);
    let nulls = ds.query("SELECT count(*) FROM events WHERE name IS NULL").fetchall().unwrap();
    assert_eq!(nulls[0][0], Value::Int((0..rows as i64).filter(|i| i % 5 == 0).count() as i64));
}

fn events(batches: Vec<RecordBatch>) -> etl::Source {
    etl::Source::with("arrow_src", vec![etl::Resource::from_batches("events", batches)]).unwrap()
}

#[test]
fn record_batches_load_column_by_column_into_duckdb() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = etl::pipeline("arrow_duck").dataset_name("arrow_data").working_dir(dir.path());
    let info = pipeline.run(events(vec![batch(0..1000), batch(1000..2500)])).unwrap();
    assert_eq!(info.rows("events"), 2500);
    check_loaded(&pipeline.dataset(), 2500);
    // dlt's types: a 32-bit integer is a bigint of precision 32, the decimal keeps its shape.
    let schema = pipeline.info().unwrap().schema_tables.into_iter().find(|t| t.name == "events").unwrap();
    let col = |n: &str| schema.columns.iter().find(|c| c.0 == n).map(|c| c.1.clone()).unwrap();
    assert_eq!((col("small_count"), col("amount"), col("tags"), col("updated_at")), ("bigint".into(), "decimal".into(), "json".into(), "timestamp".into()));
}

#[test]
fn lineage_columns_are_added_when_asked_as_dlt_configures_them() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join(".dlt")).unwrap();
    std::fs::write(dir.path().join(".dlt/config.toml"), "[normalize.parquet_normalizer]\nadd_dlt_load_id = true\nadd_dlt_id = true\n").unwrap();
    let pipeline = etl::pipeline("arrow_lineage").dataset_name("arrow_data").working_dir(dir.path());
    let info = pipeline.run(events(vec![batch(0..100)])).unwrap();
    let ds = pipeline.dataset();
    let ids = ds.query("SELECT count(DISTINCT _dlt_id), min(_dlt_load_id), max(_dlt_load_id) FROM events").fetchall().unwrap();
    assert_eq!(ids[0][0], Value::Int(100));
    assert_eq!(ids[0][1], Value::Text(info.load_id.clone().unwrap()));
    assert_eq!(ids[0][1], ids[0][2]);
}

#[test]
fn an_incremental_cursor_column_filters_record_batches() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = etl::pipeline("arrow_inc").dataset_name("arrow_data").working_dir(dir.path());
    let source = |batches: Vec<RecordBatch>| {
        let r = etl::Resource::from_batches("events", batches).with_incremental(etl::Incremental::new("updated_at")).with_primary_key(["Id"]);
        etl::Source::with("arrow_src", vec![r]).unwrap()
    };
    pipeline.run(source(vec![batch(0..100)])).unwrap();
    // The second run sees the old rows again and 50 new ones: only the new ones load.
    pipeline.run(source(vec![batch(0..150)])).unwrap();
    assert_eq!(pipeline.dataset().row_counts().unwrap()["events"], 150);
    let dup = pipeline.dataset().query("SELECT count(*) FROM (SELECT id FROM events GROUP BY id HAVING count(*) > 1)").fetchall().unwrap();
    assert_eq!(dup[0][0], Value::Int(0));
}

#[test]
fn columns_that_normalize_to_one_name_are_an_error_and_nothing_loads() {
    let dir = tempfile::tempdir().unwrap();
    let schema = Arc::new(Schema::new(vec![Field::new("Foo Bar", DataType::Int64, true), Field::new("foo_bar", DataType::Int64, true)]));
    let b = RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(vec![1])), Arc::new(Int64Array::from(vec![2]))]).unwrap();
    let pipeline = etl::pipeline("arrow_clash").dataset_name("arrow_data").working_dir(dir.path());
    let err = pipeline.run(events(vec![b])).unwrap_err().to_string();
    assert!(err.contains("`Foo Bar` and `foo_bar` both normalize to `foo_bar`"), "{err}");
}

#[test]
fn record_batches_load_into_postgres() {
    let pg = pg_or_skip!();
    let url = pg.create_database().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let pipeline = etl::pipeline("arrow_pg").dataset_name("arrow_data").destination(etl::postgres(&url)).working_dir(dir.path());
    pipeline.run(events(vec![batch(0..700)])).unwrap();
    check_loaded(&pipeline.dataset(), 700);
}

#[test]
fn parquet_files_are_read_as_record_batches() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    for (i, range) in [(0, 0..3000), (1, 3000..5000)] {
        let file = std::fs::File::create(data.join(format!("part{i}.parquet"))).unwrap();
        let b = batch(range);
        let mut w = parquet::arrow::ArrowWriter::try_new(file, b.schema(), None).unwrap();
        w.write(&b).unwrap();
        w.close().unwrap();
    }
    let resource = etl::sources::filesystem::FileSource::new(format!("{}/*.parquet", data.display())).resource("events");
    assert!(resource.is_arrow(), "a Parquet-only source yields record batches");
    let pipeline = etl::pipeline("parquet_arrow").dataset_name("arrow_data").working_dir(dir.path());
    pipeline.run(etl::Source::with("files", vec![resource]).unwrap()).unwrap();
    check_loaded(&pipeline.dataset(), 5000);
    // Unchanged files are not read again.
    let again = etl::sources::filesystem::FileSource::new(format!("{}/*.parquet", data.display())).resource("events");
    pipeline.run(etl::Source::with("files", vec![again]).unwrap()).unwrap();
    assert_eq!(pipeline.dataset().row_counts().unwrap()["events"], 5000);
}

#[test]
fn a_frozen_schema_contract_holds_for_record_batches() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = etl::pipeline("arrow_frozen").dataset_name("arrow_data").working_dir(dir.path());
    pipeline.run(events(vec![batch(0..10)])).unwrap();
    let wider = {
        let b = batch(10..20);
        let mut fields: Vec<Field> = b.schema().fields().iter().map(|f| f.as_ref().clone()).collect();
        fields.push(Field::new("extra", DataType::Int64, true));
        let mut columns = b.columns().to_vec();
        columns.push(Arc::new(Int64Array::from(vec![1; 10])));
        RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap()
    };
    let frozen = pipeline.clone().schema_contract(etl::SchemaContract::all(etl::ContractMode::Freeze));
    let err = frozen.run(events(vec![wider])).unwrap_err().to_string();
    assert!(err.contains("can't add column `extra` to table `events`"), "{err}");
    assert_eq!(pipeline.dataset().row_counts().unwrap()["events"], 10, "nothing of the failed run");
}
