//! Every route of every protocol over real sockets: hits, misses, bad keys, oversized
//! and aborted uploads, concurrent writers, eviction, restart and the upstream layer.



use bytes::Bytes;
use cache::storage::{PACK_MAX, Policy, content_address, pack};
use crate::common::{TestServer, eventually, raw, sha256_hex};
use zzz::StatusCode;

const EMPTY_SHA: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

#[tokio::test]
async fn generic_put_get_head_delete() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(dir.path(), |_| {}).await;
    assert_eq!(s.get("/cache/abc123").await.status, StatusCode::NOT_FOUND);
    let put = s.put("/cache/abc123", "gradle entry").await;
    assert_eq!(put.status, StatusCode::CREATED);
    let got = s.get("/cache/abc123").await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.body, "gradle entry");
    assert_eq!(got.header("content-type"), Some("application/octet-stream"));
    let head = s.send("HEAD", "/cache/abc123", &[], Bytes::new()).await;
    assert_eq!(head.status, StatusCode::OK);
    assert_eq!(head.header("content-length"), Some("12"));
    assert!(head.body.is_empty());
    // A nested key is namespaced by its first segment; overwriting is allowed.
    assert_eq!(s.put("/cache/proj/key", "v1").await.status, StatusCode::CREATED);
    assert_eq!(s.put("/cache/proj/key", "v2").await.status, StatusCode::CREATED);
    assert_eq!(s.get("/cache/proj/key").await.body, "v2");
    assert_eq!(s.send("DELETE", "/cache/abc123", &[], Bytes::new()).await.status, StatusCode::NO_CONTENT);
    assert_eq!(s.get("/cache/abc123").await.status, StatusCode::NOT_FOUND);
    assert_eq!(s.send("DELETE", "/cache/abc123", &[], Bytes::new()).await.status, StatusCode::NOT_FOUND);
    s.stop().await;
}

#[tokio::test]
async fn bad_keys_are_refused_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(dir.path(), |_| {}).await;
    let long = format!("/cache/{}", "k".repeat(600));
    let cases: Vec<(&str, &str, &str)> = vec![
        ("/cache/a/../b", "`..`", "generic dot segment"),
        ("/cache/a/%2e%2e/b", "`..`", "encoded dot segment"),
        ("/cache/a%2Fb", "encoded slash", "encoded slash"),
        ("/cache/a%5Cb", "encoded slash", "encoded backslash"),
        ("/cache/a%00b", "control character", "NUL"),
        (&long, "limit is 512", "over-long"),
        ("/cas/xyz", "64 hex digits", "bazel non-hex"),
        ("/ac/e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85g", "64 hex digits", "bazel one non-hex digit"),
        ("/v1/cache/12ab", "decimal digits", "nx non-decimal"),
        ("/v8/artifacts/not-hex!", "hex digits", "turbo non-hex"),
        ("/v8/artifacts/abcd?slug=a%2Fb", "team or instance", "turbo bad team"),
        ("/in%2Fst/ac/e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "team or instance", "bazel bad instance"),
    ];
    for (path, reason, what) in cases {
        for method in ["GET", "PUT"] {
            let reply = s.send(method, path, &[], "x").await;
            assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{what} ({method} {path}): {}", reply.text());
            assert!(reply.text().contains(reason), "{what}: {:?} should name {reason:?}", reply.text());
        }
    }
    // Nothing was stored by any of them.
    assert_eq!(s.cache.store.stats().entries, 0);
    s.stop().await;
}

