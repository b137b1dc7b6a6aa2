//! A test helper binary that registers no assets: its CLI warns about the empty registry.

fn main() -> std::process::ExitCode {
    etl::main()
}
