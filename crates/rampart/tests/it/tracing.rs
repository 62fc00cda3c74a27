//! Distributed tracing end to end: the gateway exporting to a real OTLP collector (testkit's,
//! over OTLP/HTTP or gRPC), and backends recording the trace headers they receive. Tests wait
//! for the spans they expect; an absence is shown by a later request's spans arriving without
//! it (spans leave in the order they are recorded, one export at a time).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rampart::GatewayOptions;
use rampart_testkit::otlp::ExportedSpan;
use rampart_testkit::{free_port, Backend, OtlpReceiver, Recorded, Reply};
use rampart_trace::{Endpoint, Settings};

use crate::support::{app_config, app_with_endpoints, TestGateway, G0};

const HOST: &str = "app.default.svc.cluster.local";
const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER: &str = "00f067aa0ba902b7";

/// Tracing to `url` at `sampling` %.
fn traced(url: String, sampling: f64) -> impl FnOnce(&mut GatewayOptions) {
    move |opts| {
        let endpoint = Endpoint::parse(&url, None).expect("endpoint");
        opts.tracing = Some(Settings {
            sampling,
            // Partial batches leave sooner than the default second: quicker tests.
            interval: Duration::from_millis(50),
            ..Settings::new(endpoint)
        });
    }
}

fn header(r: &Recorded, name: &str) -> String {
    r.headers
        .get(name)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

fn of_kind(spans: &[ExportedSpan], kind: u64) -> Vec<ExportedSpan> {
    spans.iter().filter(|s| s.kind == kind).cloned().collect()
}

/// The one server span of `trace`, and its client spans by attempt.
fn trace_of(spans: &[ExportedSpan], trace: &str) -> (ExportedSpan, Vec<ExportedSpan>) {
    let mine: Vec<_> = spans
        .iter()
        .filter(|s| s.trace_id == trace)
        .cloned()
        .collect();
    let servers = of_kind(&mine, 2);
    assert_eq!(servers.len(), 1, "one server span in {mine:#?}");
    let mut clients = of_kind(&mine, 3);
    clients.sort_by_key(|s| s.attr("retry.count"));
    (servers[0].clone(), clients)
}

/// A VirtualService sending everything to `app` with these retries.
fn retrying(retries: &str) -> String {
    format!(
        "---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: app}}
spec:
  hosts: [\"*\"]
  gateways: [edge]
  http:
  - route: [{{destination: {{host: {HOST}}}}}]
    retries: {retries}
"
    )
}

#[tokio::test]
async fn at_full_sampling_each_request_is_one_trace_of_a_server_and_a_client_span() {
    let collector = OtlpReceiver::start().await;
    let be = Backend::start("app").await;
    let gw =
        TestGateway::start_with(&app_config(be.port()), traced(collector.http_url(), 100.0)).await;
    for _ in 0..3 {
        let resp = gw.get("shop.example", "/cart?id=7").send().await.unwrap();
        assert_eq!(resp.status, 200);
    }
    let spans = collector.wait_for_spans(6).await;
    let servers = of_kind(&spans, 2);
    assert_eq!(servers.len(), 3, "{spans:#?}");
    let received = be.requests();
    for server in &servers {
        let (server, clients) = trace_of(&spans, &server.trace_id);
        assert_eq!(clients.len(), 1);
        let client = &clients[0];
        assert_eq!(server.parent_span_id, None, "a new trace");
        assert_eq!(client.parent_span_id.as_deref(), Some(&*server.span_id));
        assert_eq!(server.name, format!("{HOST}:80/*"));
        assert_eq!(server.attr("http.method"), "GET");
        assert_eq!(server.attr("http.url"), "http://shop.example/cart?id=7");
        assert_eq!(server.attr("http.status_code"), "200");
        assert_eq!(server.attr("response_flags"), "-");
        assert_eq!(
            server.attr("upstream_cluster"),
            format!("outbound|80||{HOST}")
        );
        assert_eq!(server.attr("component"), "proxy");
        assert!(server.attr("node_id").starts_with("router~"));
        assert_eq!(server.status_code, 0);
        assert!(server.end_unix_nano >= server.start_unix_nano);
        assert_eq!(
            server.resource["service.name"].to_string(),
            "rampart-ingressgateway"
        );
        assert_eq!(client.name, format!("router outbound|80||{HOST} egress"));
        assert_eq!(client.attr("upstream_address"), be.addr.to_string());
        assert_eq!(client.attr("http.status_code"), "200");
        // The backend saw this trace, with the client span as its parent, and the request id
        // the span names.
        let seen = received
            .iter()
            .find(|r| header(r, "x-b3-traceid") == server.trace_id)
            .expect("the backend got the trace");
        assert_eq!(
            header(seen, "traceparent"),
            format!("00-{}-{}-01", server.trace_id, client.span_id)
        );
        assert_eq!(
            header(seen, "x-request-id"),
            server.attr("guid:x-request-id")
        );
    }
}

#[tokio::test]
async fn retries_are_client_spans_under_one_server_span_and_each_attempt_names_its_own() {
    let collector = OtlpReceiver::start().await;
    let n = Arc::new(AtomicUsize::new(0));
    let be = {
        let n = n.clone();
        Backend::with("flaky", move |_| match n.fetch_add(1, Ordering::SeqCst) {
            0 | 1 => Reply::new(503, "failed"),
            _ => Reply::new(200, "ok"),
        })
        .await
    };
    let endpoints = format!(
        "  - {{address: 127.0.0.1, ports: {{http: {}}}}}\n",
        be.port()
    );
    let yaml = format!(
        "{G0}{}{}",
        app_with_endpoints(&endpoints),
        retrying("{attempts: 2, retryOn: 5xx}")
    );
    let gw = TestGateway::start_with(&yaml, traced(collector.http_url(), 100.0)).await;
    let resp = gw.get(HOST, "/").send().await.unwrap();
    assert_eq!((resp.status.as_u16(), resp.body.as_str()), (200, "ok"));
    let spans = collector.wait_for_spans(4).await;
    let (server, clients) = trace_of(&spans, &spans[0].trace_id);
    assert_eq!(clients.len(), 3, "{spans:#?}");
    assert_eq!(server.attr("http.status_code"), "200");
    assert_eq!(server.status_code, 0, "the request succeeded");
    let attempts = be.requests();
    assert_eq!(attempts.len(), 3);
    for (i, (client, seen)) in clients.iter().zip(&attempts).enumerate() {
        assert_eq!(client.attr("retry.count"), i.to_string());
        assert_eq!(client.parent_span_id.as_deref(), Some(&*server.span_id));
        let failed = i < 2;
        assert_eq!(
            client.attr("http.status_code"),
            if failed { "503" } else { "200" }
        );
        assert_eq!(
            client.status_code,
            if failed { 2 } else { 0 },
            "{client:#?}"
        );
        // What the backend got on this attempt names this attempt's span.
        assert_eq!(
            header(seen, "traceparent"),
            format!("00-{}-{}-01", server.trace_id, client.span_id)
        );
        assert_eq!(header(seen, "x-b3-traceid"), server.trace_id);
        assert_eq!(header(seen, "x-b3-spanid"), client.span_id);
        assert_eq!(header(seen, "x-b3-parentspanid"), server.span_id);
        assert_eq!(header(seen, "x-b3-sampled"), "1");
    }
}

#[tokio::test]
async fn a_caller_that_did_not_sample_is_propagated_but_not_exported() {
    let collector = OtlpReceiver::start().await;
    let be = Backend::start("app").await;
    let gw =
        TestGateway::start_with(&app_config(be.port()), traced(collector.http_url(), 100.0)).await;
    let unsampled = format!("00-{TRACE}-{CALLER}-00");
    let resp = gw
        .get("a.example", "/quiet")
        .header("traceparent", &unsampled)
        .header("tracestate", "congo=t61rcWkgMzE")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status, 200);
    let seen = &be.requests()[0];
    let sent = header(seen, "traceparent");
    assert!(sent.starts_with(&format!("00-{TRACE}-")), "{sent}");
    assert!(sent.ends_with("-00"), "{sent}");
    assert!(
        !sent.contains(CALLER),
        "the gateway's span is the parent: {sent}"
    );
    assert_eq!(header(seen, "tracestate"), "congo=t61rcWkgMzE");
    assert_eq!(header(seen, "x-b3-traceid"), TRACE);
    assert_eq!(header(seen, "x-b3-sampled"), "0");
    // A sampled request after it: once its spans arrive, the first one's would have too.
    gw.get("a.example", "/loud").send().await.unwrap();
    let spans = collector.wait_for_spans(2).await;
    assert!(spans.iter().all(|s| s.trace_id != TRACE), "{spans:#?}");
    assert!(spans
        .iter()
        .all(|s| s.attr("http.url").ends_with("/loud") || s.kind == 3));
}

#[tokio::test]
async fn an_incoming_b3_single_header_is_continued_even_at_zero_percent() {
    let collector = OtlpReceiver::start().await;
    let be = Backend::start("app").await;
    let gw =
        TestGateway::start_with(&app_config(be.port()), traced(collector.http_url(), 0.0)).await;
    let resp = gw
        .get("a.example", "/")
        .header("b3", &format!("{TRACE}-{CALLER}-1"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status, 200);
    let spans = collector.wait_for_spans(2).await;
    let (server, clients) = trace_of(&spans, TRACE);
    assert_eq!(server.parent_span_id.as_deref(), Some(CALLER));
    assert_eq!(server.flags, 0x301, "sampled, with a remote parent");
    let client = &clients[0];
    let seen = &be.requests()[0];
    assert_eq!(
        header(seen, "b3"),
        format!("{TRACE}-{}-1-{}", client.span_id, server.span_id),
        "the single header is rewritten, not left stale"
    );
    assert_eq!(
        header(seen, "traceparent"),
        format!("00-{TRACE}-{}-01", client.span_id)
    );
}

#[tokio::test]
async fn zero_percent_exports_no_new_trace() {
    let collector = OtlpReceiver::start().await;
    let be = Backend::start("app").await;
    let gw =
        TestGateway::start_with(&app_config(be.port()), traced(collector.http_url(), 0.0)).await;
    assert_eq!(
        gw.get("a.example", "/new").send().await.unwrap().status,
        200
    );
    let fresh = header(&be.requests()[0], "traceparent");
    assert!(fresh.ends_with("-00"), "a new, unsampled trace: {fresh}");
    // Only a caller's sampled context is exported; the fresh trace never is.
    let marked = format!("00-{TRACE}-{CALLER}-01");
    gw.get("a.example", "/marked")
        .header("traceparent", &marked)
        .send()
        .await
        .unwrap();
    let spans = collector.wait_for_spans(2).await;
    assert!(spans.iter().all(|s| s.trace_id == TRACE), "{spans:#?}");
}

#[tokio::test]
async fn a_collector_that_is_down_costs_requests_nothing_and_spans_are_counted_dropped() {
    let be = Backend::start("app").await;
    let url = format!("http://127.0.0.1:{}/v1/traces", free_port());
    let gw = TestGateway::start_with(&app_config(be.port()), move |opts| {
        traced(url, 100.0)(opts);
        if let Some(settings) = &mut opts.tracing {
            settings.queue = 4;
        }
    })
    .await;
    for _ in 0..10 {
        assert_eq!(gw.get("a.example", "/").send().await.unwrap().status, 200);
    }
    let text = gw.admin("/stats/prometheus").await.body;
    let dropped: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("rampart_tracing_spans_dropped_total{reason=\"queue_full\"} "))
        .expect("the drop counter is shown")
        .parse()
        .unwrap();
    assert!(
        dropped >= 10,
        "20 spans, at most 8 held: {dropped} dropped\n{text}"
    );
    assert!(
        text.contains("rampart_tracing_spans_exported_total 0"),
        "{text}"
    );
}

#[tokio::test]
async fn the_grpc_exporter_delivers_too() {
    let collector = OtlpReceiver::start().await;
    let be = Backend::start("app").await;
    let gw =
        TestGateway::start_with(&app_config(be.port()), traced(collector.grpc_url(), 100.0)).await;
    assert_eq!(gw.get("a.example", "/").send().await.unwrap().status, 200);
    let spans = collector.wait_for_spans(2).await;
    assert!(spans.iter().all(|s| s.protocol == "grpc"), "{spans:#?}");
    assert_eq!(collector.requests().0, 0, "nothing over OTLP/HTTP");
    assert!(collector.errors().is_empty());
}

#[tokio::test]
async fn a_telemetry_resource_sets_the_sampling_percentage() {
    let collector = OtlpReceiver::start().await;
    let be = Backend::start("app").await;
    let telemetry = "---
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: mesh-default, namespace: istio-system}
spec:
  tracing: [{randomSamplingPercentage: 100.0}]
";
    let yaml = format!("{}{telemetry}", app_config(be.port()));
    // 0 % on the command line; the resource says 100 %.
    let gw = TestGateway::start_with(&yaml, traced(collector.http_url(), 0.0)).await;
    assert_eq!(gw.get("a.example", "/").send().await.unwrap().status, 200);
    let spans = collector.wait_for_spans(2).await;
    assert_eq!(of_kind(&spans, 2).len(), 1);
}

