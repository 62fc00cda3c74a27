//! One request's trace: the context it continues or starts, its sampling decision, its server
//! span (when sampled), and a CLIENT span per upstream attempt. Unsampled requests still get
//! span ids, so the context sent upstream is well formed and says "not sampled".

use std::sync::Arc;
use std::time::SystemTime;

use http::HeaderMap;

use crate::id::{SpanId, TraceId};
use crate::propagation::{self, Outgoing, TRACESTATE};
use crate::sampler;
use crate::span::{Span, SpanKind};
use crate::tracer::Tracer;

/// The trace of one downstream request.
#[derive(Debug)]
pub struct RequestTrace<'a> {
    tracer: &'a Arc<Tracer>,
    trace_id: TraceId,
    /// The server span's id (whether or not it is sampled).
    span_id: SpanId,
    /// The caller's span, when the request continues a trace.
    parent: Option<SpanId>,
    sampled: bool,
    debug: bool,
    w3c: bool,
    b3_single: bool,
    present: propagation::Present,
    span: Option<Box<Span>>,
}

impl<'a> RequestTrace<'a> {
    pub(crate) fn new(tracer: &'a Arc<Tracer>, headers: &HeaderMap, percent: f64) -> Self {
        let incoming = propagation::extract(headers);
        let trace_id = incoming.parent.map_or_else(TraceId::random, |p| p.trace_id);
        let parent = incoming.parent.map(|p| p.span_id);
        let sampled = sampler::decide(incoming.sampled, &trace_id, percent);
        let span_id = SpanId::random();
        let span = sampled.then(|| {
            let mut span = Box::new(Span::start(trace_id, span_id, parent, SpanKind::Server));
            span.remote_parent = parent.is_some();
            if incoming.w3c {
                span.trace_state = headers.get(TRACESTATE).cloned();
            }
            span
        });
        Self {
            tracer,
            trace_id,
            span_id,
            parent,
            sampled,
            debug: incoming.debug,
            w3c: incoming.w3c,
            b3_single: incoming.b3_single,
            present: incoming.present,
            span,
        }
    }

    /// The trace.
    pub fn trace_id(&self) -> TraceId {
        self.trace_id
    }

    /// The server span's id.
    pub fn span_id(&self) -> SpanId {
        self.span_id
    }

    /// Whether spans of this request are exported.
    pub fn sampled(&self) -> bool {
        self.sampled
    }

    /// The server span, to add attributes to (only when sampled).
    pub fn span_mut(&mut self) -> Option<&mut Span> {
        self.span.as_deref_mut()
    }

    /// Sends the server span upstream as the parent (for copies made before any attempt, such
    /// as mirrors).
    pub fn inject(&self, headers: &mut HeaderMap) {
        propagation::inject(&self.outgoing(self.span_id, self.parent), headers);
    }

    /// Starts one upstream attempt: a new span id, sent upstream as the parent in `headers`;
    /// its CLIENT span when sampled (named and described by the caller).
    pub fn attempt(&self, headers: &mut HeaderMap) -> Option<ActiveSpan> {
        let id = SpanId::random();
        propagation::inject(&self.outgoing(id, Some(self.span_id)), headers);
        let server = self.span.as_deref()?;
        let mut span = Box::new(Span::start(
            self.trace_id,
            id,
            Some(self.span_id),
            SpanKind::Client,
        ));
        span.trace_state = server.trace_state.clone();
        Some(ActiveSpan::new(span, self.tracer.clone()))
    }

    /// The server span, to finish when the response ends (`None` when not sampled).
    pub fn into_server_span(self) -> Option<ActiveSpan> {
        let tracer = self.tracer.clone();
        self.span.map(|span| ActiveSpan::new(span, tracer))
    }

    fn outgoing(&self, span_id: SpanId, parent_id: Option<SpanId>) -> Outgoing {
        Outgoing {
            trace_id: self.trace_id,
            span_id,
            parent_id,
            sampled: self.sampled,
            debug: self.debug,
            w3c: self.w3c,
            b3_single: self.b3_single,
            present: self.present,
        }
    }
}

/// A sampled span being timed. It is queued for export when [`finish`](Self::finish)ed, or when
/// dropped, then marked failed ("cancelled": the request or attempt was abandoned midway).
#[derive(Debug)]
pub struct ActiveSpan {
    span: Option<Box<Span>>,
    tracer: Arc<Tracer>,
    finished: bool,
}

impl ActiveSpan {
    fn new(span: Box<Span>, tracer: Arc<Tracer>) -> Self {
        Self {
            span: Some(span),
            tracer,
            finished: false,
        }
    }

    /// The span, to add attributes to.
    pub fn span_mut(&mut self) -> &mut Span {
        self.span
            .as_deref_mut()
            .expect("the span is only taken when dropped")
    }

