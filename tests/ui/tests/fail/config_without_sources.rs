// This crate uses etl without its `sources` feature: `#[config]` is one compile error, on the
// marker, saying which feature to enable.
#[etl::source]
fn api(#[config] base_url: String, #[secret] token: Option<String>) -> etl::Source {
    #[etl::resource]
    fn ping(url: String, token: Option<String>) -> Vec<serde_json::Value> {
        vec![serde_json::json!({"url": url, "token": token.is_some()})]
    }
    ping(base_url, token)
}

fn main() {
    let _ = api();
}
