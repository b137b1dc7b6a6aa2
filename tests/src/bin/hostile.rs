//! A test helper binary for the web UI: an asset whose key, group, log line and metadata carry
//! markup and script. The UI must show them as text: nothing of it may run in a browser.

#[etl::asset(key = "odd/<img src=x onerror=\"document.title='pwned'\">", group_name = "<script>document.title='pwned'</script>")]
fn hostile(context: &etl::AssetExecutionContext) -> etl::MaterializeResult {
    context.log("<script>document.title='pwned'</script>");
    etl::MaterializeResult::new()
        .with("note", etl::MetadataValue::Text("<img src=x onerror=\"document.title='pwned'\">".into()))
        .with("rows_loaded", etl::MetadataValue::Int(3))
}

fn main() -> std::process::ExitCode {
    etl::main()
}