    /// Ends the span now and queues it.
    pub fn finish(mut self) {
        self.finished = true;
    }
}

impl Drop for ActiveSpan {
    fn drop(&mut self) {
        let Some(mut span) = self.span.take() else {
            return;
        };
        if !self.finished {
            span.fail("cancelled");
        }
        span.end = SystemTime::now();
        self.tracer.record(span);
    }
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;
    use crate::endpoint::Endpoint;
    use crate::span::StatusCode;
    use crate::tracer::Settings;

    const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    const CALLER: &str = "00f067aa0ba902b7";

    fn tracer(sampling: f64) -> Arc<Tracer> {
        let endpoint = Endpoint::parse("http://127.0.0.1:9", None).unwrap();
        let settings = Settings {
            sampling,
            ..Settings::new(endpoint)
        };
        Tracer::new(settings).0
    }

    fn traceparent(flags: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        let v = format!("00-{TRACE}-{CALLER}-{flags}");
        h.insert(propagation::TRACEPARENT, HeaderValue::from_str(&v).unwrap());
        h.insert(TRACESTATE, HeaderValue::from_static("k=v"));
        h
    }

    fn header(h: &HeaderMap, name: &str) -> String {
        h.get(name).unwrap().to_str().unwrap().to_string()
    }

    #[test]
    fn a_continued_trace_parents_each_attempt_on_the_server_span() {
        let tracer = tracer(0.0);
        let trace = tracer.start_request(&traceparent("01"), None);
        assert!(trace.sampled(), "the caller's decision wins over 0%");
        assert_eq!(trace.trace_id().to_string(), TRACE);
        let mut upstream = HeaderMap::new();
        let mut attempt = trace.attempt(&mut upstream).unwrap();
        let attempt_id = attempt.span_mut().span_id;
        assert_eq!(attempt.span_mut().parent, Some(trace.span_id()));
        assert_eq!(
            header(&upstream, "traceparent"),
            format!("00-{TRACE}-{attempt_id}-01")
        );
        assert_eq!(header(&upstream, "x-b3-spanid"), attempt_id.to_string());
        assert_eq!(
            header(&upstream, "x-b3-parentspanid"),
            trace.span_id().to_string()
        );
        attempt.finish();
        let server = trace.into_server_span().unwrap();
        drop(server);
        let spans = tracer.drain();
        assert_eq!(spans.len(), 2);
        let (client, server) = (&spans[0], &spans[1]);
        assert_eq!(client.status, StatusCode::Unset);
        assert_eq!(server.parent.unwrap().to_string(), CALLER);
        assert!(server.remote_parent);
        assert_eq!(server.trace_state.as_ref().unwrap(), "k=v");
        assert_eq!(client.trace_state, server.trace_state);
        assert_eq!(server.status, StatusCode::Error, "dropped unfinished");
        assert_eq!(server.status_message.as_str(), "cancelled");
    }

    #[test]
    fn an_unsampled_caller_is_propagated_but_not_recorded() {
        let tracer = tracer(100.0);
        let trace = tracer.start_request(&traceparent("00"), None);
        assert!(!trace.sampled());
        let mut upstream = HeaderMap::new();
        assert!(trace.attempt(&mut upstream).is_none());
        let tp = header(&upstream, "traceparent");
        assert!(
            tp.starts_with(&format!("00-{TRACE}-")) && tp.ends_with("-00"),
            "{tp}"
        );
        assert!(!tp.contains(CALLER), "the gateway's own span is the parent");
        assert_eq!(header(&upstream, "x-b3-sampled"), "0");
        assert!(trace.into_server_span().is_none());
        assert!(tracer.drain().is_empty());
    }

    #[test]
    fn the_snapshot_percentage_overrides_the_default() {
        let none = HeaderMap::new();
        assert!(!tracer(100.0).start_request(&none, Some(0.0)).sampled());
        assert!(tracer(0.0).start_request(&none, Some(100.0)).sampled());
        assert!(tracer(100.0).start_request(&none, None).sampled());
    }

    #[test]
    fn a_new_trace_has_no_parent_and_mirrors_get_the_server_span() {
        let tracer = tracer(100.0);
        let trace = tracer.start_request(&HeaderMap::new(), None);
        let mut mirror = HeaderMap::new();
        trace.inject(&mut mirror);
        let tp = header(&mirror, "traceparent");
        assert!(tp.contains(&trace.span_id().to_string()), "{tp}");
        assert!(mirror.get("x-b3-parentspanid").is_none());
        let server = trace.into_server_span().unwrap();
        server.finish();
        let spans = tracer.drain();
        assert_eq!(spans[0].parent, None);
        assert!(!spans[0].remote_parent);
    }
}
