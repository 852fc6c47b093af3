//! `ServerConfig` from environment variables, and the ways a `Server` gets its
//! listening socket (bind, std listener, `ZZZ_LISTEN_FD` hand-off).

mod server_support;

use std::collections::HashMap;
use std::time::Duration;

use server_support::*;
use zzz::server::{Server, ServerConfig};

fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    move |name| map.get(name).cloned()
}

#[test]
fn defaults_are_the_documented_safe_values() {
    let c = ServerConfig::from_vars(vars(&[])).unwrap();
    assert_eq!(c, ServerConfig::default());
    assert_eq!(c.addr, "127.0.0.1:4000".parse().unwrap());
    assert_eq!(c.max_header_bytes, 16 * 1024);
    assert_eq!(c.header_read_timeout, Duration::from_secs(10));
    assert_eq!(c.idle_timeout, Duration::from_secs(60));
    assert_eq!(c.max_connections, 10_000);
    assert_eq!(c.shutdown_grace, Duration::from_secs(30));
    assert!(c.http2);
}

#[test]
fn environment_overrides_every_setting() {
    let c = ServerConfig::from_vars(vars(&[
        ("PORT", "8080"),
        ("ZZZ_HOST", "::"),
        ("ZZZ_MAX_HEADER_BYTES", "32768"),
        ("ZZZ_HEADER_READ_TIMEOUT", "1500ms"),
        ("ZZZ_IDLE_TIMEOUT", "2m"),
        ("ZZZ_MAX_CONNECTIONS", "64"),
        ("ZZZ_SHUTDOWN_GRACE", "5"),
        ("ZZZ_HTTP2", "off"),
        ("ZZZ_UNRELATED", "ignored"),
    ]))
    .unwrap();
    assert_eq!(c.addr, "[::]:8080".parse().unwrap());
    assert_eq!(c.max_header_bytes, 32768);
    assert_eq!(c.header_read_timeout, Duration::from_millis(1500));
    assert_eq!(c.idle_timeout, Duration::from_secs(120));
    assert_eq!(c.max_connections, 64);
    assert_eq!(c.shutdown_grace, Duration::from_secs(5));
    assert!(!c.http2);
    // Empty values count as unset.
    assert_eq!(ServerConfig::from_vars(vars(&[("PORT", "")])).unwrap().addr.port(), 4000);
}

#[test]
fn bad_environment_values_are_named_in_the_error() {
    for (var, value) in [
        ("PORT", "80a"),
        ("PORT", "70000"),
        ("ZZZ_HOST", "localhost"),
        ("ZZZ_MAX_HEADER_BYTES", "16k"),
        ("ZZZ_HEADER_READ_TIMEOUT", "soon"),
        ("ZZZ_IDLE_TIMEOUT", "1h"),
        ("ZZZ_IDLE_TIMEOUT", "0s"),
        ("ZZZ_HEADER_READ_TIMEOUT", "0"),
        ("ZZZ_MAX_CONNECTIONS", "0"),
        ("ZZZ_SHUTDOWN_GRACE", "-3s"),
        ("ZZZ_HTTP2", "maybe"),
    ] {
        let err = ServerConfig::from_vars(vars(&[(var, value)])).expect_err(var);
        assert_eq!((err.var, err.value.as_str()), (var, value));
        let msg = err.to_string();
        assert!(msg.contains(var) && msg.contains(value) && msg.contains("expected"), "{msg}");
    }
}

#[tokio::test]
async fn bind_port_zero_reports_the_real_address() {
    let server = Server::bind("127.0.0.1:0".parse().unwrap(), ServerConfig::default()).unwrap();
    let addr = server.local_addr();
    assert_ne!(addr.port(), 0);
    // Binding the same address again fails with a message naming it.
    let err = Server::bind(addr, ServerConfig::default()).expect_err("port in use");
    assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse);
    assert!(err.to_string().contains(&addr.to_string()), "{err}");
    let running = run(server, App::default());
    assert_eq!(get(addr, "/").await.status, 200);
    running.stop().await;
}

#[tokio::test]
async fn serves_on_a_std_listener_and_on_a_handed_over_fd() {
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let server = Server::from_std_listener(std_listener, ServerConfig::default()).unwrap();
    let running = run(server, App::default());
    assert_eq!(get(running.addr, "/").await.body_str(), "hello");
    running.stop().await;

    #[cfg(unix)]
    {
        use std::os::fd::IntoRawFd;
        // Not a number: a clear error, nothing bound.
        // SAFETY (edition 2024 `set_var`): this is the only test in this binary
        // touching the environment, and nothing else here reads ZZZ_LISTEN_FD.
        unsafe { std::env::set_var(zzz::server::LISTEN_FD_VAR, "three") };
        let err = Server::from_env_or_bind(ServerConfig::default()).expect_err("bad fd");
        assert!(err.to_string().contains("ZZZ_LISTEN_FD"), "{err}");

        // A descriptor that is not a socket is refused and left open.
        let file = std::fs::File::open("/dev/null").unwrap();
        let file_fd = file.into_raw_fd();
        unsafe { std::env::set_var(zzz::server::LISTEN_FD_VAR, file_fd.to_string()) };
        let err = Server::from_env_or_bind(ServerConfig::default()).expect_err("not a socket");
        assert!(err.to_string().contains("not one"), "{err}");
        // Still ours to close: taking it back succeeds and reads like /dev/null.
        let mut file = unsafe { <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(file_fd) };
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut file, &mut buf).expect("descriptor was closed by the failed hand-off");

        // A real listening socket, as a supervisor would pass it.
        let supervisor_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = supervisor_listener.local_addr().unwrap();
        let fd = supervisor_listener.into_raw_fd();
        unsafe { std::env::set_var(zzz::server::LISTEN_FD_VAR, fd.to_string()) };
        // config.addr is ignored when a descriptor is handed over.
        let server = Server::from_env_or_bind(ServerConfig::default()).unwrap();
        unsafe { std::env::remove_var(zzz::server::LISTEN_FD_VAR) };
        assert_eq!(server.local_addr(), addr);
        let running = run(server, App::default());
        assert_eq!(get(addr, "/").await.body_str(), "hello");
        running.stop().await;
    }
}