#[tokio::test]
async fn without_tracing_trace_headers_pass_through_untouched() {
    let be = Backend::start("app").await;
    let gw = TestGateway::start(&app_config(be.port())).await;
    let traceparent = format!("00-{TRACE}-{CALLER}-01");
    let b3 = format!("{TRACE}-{CALLER}-1");
    gw.get("a.example", "/")
        .header("traceparent", &traceparent)
        .header("b3", &b3)
        .send()
        .await
        .unwrap();
    let seen = &be.requests()[0];
    assert_eq!(header(seen, "traceparent"), traceparent);
    assert_eq!(header(seen, "b3"), b3);
    assert!(seen.headers.get("x-b3-traceid").is_none());
}

#[tokio::test]
async fn failed_attempts_and_the_failed_request_are_error_spans() {
    let collector = OtlpReceiver::start().await;
    let closed = free_port();
    let endpoints = format!("  - {{address: 127.0.0.1, ports: {{http: {closed}}}}}\n");
    let yaml = format!(
        "{G0}{}{}",
        app_with_endpoints(&endpoints),
        retrying("{attempts: 1, retryOn: connect-failure}")
    );
    let gw = TestGateway::start_with(&yaml, traced(collector.http_url(), 100.0)).await;
    let resp = gw.get(HOST, "/").send().await.unwrap();
    assert_eq!(resp.status, 503);
    let spans = collector.wait_for_spans(3).await;
    let (server, clients) = trace_of(&spans, &spans[0].trace_id);
    assert_eq!(clients.len(), 2, "{spans:#?}");
    for client in &clients {
        assert_eq!(client.status_code, 2, "{client:#?}");
        assert_eq!(client.attr("response_flags"), "UF");
        assert_eq!(client.attr("error"), "true");
        assert!(client.status_message.contains("connect"), "{client:#?}");
    }
    assert_eq!(server.status_code, 2);
    assert_eq!(server.attr("http.status_code"), "503");
    assert!(server.attr("response_flags").contains("UF"), "{server:#?}");
}
