//! What tracing costs a request on the worker: reading the caller's context, the sampling
//! decision, and writing the upstream headers for one attempt. Unsampled (the 99% case at
//! Istio's default 1%) with and without an incoming `traceparent`; and sampled, building both
//! spans (the queue is kept full, so the push is the drop path: the exporter is not running).

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use http::{HeaderMap, HeaderValue};
use rampart_trace::{Endpoint, Settings, Tracer};

fn request_headers(traceparent: bool) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("host", HeaderValue::from_static("shop.example"));
    h.insert("user-agent", HeaderValue::from_static("curl/8.5.0"));
    h.insert("accept", HeaderValue::from_static("*/*"));
    if traceparent {
        h.insert(
            "traceparent",
            HeaderValue::from_static("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"),
        );
    }
    h
}

/// The request's headers with room for more, as the upstream request has after the proxy
/// headers are added.
fn roomy(incoming: &HeaderMap) -> HeaderMap {
    let mut h = incoming.clone();
    h.reserve(16);
    h
}

fn tracer(sampling: f64) -> std::sync::Arc<Tracer> {
    let endpoint = Endpoint::parse("http://127.0.0.1:4318", None).unwrap();
    Tracer::new(Settings {
        sampling,
        queue: 1,
        ..Settings::new(endpoint)
    })
    .0
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("trace");
    for (name, sampling, traceparent) in [
        ("unsampled_new_trace", 0.0, false),
        ("unsampled_continued", 100.0, true),
        ("sampled_new_trace", 100.0, false),
    ] {
        let tracer = tracer(sampling);
        let incoming = request_headers(traceparent);
        g.bench_function(name, |b| {
            b.iter(|| {
                let trace = tracer.start_request(black_box(&incoming), None);
                let mut upstream = roomy(&incoming);
                let attempt = trace.attempt(&mut upstream);
                if let Some(a) = attempt {
                    a.finish();
                }
                if let Some(server) = trace.into_server_span() {
                    server.finish();
                }
                black_box(upstream)
            })
        });
    }
    // The baseline: the header-map copy every iteration above also pays.
    let incoming = request_headers(false);
    g.bench_function("baseline_clone", |b| b.iter(|| black_box(roomy(&incoming))));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
