use std::sync::atomic::Ordering::SeqCst;

use http::HeaderMap;
use rampart_testkit::OtlpReceiver;

use super::*;
use crate::endpoint::Protocol;
use crate::tracer::Settings;

fn tracer(
    url: &str,
    protocol: Option<Protocol>,
    tweak: impl FnOnce(&mut Settings),
) -> (Arc<Tracer>, Exporter) {
    let mut settings = Settings::new(Endpoint::parse(url, protocol).unwrap());
    settings.sampling = 100.0;
    tweak(&mut settings);
    Tracer::new(settings)
}

/// Records `n` sampled server spans (one request each, no attempts).
fn record(tracer: &Arc<Tracer>, n: usize) {
    for _ in 0..n {
        let trace = tracer.start_request(&HeaderMap::new(), None);
        trace.into_server_span().unwrap().finish();
    }
}

#[tokio::test]
async fn a_full_batch_is_sent_without_waiting_for_the_interval() {
    let collector = OtlpReceiver::start().await;
    let (tracer, exporter) = tracer(&collector.http_url(), None, |s| {
        s.batch = 5;
        s.interval = Duration::from_secs(3600);
        s.service_name = "istio-ingressgateway.istio-system".into();
    });
    record(&tracer, 10);
    tokio::spawn(exporter.run());
    let spans = collector.wait_for_spans(10).await;
    assert_eq!(collector.requests(), (2, 0), "two batches of five");
    assert!(spans.iter().all(|s| s.kind == 2 && s.protocol == "http"));
    assert_eq!(spans[0].attr("component"), "proxy");
    assert_eq!(
        spans[0].resource["service.name"].to_string(),
        "istio-ingressgateway.istio-system"
    );
}

#[tokio::test]
async fn a_partial_batch_goes_after_the_interval_over_grpc() {
    let collector = OtlpReceiver::start().await;
    let (tracer, exporter) = tracer(&collector.grpc_url(), None, |s| {
        s.interval = Duration::from_millis(20);
    });
    tokio::spawn(exporter.run());
    record(&tracer, 3);
    let spans = collector.wait_for_spans(3).await;
    assert_eq!(collector.requests().0, 0);
    assert!(spans.iter().all(|s| s.protocol == "grpc"));
    assert!(collector.errors().is_empty());
}

#[tokio::test]
async fn an_http_url_with_protocol_grpc_speaks_grpc() {
    let collector = OtlpReceiver::start().await;
    let url = format!("http://{}", collector.addr);
    let (tracer, exporter) = tracer(&url, Some(Protocol::Grpc), |s| s.batch = 1);
    tokio::spawn(exporter.run());
    record(&tracer, 1);
    collector.wait_for_spans(1).await;
    assert_eq!(collector.requests(), (0, 1));
}

#[tokio::test]
async fn a_full_queue_drops_and_counts() {
    let (tracer, _exporter) = tracer("http://127.0.0.1:9/v1/traces", None, |s| s.queue = 4);
    record(&tracer, 10);
    assert_eq!(tracer.stats.dropped_queue_full.load(SeqCst), 6);
    let mut text = String::new();
    tracer.render_prometheus(&mut text);
    assert!(
        text.contains("rampart_tracing_spans_dropped_total{reason=\"queue_full\"} 6"),
        "{text}"
    );
    assert!(text.contains("rampart_tracing_spans_queued 4"), "{text}");
}

#[tokio::test]
async fn a_refused_batch_is_dropped_without_retrying() {
    let collector = OtlpReceiver::start().await;
    let url = format!("http://{}/not/a/collector", collector.addr);
    let (tracer, mut exporter) = tracer(&url, None, |_| {});
    exporter.send(Bytes::from_static(b""), 7).await;
    assert_eq!(tracer.stats.export_failures.load(SeqCst), 1);
    assert_eq!(tracer.stats.dropped_export.load(SeqCst), 7);
}

#[tokio::test(start_paused = true)]
async fn an_unreachable_collector_is_retried_with_backoff_then_the_batch_dropped() {
    // A port that was just free: connections are refused.
    let port = rampart_testkit::free_port();
    let url = format!("http://127.0.0.1:{port}/v1/traces");
    let (tracer, mut exporter) = tracer(&url, None, |_| {});
    let started = tokio::time::Instant::now();
    exporter.send(Bytes::from_static(b""), 3).await;
    assert_eq!(
        tracer.stats.export_failures.load(SeqCst),
        1 + u64::from(RETRIES)
    );
    assert_eq!(tracer.stats.dropped_export.load(SeqCst), 3);
    // Three back-offs of at least 50, 100 and 200 ms (jittered halves of 100, 200, 400).
    assert!(
        started.elapsed() >= Duration::from_millis(350),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn backoff_doubles_up_to_its_cap_and_resets() {
    let mut b = Backoff::default();
    let first = b.next();
    assert!(first >= BACKOFF_MIN / 2 && first <= BACKOFF_MIN);
    for _ in 0..20 {
        assert!(b.next() <= BACKOFF_MAX);
    }
    assert_eq!(b.step, BACKOFF_MAX);
    b.reset();
    assert_eq!(b.step, BACKOFF_MIN);
}
