//! Probes run against real servers on 127.0.0.1, on the real clock (a paused clock would fire
//! probe timeouts while the sockets are busy); each test is bounded by [`BOUND`].

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, AtomicU64};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::mpsc;

use super::*;
use crate::test_support::spec;
use crate::{Error, Registry};

const BOUND: Duration = Duration::from_secs(10);

fn http_check(path: &str, expected_body: Option<&'static str>) -> HealthCheckSpec {
    HealthCheckSpec {
        probe: HealthProbe::Http {
            method: http::Method::GET,
            path: path.into(),
            host: "app.test".into(),
            expected_statuses: Box::new([200]),
            expected_body: expected_body.map(|b| Bytes::from_static(b.as_bytes())),
        },
        interval: Duration::from_secs(3600),
        timeout: Duration::from_secs(5),
        unhealthy_threshold: 2,
        healthy_threshold: 2,
        source: "default/app-health".into(),
    }
}

fn tcp_check(send: Option<&'static str>, receive: Option<&'static str>) -> HealthCheckSpec {
    HealthCheckSpec {
        probe: HealthProbe::Tcp {
            send: send.map(|b| Bytes::from_static(b.as_bytes())),
            receive: receive.map(|b| Bytes::from_static(b.as_bytes())),
        },
        unhealthy_threshold: 1,
        healthy_threshold: 1,
        ..http_check("/", None)
    }
}

fn checked_cluster(ports: &[u16], hc: &HealthCheckSpec) -> Cluster {
    let mut s = spec(ports);
    s.health_check = Some(hc.clone());
    Cluster::new(s, 1)
}

fn failed(c: &Cluster) -> Vec<u16> {
    c.state()
        .endpoints
        .iter()
        .filter(|e| e.health.failed_health_check())
        .map(|e| e.address.port())
        .collect()
}

async fn round(c: &Cluster, hc: &HealthCheckSpec) -> bool {
    tokio::time::timeout(BOUND, c.check_endpoints(hc))
        .await
        .expect("a probe round ends within the probe timeout")
}

/// An HTTP server answering every request with `status` (read at the time of the request) and
/// the body `ok`; each request head is sent on the returned channel. With `keep_open`, the
/// connection stays open after the answer.
async fn http_server(
    status: Arc<AtomicU16>,
    keep_open: bool,
) -> (SocketAddr, mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (heads, rx) = mpsc::channel(64);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let status = status.load(Ordering::SeqCst);
            let heads = heads.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    if !read_more(&mut stream, &mut buf).await {
                        return;
                    }
                }
                let _ = heads.try_send(String::from_utf8_lossy(&buf).into_owned());
                let answer = format!("HTTP/1.1 {status} Whatever\r\ncontent-length: 2\r\n\r\nok");
                let _ = stream.write_all(answer.as_bytes()).await;
                if keep_open {
                    let _ = read_more(&mut stream, &mut buf).await;
                }
            });
        }
    });
    (addr, rx)
}

#[tokio::test]
async fn http_checks_take_an_endpoint_out_after_the_threshold_and_bring_it_back() {
    let status = Arc::new(AtomicU16::new(503));
    let (addr, mut heads) = http_server(status.clone(), false).await;
    let hc = http_check("/healthz", None);
    let c = checked_cluster(&[addr.port()], &hc);

    assert!(!round(&c, &hc).await, "one failure of two");
    assert!(failed(&c).is_empty());
    assert!(c.pick(&c.state(), None).is_ok());
    assert!(round(&c, &hc).await, "the second failure is the threshold");
    assert_eq!(failed(&c), [addr.port()]);
    assert!(matches!(
        c.pick(&c.state(), None),
        Err(Error::NoHealthyUpstream)
    ));
    assert_eq!(c.state().endpoints[0].health.flags(), "/failed_active_hc");

    status.store(200, Ordering::SeqCst);
    assert!(!round(&c, &hc).await, "one pass of two");
    assert!(round(&c, &hc).await);
    assert!(failed(&c).is_empty());
    assert!(c.pick(&c.state(), None).is_ok());

    let head = heads.recv().await.unwrap();
    assert!(head.starts_with("GET /healthz HTTP/1.1\r\n"), "{head}");
    assert!(head.contains("\r\nHost: app.test\r\n"), "{head}");
    assert!(head.contains("\r\nConnection: close\r\n"), "{head}");
    let stats = &c.health_stats;
    let read = |n: &AtomicU64| n.load(Ordering::Relaxed);
    assert_eq!(read(&stats.checks), 4);
    assert_eq!(read(&stats.check_failures), 2);
    assert_eq!(read(&stats.check_successes), 2);
    assert_eq!(read(&stats.became_unhealthy), 1);
    assert_eq!(read(&stats.became_healthy), 1);
    assert_eq!(c.health_check_healthy(), 1);
}

