// A `#[config]` / `#[secret]` marker needs a plain name (the config key), in a resource as in a
// source: a pattern is not silently turned into an argument.
#[etl::resource]
fn pages(#[config] (first, last): (u32, u32), #[secret] _: String) -> Vec<u32> {
    (first..last).collect()
}

#[etl::source]
fn api(#[config] (a, b): (u32, u32)) -> etl::Source {
    pages((a, b), String::new())
}

fn main() {}