#[tokio::test]
async fn bazel_ac_and_cas_with_and_without_instance() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(dir.path(), |_| {}).await;
    // The empty blob: a 0-byte PUT and GET.
    let empty = format!("/cas/{EMPTY_SHA}");
    assert_eq!(s.get(&empty).await.status, StatusCode::NOT_FOUND);
    assert_eq!(s.put(&empty, Bytes::new()).await.status, StatusCode::OK);
    let got = s.get(&empty).await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.header("content-length"), Some("0"));
    assert!(got.body.is_empty());
    // CAS content must hash to its key.
    let data = b"bazel output".to_vec();
    let sha = sha256_hex(&data);
    let mismatch = s.put(&format!("/cas/{EMPTY_SHA}"), data.clone()).await;
    assert_eq!(mismatch.status, StatusCode::BAD_REQUEST);
    assert!(mismatch.text().contains("not to its key"), "{}", mismatch.text());
    assert_eq!(s.put(&format!("/cas/{sha}"), data.clone()).await.status, StatusCode::OK);
    // Uppercase hex names the same blob.
    assert_eq!(s.get(&format!("/cas/{}", sha.to_uppercase())).await.body, data);
    // AC entries are any bytes under a sha256 key.
    let action = sha256_hex(b"action");
    assert_eq!(s.put(&format!("/ac/{action}"), "action result proto").await.status, StatusCode::OK);
    assert_eq!(s.get(&format!("/ac/{action}")).await.body, "action result proto");
    let head = s.send("HEAD", &format!("/ac/{action}"), &[], Bytes::new()).await;
    assert_eq!((head.status, head.header("content-length")), (StatusCode::OK, Some("19")));
    // An instance prefix is its own namespace.
    assert_eq!(s.get(&format!("/team1/ac/{action}")).await.status, StatusCode::NOT_FOUND);
    assert_eq!(s.put(&format!("/team1/ac/{action}"), "other").await.status, StatusCode::OK);
    assert_eq!(s.get(&format!("/team1/ac/{action}")).await.body, "other");
    assert_eq!(s.get(&format!("/ac/{action}")).await.body, "action result proto");
    assert_eq!(s.put(&format!("/team1/cas/{sha}"), data.clone()).await.status, StatusCode::OK);
    s.stop().await;
}

#[tokio::test]
async fn nx_put_is_200_and_overwrite_is_409() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(dir.path(), |_| {}).await;
    let path = "/v1/cache/2722010295980922451";
    assert_eq!(s.get(path).await.status, StatusCode::NOT_FOUND);
    assert_eq!(s.put(path, "tar.gz bytes").await.status, StatusCode::OK);
    let again = s.put(path, "other bytes").await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert!(again.text().contains("cannot be overwritten"));
    let got = s.get(path).await;
    assert_eq!((got.status, got.body.as_ref()), (StatusCode::OK, b"tar.gz bytes".as_ref()));
    s.stop().await;
}

