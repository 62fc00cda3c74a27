//! Hostile requests (../shared/reference/hostile-plan.md), sent on raw sockets: each is refused
//! with the right status, and the backend never sees it.

use std::time::Duration;

use rampart_testkit::Backend;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{app_config, app_service, TestGateway, G0};

/// Sends `raw` and reads until the gateway closes or 2 s pass; returns what came back.
async fn exchange(gw: &TestGateway, raw: &[u8]) -> String {
    let mut s = TcpStream::connect(gw.addr).await.unwrap();
    s.write_all(raw).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(2), s.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

async fn gateway() -> (Backend, TestGateway) {
    let be = Backend::start("app").await;
    let yaml = app_config(be.port());
    let gw = TestGateway::start(&yaml).await;
    (be, gw)
}

#[tokio::test]
async fn hd04_header_names_with_underscores_are_refused() {
    let (be, gw) = gateway().await;
    for raw in [
        "GET / HTTP/1.1\r\nHost: a\r\nX_Api_Key: k\r\nConnection: close\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nx_forwarded_for: 1.2.3.4\r\nConnection: close\r\n\r\n",
    ] {
        let resp = exchange(&gw, raw.as_bytes()).await;
        assert!(resp.starts_with("HTTP/1.1 400"), "{resp}");
    }
    assert_eq!(be.count(), 0, "the backend never sees them");
    let metrics = gw.admin("/stats/prometheus").await.body;
    assert!(metrics.contains("rampart_downstream_rejected_total{reason=\"header_underscore\"} 2"));
}

#[tokio::test]
async fn hd07_envoy_control_headers_from_clients_are_stripped() {
    let (be, gw) = gateway().await;
    let raw = "GET / HTTP/1.1\r\nHost: a\r\nx-envoy-upstream-rq-timeout-ms: 1\r\nx-envoy-retry-on: 5xx\r\nx-envoy-original-path: /admin\r\nConnection: close\r\n\r\n";
    let resp = exchange(&gw, raw.as_bytes()).await;
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    let seen = be.requests().pop().unwrap();
    assert!(
        seen.headers
            .keys()
            .all(|k| !k.as_str().starts_with("x-envoy-")),
        "{:?}",
        seen.headers
    );
}

#[tokio::test]
async fn hd09_oversized_heads_get_431() {
    let (be, gw) = gateway().await;
    let big = format!(
        "GET / HTTP/1.1\r\nHost: a\r\nX-Big: {}\r\nConnection: close\r\n\r\n",
        "a".repeat(100 * 1024)
    );
    let resp = exchange(&gw, big.as_bytes()).await;
    assert!(
        resp.starts_with("HTTP/1.1 431"),
        "{}",
        &resp[..resp.len().min(200)]
    );
    let mut many = String::from("GET / HTTP/1.1\r\nHost: a\r\n");
    for i in 0..150 {
        many.push_str(&format!("X-H{i}: v\r\n"));
    }
    many.push_str("Connection: close\r\n\r\n");
    let resp = exchange(&gw, many.as_bytes()).await;
    assert!(resp.starts_with("HTTP/1.1 431"), "{resp}");
    // HD-10: 10 000 tiny fields.
    let mut flood = String::from("GET / HTTP/1.1\r\nHost: a\r\n");
    for _ in 0..10_000 {
        flood.push_str("A: b\r\n");
    }
    flood.push_str("\r\n");
    let (resp, closed) = exchange_keepalive(&gw, flood.as_bytes()).await;
    assert!(resp.starts_with("HTTP/1.1 431") && closed, "{resp}");
    assert_eq!(be.count(), 0);
    // Just under the limits is fine.
    let ok = format!(
        "GET / HTTP/1.1\r\nHost: a\r\nX-Big: {}\r\nConnection: close\r\n\r\n",
        "a".repeat(50 * 1024)
    );
    assert!(exchange(&gw, ok.as_bytes())
        .await
        .starts_with("HTTP/1.1 200"));
}

/// What a hostile case must get.
enum Want {
    /// This status, the connection closed, nothing forwarded.
    Refused(&'static str),
    /// Served with 200 (must not be falsely refused).
    Served,
    /// Never a second request on the connection (checked for all cases: no `/smuggled`).
    NoSmuggling,
    /// The head was forwarded before the body went bad: this status and a close for the
    /// client, and the upstream never gets a complete request.
    Aborted(&'static str),
}

/// Status line and whether the gateway closed the connection (EOF within 2 s).
async fn exchange_keepalive(gw: &TestGateway, raw: &[u8]) -> (String, bool) {
    let mut s = TcpStream::connect(gw.addr).await.unwrap();
    s.write_all(raw).await.unwrap();
    let mut out = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(2), s.read_to_end(&mut out))
        .await
        .is_ok();
    let text = String::from_utf8_lossy(&out).into_owned();
    (text, closed)
}

#[tokio::test]
async fn h1_framing_and_smuggling_cases() {
    use Want::*;
    let cases: Vec<(&str, String, Want)> = vec![
        // CL beside TE: hyper would frame by TE alone; Rampart refuses the head, as Envoy.
        ("H1-01 CL.TE", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n".into(), Refused("400")),
        ("H1-03 differing CL", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello".into(), Refused("400")),
        ("H1-05 CL +5", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\nhello".into(), Refused("400")),
        ("H1-05 CL -1", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\nhello".into(), Refused("400")),
        ("H1-05 CL 0x5", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x5\r\n\r\nhello".into(), Refused("400")),
        ("H1-05 CL 5 5", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5 5\r\n\r\nhello".into(), Refused("400")),
        ("H1-05 CL 5a", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5a\r\n\r\nhello".into(), Refused("400")),
        ("H1-05 CL overflow", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\nhello".into(), Refused("400")),
        // Envoy answers 501; hyper's parser refuses it first, with 400.
        ("H1-06 unknown coding", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n".into(), Refused("501")),
        ("H1-06 gzip only", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\nhello".into(), Refused("501")),
        ("H1-07 chunked not last", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: x\r\n\r\n5\r\nhello\r\n0\r\n\r\n".into(), Refused("400")),
        ("H1-08 CHUNKED", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: CHUNKED\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n".into(), Served),
        ("H1-09 obs-fold", "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n".into(), Refused("400")),
        ("H1-11 bare CR", "GET / HTTP/1.1\r\nHost: a\r\nX-A: a\rTransfer-Encoding: chunked\r\n\r\n".into(), Refused("400")),
        ("H1-12 NUL in value", "GET / HTTP/1.1\r\nHost: a\r\nX-A: a\x00b\r\n\r\n".into(), Refused("400")),
        ("H1-12 NUL in name", "GET / HTTP/1.1\r\nHost: a\r\nX-\x00A: b\r\n\r\n".into(), Refused("400")),
        // A bare LF ends a line for httparse: the head is read as two fields and the request is
        // framed by what the gateway parsed (never a second, smuggled request).
        ("H1-10 bare LF", "POST / HTTP/1.1\r\nHost: a\r\nX-A: 1\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n".into(), NoSmuggling),
        ("HD-11 escape in a value", "GET / HTTP/1.1\r\nHost: a\r\nUser-Agent: a\x1b[31m\r\n\r\n".into(), Refused("400")),
        ("H1-12 DEL in value", "GET / HTTP/1.1\r\nHost: a\r\nX-A: a\x7fb\r\n\r\n".into(), Refused("400")),
        ("H1-13 chunk size zz", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n".into(), Aborted("400")),
        ("H1-13 chunk size 17 digits", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFF\r\nhello\r\n0\r\n\r\n".into(), Aborted("400")),
        ("H1-14 chunk longer than its size", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX\r\n0\r\n\r\n".into(), Aborted("400")),
        ("H1-15 chunk extension", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5;name=val\r\nhello\r\n0\r\n\r\n".into(), Served),
        ("H1-20 two spaces", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n".into(), Refused("400")),
        ("H1-20 trailing token", "GET / HTTP/1.1 x\r\nHost: a\r\n\r\n".into(), Refused("400")),
        ("H1-20 tab", "GET /\tHTTP/1.1\r\nHost: a\r\n\r\n".into(), Refused("400")),
        ("HD-01 no Host", "GET / HTTP/1.1\r\n\r\n".into(), Refused("400")),
        ("HD-02 empty name", "GET / HTTP/1.1\r\nHost: a\r\n: x\r\n\r\n".into(), Refused("400")),
        ("HD-03 bad name", "GET / HTTP/1.1\r\nHost: a\r\nX-A(b): 1\r\n\r\n".into(), Refused("400")),
        ("HD-03 bad Host", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n".into(), Refused("400")),
        ("HD-03 bad Host slash", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n".into(), Refused("400")),
        ("H1-16 1 MiB chunk extension", format!("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2;{}\r\nhi\r\n0\r\n\r\n", "e".repeat(1 << 20)), Aborted("400")),
        ("H1-17 request inside a body", "GET /public HTTP/1.1\r\nHost: a\r\nContent-Length: 33\r\nConnection: close\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n".into(), NoSmuggling),
        ("H1-02 TE.CL", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n5c\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\nContent-Length: 15\r\n\r\nx=1\r\n0\r\n\r\n".into(), Refused("400")),
    ];
    let (be, gw) = gateway().await;
    let mut failures = Vec::new();
    for (id, raw, want) in &cases {
        let before = be.count();
        let (resp, closed) = exchange_keepalive(&gw, raw.as_bytes()).await;
        let status = resp.get(9..12).unwrap_or("---").to_string();
        match want {
            Refused(code) => {
                if status != *code || !closed || be.count() != before {
                    failures.push(format!(
                        "{id}: got {status}, closed {closed}, forwarded {}",
                        be.count() - before
                    ));
                }
            }
            Aborted(code) => {
                let completed = be.requests()[before..].iter().any(|r| r.body == "hello");
                if status != *code || !closed || completed {
                    failures.push(format!(
                        "{id}: got {status}, closed {closed}, upstream completed {completed}"
                    ));
                }
            }
            NoSmuggling => {
                if resp.matches("HTTP/1.1").count() > 1 {
                    failures.push(format!("{id}: two answers on one connection: {resp}"));
                }
            }
            Served => {
                let body_ok = be.requests().last().is_some_and(|r| r.body == "hello");
                if status != "200" || !body_ok {
                    failures.push(format!("{id}: got {status}, body forwarded {body_ok}"));
                }
            }
        }
    }
    assert!(
        be.requests().iter().all(|r| r.uri != "/smuggled"),
        "a smuggled request reached the backend"
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let metrics = gw.admin("/stats/prometheus").await.body;
    assert!(
        metrics.contains("rampart_downstream_rejected_total{reason=\"unknown_transfer_coding\"} 2"),
        "{metrics}"
    );
}

#[tokio::test]
async fn h1_18_pipelined_requests_are_answered_in_order() {
    let (be, gw) = gateway().await;
    let raw = "GET /one HTTP/1.1\r\nHost: a\r\n\r\nGET /two HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
    let resp = exchange(&gw, raw.as_bytes()).await;
    assert_eq!(resp.matches("HTTP/1.1 200").count(), 2, "{resp}");
    let uris: Vec<_> = be.requests().iter().map(|r| r.uri.clone()).collect();
    assert_eq!(uris, ["/one", "/two"]);
}

#[tokio::test]
async fn hd08_connection_cannot_remove_headers_the_gateway_sets() {
    let (be, gw) = gateway().await;
    let raw = "GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 6.6.6.6\r\nConnection: close, X-Forwarded-For, x-request-id\r\n\r\n";
    let resp = exchange(&gw, raw.as_bytes()).await;
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    let seen = be.requests().pop().unwrap();
    assert_eq!(seen.headers["x-forwarded-for"], "127.0.0.1");
    assert!(seen.headers.contains_key("x-request-id"));
}

/// SL-01: slowloris. Connections that trickle a head, or send nothing, are closed at the
/// request-head timeout (2 s here) while a legitimate client is served; a keep-alive connection
/// between requests and a request waiting on a slow backend are left alone.
#[tokio::test]
async fn sl01_slow_heads_are_closed_at_the_head_timeout() {
    let be = Backend::with("app", |r| {
        let reply = rampart_testkit::Reply::new(200, "ok");
        if r.uri == "/slow" {
            reply.delayed(Duration::from_millis(3500))
        } else {
            reply
        }
    })
    .await;
    let yaml = app_config(be.port());
    let gw = TestGateway::start_with(&yaml, |o| {
        o.request_headers_timeout = Some(Duration::from_secs(2))
    })
    .await;
    let started = tokio::time::Instant::now();
    let mut trickles = Vec::new();
    for i in 0..20 {
        let addr = gw.addr;
        trickles.push(tokio::spawn(async move {
            let mut s = TcpStream::connect(addr).await.unwrap();
            if i % 2 == 0 {
                s.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n").await.unwrap();
            }
            // One byte every 300 ms (odd connections send nothing at all) until closed.
            let mut buf = [0u8; 64];
            loop {
                if i % 2 == 0 && s.write_all(b"X").await.is_err() {
                    break;
                }
                match tokio::time::timeout(Duration::from_millis(300), s.read(&mut buf)).await {
                    Ok(Ok(0)) | Ok(Err(_)) => break,
                    _ => {}
                }
                assert!(started.elapsed() < Duration::from_secs(8), "never closed");
            }
            started.elapsed()
        }));
    }
    // Meanwhile: a keep-alive client idles between requests, another waits on a slow backend.
    let mut idle = TcpStream::connect(gw.addr).await.unwrap();
    let get = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    idle.write_all(get).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = idle.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    let slow = gw.get("a", "/slow").send();
    assert_eq!(
        gw.get("a", "/").send().await.unwrap().status,
        200,
        "legit client served"
    );
    for t in trickles {
        let closed_after = t.await.unwrap();
        assert!(
            closed_after >= Duration::from_secs(2),
            "closed too early: {closed_after:?}"
        );
    }
    assert_eq!(
        slow.await.unwrap().status,
        200,
        "a request in flight is not a slow head"
    );
    idle.write_all(get).await.unwrap();
    let n = idle.read(&mut buf).await.unwrap();
    assert!(
        buf[..n].starts_with(b"HTTP/1.1 200"),
        "idle keep-alive connection still open"
    );
    assert!(be
        .requests()
        .iter()
        .all(|r| r.uri == "/" || r.uri == "/slow"));
}

/// H1-04: two identical `Content-Length`s are one: forwarded with exactly one, body intact.
#[tokio::test]
async fn h1_04_identical_content_lengths_are_forwarded_as_one() {
    let (be, gw) = gateway().await;
    let raw = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello";
    let resp = exchange(&gw, raw.as_bytes()).await;
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    let seen = be.requests().pop().unwrap();
    assert_eq!(seen.body, "hello");
    assert_eq!(seen.headers.get_all("content-length").iter().count(), 1);
}

/// XF-04 and HD-06 / AD-02: a client's `x-forwarded-proto` does not survive a plain listener, an
/// unknown Host gets 404 (no default virtual host), and admin paths on the data listener are
/// ordinary paths.
#[tokio::test]
async fn xf04_hd06_ad02_edge_headers_hosts_and_admin_paths() {
    let be = Backend::start("app").await;
    let yaml = format!(
        "{G0}{}---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: app}}
spec:
  hosts: [app.example]
  gateways: [edge]
  http: [{{route: [{{destination: {{host: app.default.svc.cluster.local}}}}]}}]
",
        app_service(be.port(), "HTTP")
    );
    let gw = TestGateway::start(&yaml).await;
    let resp = gw
        .get("app.example", "/")
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(
        be.requests().pop().unwrap().headers["x-forwarded-proto"],
        "http"
    );
    let before = be.count();
    assert_eq!(
        gw.get("evil.example", "/").send().await.unwrap().status,
        404
    );
    for path in [
        "/config_dump",
        "/clusters",
        "/quitquitquit",
        "/stats/prometheus",
    ] {
        let resp = gw.get("evil.example", path).send().await.unwrap();
        assert_eq!(resp.status, 404, "{path}: {}", resp.body);
    }
    assert_eq!(be.count(), before);
    // On a routed host they are the backend's paths.
    let resp = gw.get("app.example", "/config_dump").send().await.unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(be.requests().pop().unwrap().uri, "/config_dump");
}

/// SL-09: past `--max-connections` new connections are closed at accept while the open ones
/// are served; closing some frees their places.
#[tokio::test]
async fn sl09_connections_over_the_limit_are_closed_at_accept() {
    let be = Backend::start("app").await;
    let yaml = app_config(be.port());
    let gw = TestGateway::start_with(&yaml, |o| o.max_connections = Some(20)).await;
    let get = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    let mut open = Vec::new();
    for _ in 0..20 {
        let mut s = TcpStream::connect(gw.addr).await.unwrap();
        s.write_all(get).await.unwrap();
        let mut buf = vec![0u8; 1024];
        let n = s.read(&mut buf).await.unwrap();
        assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
        open.push(s);
    }
    // The 21st is closed without an answer.
    let mut extra = TcpStream::connect(gw.addr).await.unwrap();
    let _ = extra.write_all(get).await;
    let mut buf = vec![0u8; 1024];
    let n = tokio::time::timeout(Duration::from_secs(2), extra.read(&mut buf))
        .await
        .expect("closed at once")
        .unwrap_or(0);
    assert_eq!(n, 0, "no answer over the limit");
    // The open ones are still served.
    open[0].write_all(get).await.unwrap();
    let n = open[0].read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    let metrics = gw.admin("/stats/prometheus").await.body;
    assert!(metrics.contains("rampart_downstream_rejected_total{reason=\"connection_limit\"} 1"));
    assert!(
        metrics.contains("rampart_downstream_cx_active 20"),
        "{metrics}"
    );
    // Closing frees places.
    open.truncate(10);
    crate::support::eventually("places freed", || gw.gw.active_connections() <= 10).await;
    assert_eq!(gw.get("a", "/").send().await.unwrap().status, 200);
}

/// HD-11, second half: a `User-Agent` with obs-text and JSON-breaking characters is served, and
/// the JSON access log stays one valid JSON object per line.
#[tokio::test]
async fn hd11_hostile_user_agent_keeps_the_json_log_valid() {
    let be = Backend::start("app").await;
    let yaml = app_config(be.port());
    let log = crate::support::temp_dir().join("access.log");
    let path = log.clone();
    let gw = TestGateway::start_with(&yaml, |o| {
        o.access_log = Some((Some(path), rampart_telemetry::AccessLogFormat::Json))
    })
    .await;
    let raw = b"GET / HTTP/1.1\r\nHost: a\r\nUser-Agent: \xff\"}{\\\r\nConnection: close\r\n\r\n";
    let resp = exchange(&gw, raw).await;
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    let mut text = String::new();
    crate::support::eventually("the access-log line", || {
        text = std::fs::read_to_string(&log).unwrap_or_default();
        text.ends_with('\n')
    })
    .await;
    for line in text.lines() {
        let entry: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(
            entry["user_agent"]
                .as_str()
                .is_some_and(|ua| ua.contains("\"}{")),
            "{line}"
        );
    }
}

/// SL-02 and the idle timeout: an upload that stalls is cut at the stream idle timeout (2 s
/// here) and never completes at the backend; a keep-alive connection idle past the idle
/// timeout (3 s) is closed; an upload that keeps moving is not cut.
#[tokio::test]
async fn sl02_stalled_uploads_and_idle_connections_are_closed() {
    let be = Backend::start("app").await;
    let yaml = app_config(be.port());
    let gw = TestGateway::start_with(&yaml, |o| {
        o.stream_idle_timeout = Some(Duration::from_secs(2));
        o.idle_timeout = Some(Duration::from_secs(3));
    })
    .await;
    let started = tokio::time::Instant::now();
    // A stalled upload: head and 1 byte of 1 000 000, then nothing.
    let mut stalled = TcpStream::connect(gw.addr).await.unwrap();
    stalled
        .write_all(b"POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000\r\n\r\nx")
        .await
        .unwrap();
    // A slow but moving upload: one byte every 500 ms for 4 s, then the rest.
    let addr = gw.addr;
    let moving = tokio::spawn(async move {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(
            b"POST /slow HTTP/1.1\r\nHost: a\r\nContent-Length: 9\r\nConnection: close\r\n\r\n",
        )
        .await
        .unwrap();
        for _ in 0..8 {
            s.write_all(b"y").await.unwrap();
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        s.write_all(b"z").await.unwrap();
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out).await;
        String::from_utf8_lossy(&out).into_owned()
    });
    // An idle keep-alive connection after one request.
    let mut idle = TcpStream::connect(gw.addr).await.unwrap();
    idle.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0u8; 4096];
    let n = idle.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));

    let mut rest = Vec::new();
    tokio::time::timeout(Duration::from_secs(8), stalled.read_to_end(&mut rest))
        .await
        .expect("the stalled upload is cut")
        .ok();
    let cut_after = started.elapsed();
    assert!(
        cut_after >= Duration::from_secs(2),
        "cut too early: {cut_after:?}"
    );
    let n = tokio::time::timeout(Duration::from_secs(8), idle.read(&mut buf))
        .await
        .expect("the idle connection is closed")
        .unwrap_or(0);
    assert_eq!(n, 0, "closed without a response");
    let moving = moving.await.unwrap();
    assert!(moving.starts_with("HTTP/1.1 200"), "{moving}");
    // The backend's request was aborted, not left hanging: it ends in a body error, which the
    // test backend records as an empty body.
    crate::support::eventually("the backend's upload aborted", || {
        be.requests()
            .iter()
            .any(|r| r.uri == "/upload" && r.body.is_empty())
    })
    .await;
    assert!(be
        .requests()
        .iter()
        .any(|r| r.uri == "/slow" && r.body == "yyyyyyyyz"));
}

/// SL-05: a client that asks for a large response and never reads it holds only socket buffers,
/// and its connection is closed once no byte has moved for the idle timeout.
#[tokio::test]
async fn sl05_a_reader_that_never_reads_is_closed() {
    let big = "x".repeat(8 << 20);
    let be = Backend::with("big", move |_| rampart_testkit::Reply::new(200, &big)).await;
    let yaml = app_config(be.port());
    let gw = TestGateway::start_with(&yaml, |o| {
        o.idle_timeout = Some(Duration::from_secs(2));
        o.stream_idle_timeout = Some(Duration::from_secs(2));
    })
    .await;
    let mut s = TcpStream::connect(gw.addr).await.unwrap();
    s.write_all(b"GET /big HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    crate::support::eventually("the backend answered", || be.count() == 1).await;
    // Never read; the gateway must give up on this connection by itself.
    crate::support::eventually("the stalled connection closed", || {
        gw.gw.active_connections() == 0
    })
    .await;
    drop(s);
    assert_eq!(
        gw.get("a", "/").send().await.unwrap().status,
        200,
        "others still served"
    );
}

/// SL-06 and SL-07: with a 1 MiB body limit, a declared 10 GiB body gets 413 before any of it
/// is read, and a chunked upload that crosses the limit gets 413 with its upstream request
/// aborted; bodies under the limit pass, over HTTP/1.1 and HTTP/2.
#[tokio::test]
async fn sl06_sl07_bodies_over_the_limit_get_413() {
    let be = Backend::start("app").await;
    let yaml = app_config(be.port());
    let gw = TestGateway::start_with(&yaml, |o| o.max_request_body = Some(1 << 20)).await;
    let declared = "POST /big HTTP/1.1\r\nHost: a\r\nContent-Length: 10737418240\r\n\r\nxxxx";
    let (resp, closed) = exchange_keepalive(&gw, declared.as_bytes()).await;
    assert!(resp.starts_with("HTTP/1.1 413") && closed, "{resp}");
    assert_eq!(be.count(), 0, "never forwarded");

    // Chunked: 64 KiB chunks, 20 of them (1.25 MiB).
    let mut s = TcpStream::connect(gw.addr).await.unwrap();
    s.write_all(b"POST /chunked HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n")
        .await
        .unwrap();
    let chunk = format!("10000\r\n{}\r\n", "c".repeat(0x10000));
    for _ in 0..20 {
        if s.write_all(chunk.as_bytes()).await.is_err() {
            break;
        }
    }
    let _ = s.write_all(b"0\r\n\r\n").await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await;
    let text = String::from_utf8_lossy(&out);
    assert!(
        text.starts_with("HTTP/1.1 413"),
        "{}",
        &text[..text.len().min(200)]
    );
    assert!(
        be.requests().iter().all(|r| r.body.len() <= 1 << 20),
        "no more than the limit ever reached the backend"
    );

    let small = gw
        .get("a", "/small")
        .method(http::Method::POST)
        .body("x".repeat(1000));
    assert_eq!(small.send().await.unwrap().status, 200);
    let h2 = gw
        .get("a", "/h2")
        .method(http::Method::POST)
        .body("y".repeat(2 << 20))
        .http2();
    assert_eq!(h2.send().await.unwrap().status, 413);
}

/// H1-01 with the head split between two TCP segments (Content-Length in the first,
/// Transfer-Encoding in the second): still 400 and closed, nothing forwarded. The pause lets the
/// gateway read the first part alone; if the kernel merged them anyway, the one-read path runs,
/// which must refuse too.
#[tokio::test]
async fn h1_01_a_split_cl_te_head_is_refused() {
    let (be, gw) = gateway().await;
    let mut s = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    s.set_nodelay(true).unwrap();
    s.write_all(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Le")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    s.write_all(b"ngth: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await;
    let resp = String::from_utf8_lossy(&out);
    assert!(resp.starts_with("HTTP/1.1 400"), "{resp}");
    assert_eq!(resp.matches("HTTP/1.1").count(), 1, "{resp}");
    assert_eq!(be.count(), 0);
}
