//! HTTPS in `zzz::server`: self-signed certificates, ALPN h2 and http/1.1,
//! handshake failures and timeouts, and certificate loading errors.
#![cfg(feature = "tls")]

mod server_support;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use server_support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore, pki_types::ServerName};
use zzz::server::{SelfSignedCert, Server, ServerConfig, TlsConfig};

/// A TLS client trusting exactly `tls`'s certificates, offering `alpn`.
fn connector(tls: &TlsConfig, alpn: &[&[u8]]) -> TlsConnector {
    let mut roots = RootCertStore::empty();
    for cert in tls.certificates() {
        roots.add(cert.clone()).unwrap();
    }
    let mut config = ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    TlsConnector::from(Arc::new(config))
}

fn start_tls(config: ServerConfig, tls: TlsConfig) -> Running {
    let server = Server::bind("127.0.0.1:0".parse().unwrap(), config).unwrap().tls(tls);
    run(server, App::default())
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("zzz-server-tls-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[tokio::test]
async fn tls_with_self_signed_cert_negotiates_h2_via_alpn() {
    let tls = TlsConfig::self_signed(&["localhost"]).unwrap();
    let server = start_tls(ServerConfig::default(), tls.clone());
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let local = tcp.local_addr().unwrap();
    let stream = connector(&tls, &[b"h2", b"http/1.1"])
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .expect("TLS handshake with the self-signed certificate");
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));

    let (mut send, _driver) = h2_client(stream).await;
    let (status, version, body) = h2_get(&mut send, &format!("https://localhost:{}/info", server.addr.port())).await;
    assert_eq!(status, 200);
    assert_eq!(version, http::Version::HTTP_2);
    assert_eq!(body, format!("peer={local} local={} tls=true version=HTTP/2.0", server.addr));
    server.stop().await;
}

#[tokio::test]
async fn tls_http11_client_is_served_over_alpn_http11() {
    let tls = TlsConfig::self_signed(&["localhost", "127.0.0.1"]).unwrap();
    let server = start_tls(ServerConfig::default(), tls.clone());
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let mut stream = connector(&tls, &[b"http/1.1"])
        .connect(ServerName::try_from("127.0.0.1").unwrap(), tcp)
        .await
        .unwrap();
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    stream.write_all(b"GET /info HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(BOUND, stream.read_to_end(&mut out)).await.unwrap().ok();
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.contains("tls=true version=HTTP/1.1"), "{text}");
    server.stop().await;
}

#[tokio::test]
async fn with_http2_off_alpn_offers_only_http11() {
    let tls = TlsConfig::self_signed(&["localhost"]).unwrap();
    let server = start_tls(ServerConfig::default().http2(false), tls.clone());
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let stream = connector(&tls, &[b"h2", b"http/1.1"])
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    server.stop().await;
}

#[tokio::test]
async fn failed_and_stalled_handshakes_do_not_stop_the_server() {
    let tls = TlsConfig::self_signed(&["localhost"]).unwrap();
    let server = start_tls(ServerConfig::default().header_read_timeout(Duration::from_millis(500)), tls.clone());

    // Plain HTTP on the TLS port: the handshake fails and the connection closes.
    let mut plain = TcpStream::connect(server.addr).await.unwrap();
    plain.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").await.unwrap();
    let answer = wait_closed(&mut plain, BOUND).await.expect("plaintext client left connected");
    assert!(!String::from_utf8_lossy(&answer).contains("200"), "plaintext request was served");

    // A client that does not trust the certificate gives up; nothing breaks.
    let other = TlsConfig::self_signed(&["localhost"]).unwrap();
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let err = connector(&other, &[b"h2"]).connect(ServerName::try_from("localhost").unwrap(), tcp).await;
    assert!(err.is_err(), "a client trusting another certificate completed the handshake");

    // A client that connects and never starts the handshake is dropped.
    let mut silent = TcpStream::connect(server.addr).await.unwrap();
    wait_closed(&mut silent, BOUND).await.expect("silent TLS client left connected");

    // A well-behaved client is still served.
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let stream = connector(&tls, &[b"h2"]).connect(ServerName::try_from("localhost").unwrap(), tcp).await.unwrap();
    let (mut send, _driver) = h2_client(stream).await;
    let (status, _, body) = h2_get(&mut send, &format!("https://localhost:{}/", server.addr.port())).await;
    assert_eq!((status.as_u16(), body.as_str()), (200, "hello"));
    server.stop().await;
}