#[tokio::test]
async fn turbo_artifacts_teams_tags_query_and_events() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(dir.path(), |_| {}).await;
    let status = s.get("/v8/artifacts/status?slug=acme").await;
    assert_eq!(status.json(), serde_json::json!({"status": "enabled"}));
    let path = "/v8/artifacts/0123456789abcdef?slug=acme";
    let miss = s.get(path).await;
    assert_eq!(miss.status, StatusCode::NOT_FOUND);
    assert_eq!(miss.json()["error"]["code"], "not_found");
    let put = s.send("PUT", path, &[("x-artifact-duration", "420"), ("x-artifact-tag", "c2lnbmF0dXJl"), ("content-type", "application/octet-stream")], "tarball").await;
    assert_eq!(put.status, StatusCode::ACCEPTED);
    assert_eq!(put.json()["urls"][0], "/v8/artifacts/0123456789abcdef");
    let hit = s.get(path).await;
    assert_eq!(hit.status, StatusCode::OK);
    assert_eq!(hit.body, "tarball");
    assert_eq!(hit.header("x-artifact-duration"), Some("420"));
    assert_eq!(hit.header("x-artifact-tag"), Some("c2lnbmF0dXJl"));
    let head = s.send("HEAD", path, &[], Bytes::new()).await;
    assert_eq!((head.status, head.header("x-artifact-tag")), (StatusCode::OK, Some("c2lnbmF0dXJl")));
    // Teams namespace entries: another slug, or a teamId, does not see it.
    assert_eq!(s.get("/v8/artifacts/0123456789abcdef?slug=other").await.status, StatusCode::NOT_FOUND);
    assert_eq!(s.get("/v8/artifacts/0123456789abcdef?teamId=team_123").await.status, StatusCode::NOT_FOUND);
    assert_eq!(s.put("/v8/artifacts/0123456789abcdef?teamId=team_123", "t").await.status, StatusCode::ACCEPTED);
    assert_eq!(s.get("/v8/artifacts/0123456789abcdef?teamId=team_123").await.body, "t");
    // Bad metadata is refused.
    let bad = s.send("PUT", path, &[("x-artifact-duration", "soon")], "x").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad.json()["error"]["code"], "bad_request");
    // Query several hashes.
    let query = s.send("POST", "/v8/artifacts?slug=acme", &[("content-type", "application/json")], r#"{"hashes":["0123456789abcdef","ffff"]}"#).await;
    assert_eq!(query.status, StatusCode::OK, "{}", query.text());
    let answer = query.json();
    assert_eq!(answer["0123456789abcdef"], serde_json::json!({"size": 7, "taskDurationMs": 420, "tag": "c2lnbmF0dXJl"}));
    assert!(answer["ffff"]["error"]["message"].is_string());
    let not_json = s.send("POST", "/v8/artifacts?slug=acme", &[], "{nope").await;
    assert_eq!(not_json.status, StatusCode::BAD_REQUEST);
    assert!(not_json.json()["error"]["message"].as_str().unwrap().contains("invalid JSON"));
    // Events.
    let events = r#"[{"sessionId":"s1","source":"REMOTE","event":"HIT","hash":"0123456789abcdef","duration":420},{"sessionId":"s1","source":"LOCAL","event":"MISS","hash":"ffff"}]"#;
    assert_eq!(s.send("POST", "/v8/artifacts/events?slug=acme", &[], events).await.status, StatusCode::OK);
    let bad_event = s.send("POST", "/v8/artifacts/events?slug=acme", &[], r#"[{"sessionId":"s","source":"CLOUD","event":"HIT","hash":"00"}]"#).await;
    assert_eq!(bad_event.status, StatusCode::BAD_REQUEST);
    // The JSON routes have a small body limit even though artifacts may be large.
    let huge = vec![b' '; cache::MAX_JSON_BODY + 1];
    assert_eq!(s.send("POST", "/v8/artifacts/events?slug=acme", &[], huge).await.status, StatusCode::PAYLOAD_TOO_LARGE);
    s.stop().await;
}

#[tokio::test]
async fn oversized_bodies_get_413_declared_or_chunked() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(dir.path(), |c| c.max_artifact_size = 1024).await;
    assert_eq!(s.put("/cache/ok", vec![1u8; 1024]).await.status, StatusCode::CREATED);
    for path in ["/cache/big", "/v1/cache/1", "/v8/artifacts/ab"] {
        assert_eq!(s.put(path, vec![1u8; 1025]).await.status, StatusCode::PAYLOAD_TOO_LARGE, "{path}");
    }
    // Chunked, no Content-Length: cut off while streaming.
    let chunk = "x".repeat(600);
    let request = format!("PUT /cache/chunked HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n258\r\n{chunk}\r\n258\r\n{chunk}\r\n0\r\n\r\n");
    let answer = raw(s.addr, request.as_bytes(), false).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("larger than the limit of 1024 bytes"), "{answer}");
    assert_eq!(s.get("/cache/chunked").await.status, StatusCode::NOT_FOUND);
    assert!(eventually(|| s.tmp_files() == 0).await, "no temporary file is left behind");
    s.stop().await;
}

#[tokio::test]
async fn an_aborted_upload_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(dir.path(), |_| {}).await;
    // Larger than the in-memory threshold, so it streams to a temporary file.
    let declared = 4 * 1024 * 1024;
    let mut request = format!("PUT /cache/aborted HTTP/1.1\r\nhost: x\r\ncontent-length: {declared}\r\n\r\n").into_bytes();
    request.extend(std::iter::repeat_n(b'a', 2 * 1024 * 1024 + 100));
    raw(s.addr, &request, true).await;
    assert!(eventually(|| s.tmp_files() == 0).await, "the partial upload was removed");
    assert_eq!(s.get("/cache/aborted").await.status, StatusCode::NOT_FOUND);
    assert_eq!(s.blob_files(), 0);
    // The server is fine afterwards.
    assert_eq!(s.put("/cache/after", "ok").await.status, StatusCode::CREATED);
    s.stop().await;
}

#[tokio::test]
async fn concurrent_writers_of_one_key_leave_one_whole_artifact() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(dir.path(), |_| {}).await;
    let bodies: Vec<Vec<u8>> = (0..8u8).map(|i| vec![i; 1536 * 1024]).collect();
    let mut tasks = Vec::new();
    for body in bodies.clone() {
        let addr = s.addr;
        tasks.push(tokio::spawn(async move { crate::common::send(addr, "PUT", "/cache/shared", &[], body).await.status }));
    }
    // Readers racing the writers see a miss or one complete body, never a partial one.
    for _ in 0..20 {
        let got = s.get("/cache/shared").await;
        if got.status == StatusCode::OK {
            assert!(bodies.iter().any(|b| b.as_slice() == got.body.as_ref()), "a reader saw a partial artifact");
        }
    }
    for task in tasks {
        assert_eq!(task.await.unwrap(), StatusCode::CREATED);
    }
    let got = s.get("/cache/shared").await;
    assert!(bodies.iter().any(|b| b.as_slice() == got.body.as_ref()));
    assert_eq!(s.cache.store.stats().entries, 1);
    assert_eq!(s.blob_files(), 1, "replaced contents are deleted");
    assert_eq!(s.tmp_files(), 0);
    s.stop().await;
}

