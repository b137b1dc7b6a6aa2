#[etl::resource]
fn rows<T: Default + serde::Serialize + Send + 'static>() -> Vec<T> {
    vec![T::default()]
}

fn main() {}
