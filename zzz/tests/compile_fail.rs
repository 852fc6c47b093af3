//! Router mistakes are compile errors with a span on the route: checked against the
//! snapshots in `tests/ui/*.stderr` (regenerate with `TRYBUILD=overwrite`).

#[test]
fn router_compile_errors() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