#[tokio::test]
async fn large_artifacts_stream_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(dir.path(), |_| {}).await;
    let data: Vec<u8> = (0..(24 * 1024 * 1024u32)).map(|i| (i % 251) as u8).collect();
    let sha = sha256_hex(&data);
    assert_eq!(s.put(&format!("/cas/{sha}"), data.clone()).await.status, StatusCode::OK);
    let got = s.get(&format!("/cas/{sha}")).await;
    assert_eq!(got.header("content-length"), Some("25165824"));
    assert!(got.body == data, "the 24 MiB artifact comes back intact");
    s.stop().await;
}

#[tokio::test]
async fn eviction_keeps_the_store_under_its_cap() {
    for (policy, expect_gone) in [(Policy::Lru, "/cache/b"), (Policy::Lfu, "/cache/b")] {
        let dir = tempfile::tempdir().unwrap();
        let s = TestServer::start(dir.path(), |c| {
            c.max_size = 10_000;
            c.policy = policy;
        })
        .await;
        assert_eq!(s.put("/cache/a", vec![1u8; 3000]).await.status, StatusCode::CREATED);
        assert_eq!(s.put("/cache/b", vec![2u8; 3000]).await.status, StatusCode::CREATED);
        assert_eq!(s.put("/cache/c", vec![3u8; 3000]).await.status, StatusCode::CREATED);
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        // `a` is read (recently and more often than `b`), so `b` goes first.
        assert_eq!(s.get("/cache/a").await.status, StatusCode::OK);
        assert_eq!(s.get("/cache/c").await.status, StatusCode::OK);
        assert_eq!(s.put("/cache/d", vec![4u8; 3000]).await.status, StatusCode::CREATED);
        assert_eq!(s.get(expect_gone).await.status, StatusCode::NOT_FOUND, "{policy:?}");
        assert_eq!(s.get("/cache/a").await.status, StatusCode::OK, "{policy:?}");
        assert_eq!(s.get("/cache/d").await.status, StatusCode::OK, "{policy:?}");
        let stats = s.cache.store.stats();
        assert!(stats.bytes <= 10_000 && stats.evictions >= 1, "{stats:?}");
        assert!(s.get("/metrics").await.text().contains("cache_evictions_total 1"));
        s.stop().await;
    }
}

#[tokio::test]
async fn ttl_policy_expires_old_entries() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(dir.path(), |c| c.policy = Policy::Ttl(std::time::Duration::from_millis(300))).await;
    assert_eq!(s.put("/cache/short", "lived").await.status, StatusCode::CREATED);
    assert_eq!(s.get("/cache/short").await.status, StatusCode::OK);
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    s.cache.store.expire();
    assert_eq!(s.get("/cache/short").await.status, StatusCode::NOT_FOUND);
    s.stop().await;
}

#[tokio::test]
async fn every_artifact_survives_a_restart_with_its_statistics() {
    let dir = tempfile::tempdir().unwrap();
    let big: Vec<u8> = (0..(3 * 1024 * 1024u32)).map(|i| (i % 7) as u8).collect();
    let big_sha = sha256_hex(&big);
    let paths = [
        ("/cache/proj/k1".to_owned(), Bytes::from_static(b"generic")),
        (format!("/cas/{EMPTY_SHA}"), Bytes::new()),
        (format!("/cas/{big_sha}"), Bytes::from(big.clone())),
        ("/v1/cache/42".to_owned(), Bytes::from_static(b"nx")),
        ("/v8/artifacts/abcdef?slug=t".to_owned(), Bytes::from_static(b"turbo")),
    ];
    {
        let s = TestServer::start(dir.path(), |_| {}).await;
        for (path, body) in &paths {
            assert!(s.put(path, body.clone()).await.status.is_success(), "{path}");
        }
        assert_eq!(s.send("PUT", "/v8/artifacts/abcdef?slug=t", &[("x-artifact-tag", "tag1")], "turbo").await.status, StatusCode::ACCEPTED);
        for _ in 0..3 {
            assert_eq!(s.get("/cache/proj/k1").await.status, StatusCode::OK);
        }
        s.stop().await;
    }
    let s = TestServer::start(dir.path(), |_| {}).await;
    for (path, body) in &paths {
        let got = s.get(path).await;
        assert_eq!(got.status, StatusCode::OK, "{path} after restart");
        assert!(got.body == *body, "{path} after restart");
    }
    assert_eq!(s.get("/v8/artifacts/abcdef?slug=t").await.header("x-artifact-tag"), Some("tag1"));
    let entry = s.cache.store.peek("generic/proj/proj/k1").expect("the entry");
    assert_eq!(entry.hits, 4, "three reads before the restart and one after");
    assert_eq!(s.cache.store.stats().entries, 5);
    s.stop().await;
}

