//! `cfg(loads)`: the load path (loader, spool, pipe graph, sinks) is compiled when the build has
//! a destination to load into (the `duckdb` or `postgres` feature).

fn main() {
    println!("cargo::rustc-check-cfg=cfg(loads)");
    if std::env::var_os("CARGO_FEATURE_DUCKDB").is_some() || std::env::var_os("CARGO_FEATURE_POSTGRES").is_some() {
        println!("cargo::rustc-cfg=loads");
    }
}