#[tokio::test]
async fn http_checks_compare_the_body_and_do_not_wait_for_the_connection_to_close() {
    let (addr, _heads) = http_server(Arc::new(AtomicU16::new(200)), true).await;
    let mut hc = http_check("/", None);
    hc.unhealthy_threshold = 1;
    let c = checked_cluster(&[addr.port()], &hc);
    round(&c, &hc).await;
    assert!(failed(&c).is_empty(), "status 200, no body expected");
    let wrong_body = http_check("/", Some("ready"));
    let wrong_body = HealthCheckSpec {
        timeout: Duration::from_millis(200),
        ..wrong_body
    };
    let stats = &c.health_stats;
    round(&c, &wrong_body).await;
    assert_eq!(stats.check_failures.load(Ordering::Relaxed), 1);
    round(&c, &http_check("/", Some("ok"))).await;
    assert_eq!(stats.check_successes.load(Ordering::Relaxed), 2);
}

#[tokio::test]
async fn an_unexpected_status_fails_and_a_silent_endpoint_times_out() {
    let (addr, _heads) = http_server(Arc::new(AtomicU16::new(404)), false).await;
    let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut hc = http_check("/", None);
    hc.unhealthy_threshold = 1;
    hc.timeout = Duration::from_millis(200);
    let c = checked_cluster(&[addr.port(), silent.local_addr().unwrap().port()], &hc);
    round(&c, &hc).await;
    assert_eq!(failed(&c).len(), 2);
}

#[tokio::test]
async fn a_tcp_check_fails_on_a_closed_port() {
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let open = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let open_port = open.local_addr().unwrap().port();
    let hc = tcp_check(None, None);
    let c = checked_cluster(&[port, open_port], &hc);
    assert!(round(&c, &hc).await);
    assert_eq!(failed(&c), [port]);
    let state = c.state();
    for _ in 0..10 {
        assert_eq!(c.pick(&state, None).unwrap().address.port(), open_port);
    }
}

#[tokio::test]
async fn a_tcp_check_sends_and_expects_bytes() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = Vec::new();
                while !contains(&buf, b"PING") {
                    if !read_more(&mut stream, &mut buf).await {
                        return;
                    }
                }
                let _ = stream.write_all(b"PONG").await;
            });
        }
    });
    let c = checked_cluster(&[addr.port()], &tcp_check(Some("PING"), Some("PONG")));
    round(&c, &tcp_check(Some("PING"), Some("PONG"))).await;
    assert!(failed(&c).is_empty());
    round(&c, &tcp_check(Some("PING"), Some("NOPE"))).await;
    assert_eq!(failed(&c), [addr.port()], "the peer closed without NOPE");
}

#[tokio::test]
async fn the_registry_starts_a_checker_whose_first_round_runs_at_once() {
    let (addr, mut heads) = http_server(Arc::new(AtomicU16::new(200)), false).await;
    let mut s = spec(&[addr.port()]);
    s.health_check = Some(http_check("/first", None)); // interval: 1 h
    let registry = Registry::new(1, tokio::runtime::Handle::current());
    let c = registry.reconcile(std::slice::from_ref(&s))[0].clone();
    let head = tokio::time::timeout(BOUND, heads.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(head.starts_with("GET /first "), "{head}");
    assert!(c.checker.get().is_some());
}

#[tokio::test]
async fn removing_the_health_check_readmits_failed_endpoints() {
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let hc = tcp_check(None, None);
    let c = checked_cluster(&[port], &hc);
    round(&c, &hc).await;
    assert!(c.pick(&c.state(), None).is_err());
    let mut s = spec(&[port]);
    s.health_check = None;
    c.update(s);
    assert!(
        c.pick(&c.state(), None).is_ok(),
        "its verdicts no longer count"
    );
    c.forget_health_checks();
    assert!(failed(&c).is_empty());
}

#[tokio::test]
async fn probes_of_a_tls_cluster_go_over_tls_with_alpn_http1() {
    let ca = rampart_testkit::pki::Ca::new("ca");
    let config = ca
        .server(&["app.test"])
        .server_config(&[b"h2", b"http/1.1"]);
    let secure = rampart_testkit::tls_backend::TlsBackend::start("secure", config).await;
    let stranger = rampart_testkit::pki::Ca::new("stranger").server(&["app.test"]);
    let untrusted =
        rampart_testkit::tls_backend::TlsBackend::start("untrusted", stranger.server_config(&[]))
            .await;
    let hc = HealthCheckSpec {
        unhealthy_threshold: 1,
        ..http_check("/healthz", Some("secure"))
    };
    let mut s = spec(&[secure.port(), untrusted.port()]);
    s.protocol = rampart_model::UpstreamProtocol::Http2;
    s.health_check = Some(hc.clone());
    s.tls = Some(crate::test_support::tls(&ca, "app.test", &[b"h2"], 1));
    let c = Cluster::new(s, 1);
    assert!(round(&c, &hc).await);
    assert_eq!(failed(&c), vec![untrusted.port()]);
    let session = &secure.sessions()[0];
    assert_eq!(session.alpn.as_deref(), Some(&b"http/1.1"[..]));
    assert_eq!(secure.requests()[0].uri, "/healthz");
    assert!(untrusted.requests().is_empty());
}