#[tokio::test]
async fn a_restart_drops_entries_whose_files_are_gone_and_files_without_entries() {
    let big = |b: u8| vec![b; PACK_MAX as usize + 100];
    let dir = tempfile::tempdir().unwrap();
    {
        let s = TestServer::start(dir.path(), |_| {}).await;
        assert_eq!(s.put("/cache/keep", big(b'k')).await.status, StatusCode::CREATED);
        assert_eq!(s.put("/cache/lose", big(b'l')).await.status, StatusCode::CREATED);
        // Packed: the first survives, the second's record is cut off below.
        assert_eq!(s.put("/cache/small-keep", "small keep").await.status, StatusCode::CREATED);
        assert_eq!(s.put("/cache/small-torn", "small torn").await.status, StatusCode::CREATED);
        s.stop().await;
    }
    let pack = dir.path().join("packs").join(&pack_files(dir.path())[0]);
    let len = std::fs::metadata(&pack).unwrap().len();
    std::fs::OpenOptions::new().write(true).open(&pack).unwrap().set_len(len - 3).unwrap();
    let lost = content_address(&big(b'l'));
    std::fs::remove_file(dir.path().join("blobs").join(&lost[..2]).join(&lost[2..4]).join(&lost)).unwrap();
    let stray = dir.path().join("blobs/ff/ff/ffff0000");
    std::fs::create_dir_all(stray.parent().unwrap()).unwrap();
    std::fs::write(&stray, "stray").unwrap();
    // A torn last journal line (a crash mid-write) is skipped.
    let mut journal = std::fs::OpenOptions::new().append(true).open(dir.path().join("index.journal")).unwrap();
    std::io::Write::write_all(&mut journal, b"{\"op\":\"put\",\"k\":\"gen").unwrap();
    drop(journal);
    let s = TestServer::start(dir.path(), |_| {}).await;
    assert!(s.get("/cache/keep").await.body == big(b'k'));
    assert_eq!(s.get("/cache/lose").await.status, StatusCode::NOT_FOUND);
    assert_eq!(s.get("/cache/small-keep").await.body, "small keep");
    assert_eq!(s.get("/cache/small-torn").await.status, StatusCode::NOT_FOUND);
    assert!(!stray.exists());
    s.stop().await;
}