#[tokio::test]
async fn pem_files_written_by_self_signed_cert_load_and_serve() {
    let dir = temp_dir("roundtrip");
    let cert = SelfSignedCert::generate(&["localhost"]).unwrap();
    let (cert_file, key_file) = cert.write_pem_files(dir.join("priv/cert")).unwrap();
    assert_eq!(cert_file, dir.join("priv/cert/cert.pem"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "private key readable by others: {mode:o}");
    }
    let tls = TlsConfig::from_pem_files(&cert_file, &key_file).unwrap();
    assert_eq!(tls.certificates().len(), 1);

    let server = start_tls(ServerConfig::default(), tls.clone());
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let stream = connector(&tls, &[b"h2"]).connect(ServerName::try_from("localhost").unwrap(), tcp).await.unwrap();
    let (mut send, _driver) = h2_client(stream).await;
    let (status, _, _) = h2_get(&mut send, &format!("https://localhost:{}/", server.addr.port())).await;
    assert_eq!(status, 200);
    server.stop().await;
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn pem_loading_errors_name_the_file_and_the_problem() {
    let dir = temp_dir("errors");
    let a = SelfSignedCert::generate(&["localhost"]).unwrap();
    let b = SelfSignedCert::generate(&["localhost"]).unwrap();
    let (cert_a, key_a) = a.write_pem_files(dir.join("a")).unwrap();
    let (_, key_b) = b.write_pem_files(dir.join("b")).unwrap();
    let missing = dir.join("missing.pem");
    let garbage = dir.join("garbage.pem");
    std::fs::write(&garbage, "this is not PEM at all\n").unwrap();

    let msg = |r: Result<TlsConfig, zzz::server::TlsError>| r.expect_err("expected an error").to_string();

    let m = msg(TlsConfig::from_pem_files(&missing, &key_a));
    assert!(m.contains(&missing.display().to_string()) && m.contains("cannot read the certificate"), "{m}");

    let m = msg(TlsConfig::from_pem_files(&cert_a, &missing));
    assert!(m.contains(&missing.display().to_string()) && m.contains("cannot read the private key"), "{m}");

    let m = msg(TlsConfig::from_pem_files(&garbage, &key_a));
    assert!(m.contains(&garbage.display().to_string()) && m.contains("no certificate found"), "{m}");

    // A certificate file given as the key: it holds no private key.
    let m = msg(TlsConfig::from_pem_files(&cert_a, &cert_a));
    assert!(m.contains(&cert_a.display().to_string()) && m.contains("no private key found"), "{m}");

    let m = msg(TlsConfig::from_pem_files(&cert_a, &key_b));
    assert!(m.contains(&key_b.display().to_string()) && m.contains("does not match the certificate"), "{m}");

    let e = SelfSignedCert::generate(&[]).expect_err("no names");
    assert!(e.to_string().contains("at least one name"), "{e}");

    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn dev_certificate_is_created_once_then_reused() {
    let dir = temp_dir("dev-cert");
    let first = TlsConfig::load_or_create_self_signed(&dir, &["localhost"]).unwrap();
    assert!(dir.join("cert.pem").is_file() && dir.join("key.pem").is_file());
    let second = TlsConfig::load_or_create_self_signed(&dir, &["localhost"]).unwrap();
    assert_eq!(first.certificates(), second.certificates(), "a new certificate was generated instead of reusing the files");
    // A broken file in the directory is reported, not silently replaced.
    std::fs::write(dir.join("key.pem"), "garbage").unwrap();
    let err = TlsConfig::load_or_create_self_signed(&dir, &["localhost"]).expect_err("broken key");
    assert!(err.to_string().contains("key.pem"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}
