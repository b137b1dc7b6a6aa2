struct Api;

impl Api {
    #[etl::resource]
    fn rows(&self) -> Vec<i64> {
        vec![1]
    }
}

fn main() {}
