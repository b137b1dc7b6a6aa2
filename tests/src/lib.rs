//! Helpers shared by the end-to-end tests in `it/`.

use std::path::{Path, PathBuf};

/// Columns of a table as `(name, DuckDB type, nullable)`, in table order.
pub fn columns(db: &Path, schema: &str, table: &str) -> Vec<(String, String, bool)> {
    let sql = format!(
        "SELECT column_name, data_type, is_nullable FROM information_schema.columns \
         WHERE table_schema = '{schema}' AND table_name = '{table}' ORDER BY ordinal_position"
    );
    etl::testing::query_file(db, &sql)
        .expect("query columns")
        .into_iter()
        .map(|r| (s(&r[0]), s(&r[1]), s(&r[2]) == "YES"))
        .collect()
}

/// Tables of a DuckDB schema, sorted.
pub fn tables(db: &Path, schema: &str) -> Vec<String> {
    let sql = format!("SELECT table_name FROM information_schema.tables WHERE table_schema = '{schema}' ORDER BY table_name");
    etl::testing::query_file(db, &sql).expect("query tables").into_iter().map(|r| s(&r[0])).collect()
}

/// One scalar of a query.
pub fn scalar(db: &Path, sql: &str) -> serde_json::Value {
    etl::testing::query_file(db, sql).expect("query").remove(0).remove(0)
}

/// A JSON string value as `String`.
pub fn s(v: &serde_json::Value) -> String {
    v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string())
}

/// The built example binary `name` (cargo builds examples with the tests, in the same profile).
pub fn example_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test exe path");
    // target/<profile>/deps/it-<hash> -> target/<profile>/examples/<name>
    let profile_dir = exe.parent().and_then(Path::parent).expect("target profile dir");
    let path = profile_dir.join("examples").join(name);
    assert!(path.exists(), "example binary {} not built; run the tests with `cargo test --release --workspace`", path.display());
    path
}

/// Appends `<what> <pid> <unix µs> <run id>` to `<working dir>/spans.txt`: the helper binaries `pooled`
/// and `marked` record when their asset runs, so a test can count the runs in progress at once.
pub fn mark_span(context: &etl::AssetExecutionContext, what: &str) -> Result<(), etl::AssetError> {
    use std::io::Write;
    let path = context.working_dir().join("spans.txt");
    let micros = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_micros()).unwrap_or(0);
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|e| etl::AssetError::msg(format!("cannot open {}: {e}", path.display())))?;
    file.write_all(format!("{what} {} {micros} {}\n", std::process::id(), context.run_id()).as_bytes())
        .map_err(|e| etl::AssetError::msg(format!("cannot write {}: {e}", path.display())))
}
