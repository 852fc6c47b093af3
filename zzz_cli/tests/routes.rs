//! `zzz routes` against examples/hello: the real binary prints the app's route table
//! without starting its server.

use std::process::Command;

#[test]
fn zzz_routes_prints_the_table_like_phx_routes() {
    let out = Command::new(env!("CARGO_BIN_EXE_zzz"))
        .args(["routes", "--package", "hello"])
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        // The app would listen on this port if it started its server: it must not.
        .env("PORT", "1")
        .output()
        .expect("run zzz routes");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "zzz routes failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(stdout, zzz::router::format_routes(hello::HelloRouter::route_table()));
    let rows: Vec<Vec<&str>> = stdout.lines().map(|l| l.split_whitespace().collect()).collect();
    assert!(rows.contains(&vec!["user_path", "GET", "/users/:id", "show_user"]), "{stdout}");
    assert!(rows.contains(&vec!["api_slow_path", "GET", "/api/slow", "slow"]), "{stdout}");
}

#[test]
fn zzz_help_lists_the_commands() {
    let out = Command::new(env!("CARGO_BIN_EXE_zzz")).arg("--help").output().expect("run zzz --help");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    for command in ["new", "gen", "migrate", "rollback", "migrations", "db", "routes", "openapi"] {
        assert!(text.lines().any(|l| l.trim_start().starts_with(&format!("{command} "))), "{command} in\n{text}");
    }
    let out = Command::new(env!("CARGO_BIN_EXE_zzz")).args(["gen", "--help"]).output().expect("run zzz gen --help");
    let text = String::from_utf8_lossy(&out.stdout);
    for generator in ["migration", "model", "controller", "resource", "channel", "job"] {
        assert!(text.lines().any(|l| l.trim_start().starts_with(&format!("{generator} "))), "{generator} in\n{text}");
    }
}
