//! Hostile requests (../shared/reference/hostile-plan.md), sent on raw sockets: each is refused
//! with the right status, and the backend never sees it.

use std::time::Duration;

use rampart_testkit::Backend;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{app_service, vs_to, TestGateway, G0};

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
    let yaml = format!(
        "{G0}{}{}",
        app_service(be.port(), "HTTP"),
        vs_to("{host: app.default.svc.cluster.local}")
    );
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