#[tokio::test]
async fn an_edge_cache_fills_from_upstream_and_writes_through() {
    let origin_dir = tempfile::tempdir().unwrap();
    let edge_dir = tempfile::tempdir().unwrap();
    let origin = TestServer::start(origin_dir.path(), |_| {}).await;
    let upstream = origin.url();
    let edge = TestServer::start(edge_dir.path(), |c| c.upstream = Some(upstream)).await;
    // Written at the origin, read at the edge: fetched, stored, served (headers too).
    assert_eq!(origin.send("PUT", "/v8/artifacts/aaaa?slug=t", &[("x-artifact-tag", "sig")], "from origin").await.status, StatusCode::ACCEPTED);
    let got = edge.get("/v8/artifacts/aaaa?slug=t").await;
    assert_eq!((got.status, got.body.as_ref()), (StatusCode::OK, b"from origin".as_ref()));
    assert_eq!(got.header("x-artifact-tag"), Some("sig"));
    assert!(edge.cache.store.peek("turbo/t/aaaa").is_some(), "stored at the edge");
    // A HEAD for something only the origin has asks the origin, and downloads nothing.
    assert_eq!(origin.put("/cache/big-at-origin", vec![9u8; 300_000]).await.status, StatusCode::CREATED);
    let entries = edge.cache.store.stats().entries;
    let head = edge.send("HEAD", "/cache/big-at-origin", &[], Bytes::new()).await;
    assert_eq!((head.status, head.header("content-length")), (StatusCode::OK, Some("300000")));
    assert!(head.body.is_empty());
    assert_eq!(edge.cache.store.stats().entries, entries, "a HEAD must not fill the edge");
    assert_eq!(edge.send("HEAD", "/cache/at-neither", &[], Bytes::new()).await.status, StatusCode::NOT_FOUND);
    // Written at the edge: goes through to the origin.
    assert_eq!(edge.put("/v1/cache/77", "from edge").await.status, StatusCode::OK);
    assert_eq!(origin.get("/v1/cache/77").await.body, "from edge");
    // A miss on both is a miss.
    assert_eq!(edge.get("/cache/nowhere").await.status, StatusCode::NOT_FOUND);
    // With the origin gone, the edge still serves what it holds.
    origin.stop().await;
    assert_eq!(edge.get("/v8/artifacts/aaaa?slug=t").await.body, "from origin");
    assert_eq!(edge.get("/cache/nowhere").await.status, StatusCode::NOT_FOUND);
    assert!(edge.get("/metrics").await.text().contains("cache_upstream_fetches_total 1"));
    edge.stop().await;
}

#[tokio::test]
async fn operations_endpoints() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(dir.path(), |_| {}).await;
    assert_eq!(s.get("/health").await.text(), "ok\n");
    assert_eq!(s.get("/ready").await.status, StatusCode::OK);
    assert_eq!(s.put("/cache/%3Cscript%3E/k", "x").await.status, StatusCode::CREATED);
    assert_eq!(s.get("/cache/%3Cscript%3E/k").await.status, StatusCode::OK);
    assert_eq!(s.get("/cache/%3Cscript%3E/missing").await.status, StatusCode::NOT_FOUND);
    let metrics = s.get("/metrics").await;
    assert!(metrics.header("content-type").unwrap().starts_with("text/plain; version=0.0.4"));
    let text = metrics.text();
    for line in [
        "cache_hits_total{protocol=\"generic\"} 1",
        "cache_misses_total{protocol=\"generic\"} 1",
        "cache_puts_total{protocol=\"generic\"} 1",
        "cache_bytes_in_total{protocol=\"generic\"} 1",
        "cache_bytes_out_total{protocol=\"generic\"} 1",
        "cache_entries 1",
        "cache_size_bytes 1",
        "cache_request_duration_seconds_count{protocol=\"generic\"} 3",
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
    let page = s.get("/").await;
    assert!(page.header("content-type").unwrap().starts_with("text/html"));
    let html = page.text();
    assert!(html.contains("50.0%"), "{html}");
    assert!(html.contains("generic/&lt;script&gt;"), "namespace names are escaped: {html}");
    assert!(!html.contains("<script>"));
    s.stop().await;
}

#[tokio::test]
async fn identical_contents_share_one_file_until_the_last_key_goes() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(dir.path(), |_| {}).await;
    // Over PACK_MAX: a file of its own.
    let big = vec![7u8; PACK_MAX as usize + 1];
    assert_eq!(s.put("/cache/one", big.clone()).await.status, StatusCode::CREATED);
    assert_eq!(s.put("/v1/cache/9", big.clone()).await.status, StatusCode::OK);
    assert_eq!(s.blob_files(), 1);
    assert_eq!(s.cache.store.stats().bytes, big.len() as u64, "counted once against the cap");
    assert_eq!(s.send("DELETE", "/cache/one", &[], Bytes::new()).await.status, StatusCode::NO_CONTENT);
    assert!(s.get("/v1/cache/9").await.body == big);
    assert_eq!(s.blob_files(), 1);
    s.cache.store.delete("nx/default/9").unwrap();
    assert_eq!(s.blob_files(), 0);
    assert_eq!(s.cache.store.stats().bytes, 0);

    // Small: one pack record, shared the same way; its bytes become dead with the last key.
    assert_eq!(s.put("/cache/one", "same bytes").await.status, StatusCode::CREATED);
    assert_eq!(s.put("/v1/cache/9", "same bytes").await.status, StatusCode::OK);
    let stats = s.cache.store.stats();
    assert_eq!((stats.contents, stats.bytes, stats.packs, stats.dead_bytes), (1, 10, 1, 0), "{stats:?}");
    assert_eq!(s.blob_files(), 0, "small contents are packed, not a file each");
    assert_eq!(s.send("DELETE", "/cache/one", &[], Bytes::new()).await.status, StatusCode::NO_CONTENT);
    assert_eq!(s.get("/v1/cache/9").await.body, "same bytes");
    s.cache.store.delete("nx/default/9").unwrap();
    let stats = s.cache.store.stats();
    assert_eq!((stats.contents, stats.bytes, stats.dead_bytes), (0, 0, pack::HEADER + 10), "{stats:?}");
    s.stop().await;
}

