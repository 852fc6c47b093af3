//! `zzz openapi` against examples/hello: the real binary writes the same spec the
//! app serves, without starting the server.

use std::process::Command;

use zzz::openapi::DocumentedRouter;

#[test]
fn zzz_openapi_writes_the_spec_without_starting_the_server() {
    let out_file = std::env::temp_dir().join(format!("{}-exported.json", std::process::id()));
    let status = Command::new(env!("CARGO_BIN_EXE_zzz"))
        .args(["openapi", "--package", "hello", "--output"])
        .arg(&out_file)
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        // The app would listen on this port if it started its server: it must not.
        .env("PORT", "1")
        .status()
        .expect("run zzz openapi");
    assert!(status.success());
    let written = std::fs::read(&out_file).expect("the spec file");
    let _ = std::fs::remove_file(&out_file);
    assert_eq!(written.as_slice(), <hello::HelloRouter as DocumentedRouter>::openapi_json().as_ref());
}
