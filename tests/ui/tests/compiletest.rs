//! The macros' compile errors, pinned: each `fail/*.rs` must fail with exactly its `.stderr`
//! (refresh with `TRYBUILD=overwrite`), and each `pass/*.rs` must build and run.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/fail/*.rs");
    t.pass("tests/pass/*.rs");
}