#[tokio::test]
async fn small_artifacts_share_packs_that_are_compacted_when_half_dead() {
    let dir = tempfile::tempdir().unwrap();
    // Packs sealed at 256 KiB: 40 artifacts of 20 KiB fill several.
    let s = TestServer::start(dir.path(), |c| c.pack_size = 256 * 1024).await;
    let body = |i: usize| -> Vec<u8> { (0..20 * 1024).map(|j| (i * 31 + j) as u8).collect() };
    // One after another, so each is its own group: a group is written to one pack
    // whole, and concurrent uploads could all land in one (large) group.
    for i in 0..40 {
        assert_eq!(s.put(&format!("/cache/k{i}"), body(i)).await.status, StatusCode::CREATED);
    }
    let stats = s.cache.store.stats();
    assert!(stats.packs >= 3, "{stats:?}");
    assert_eq!(s.blob_files(), 0);
    let packs_before = pack_files(dir.path());
    // Delete three in four: every sealed pack is now mostly dead.
    for i in (0..40).filter(|i| i % 4 != 0) {
        assert_eq!(s.send("DELETE", &format!("/cache/k{i}"), &[], Bytes::new()).await.status, StatusCode::NO_CONTENT);
    }
    assert!(s.cache.store.stats().dead_bytes >= 30 * 20 * 1024);
    // Maintenance compacts them: the live records move, the old packs go.
    s.cache.store.flush().unwrap();
    assert!(
        eventually(|| {
            s.cache.store.flush().unwrap();
            let now = pack_files(dir.path());
            packs_before.iter().filter(|p| now.contains(p)).count() <= 1
        })
        .await,
        "half-dead sealed packs were not compacted: before {packs_before:?}, now {:?}",
        pack_files(dir.path())
    );
    for i in 0..40 {
        let got = s.get(&format!("/cache/k{i}")).await;
        if i % 4 == 0 {
            assert!(got.status == StatusCode::OK && got.body == body(i), "k{i} after compaction");
        } else {
            assert_eq!(got.status, StatusCode::NOT_FOUND);
        }
    }
    s.stop().await;
    // The moved records are where the journal says after a restart.
    let s = TestServer::start(dir.path(), |c| c.pack_size = 256 * 1024).await;
    for i in (0..40).step_by(4) {
        assert!(s.get(&format!("/cache/k{i}")).await.body == body(i), "k{i} after restart");
    }
    assert_eq!(s.cache.store.stats().entries, 10);
    s.stop().await;
}

fn pack_files(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.join("packs")).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

#[tokio::test]
async fn recently_read_contents_are_served_from_memory_until_their_last_key_goes() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(dir.path(), |c| c.memory_cache = 1 << 20).await;
    let body = vec![5u8; 100 * 1024];
    assert_eq!(s.put("/cache/hot", body.clone()).await.status, StatusCode::CREATED);
    assert_eq!(s.cache.store.stats().memory_cache_bytes, 0, "writes do not fill the memory cache");
    assert!(s.get("/cache/hot").await.body == body);
    assert_eq!(s.cache.store.stats().memory_cache_bytes, body.len() as u64);
    // The file is gone from disk, yet the content is still served: from memory.
    let address = content_address(&body);
    std::fs::remove_file(dir.path().join("blobs").join(&address[..2]).join(&address[2..4]).join(&address)).unwrap();
    assert!(s.get("/cache/hot").await.body == body);
    assert!(s.get("/metrics").await.text().contains(&format!("cache_memory_bytes {}", body.len())));
    assert_eq!(s.send("DELETE", "/cache/hot", &[], Bytes::new()).await.status, StatusCode::NO_CONTENT);
    assert_eq!(s.cache.store.stats().memory_cache_bytes, 0);
    assert_eq!(s.get("/cache/hot").await.status, StatusCode::NOT_FOUND);
    s.stop().await;
}
