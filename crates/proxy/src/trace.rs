//! Tracing on the request path (the spans themselves are `rampart_trace`'s): the server span
//! begins when the request arrives and ends with the last byte of the response body; each
//! upstream attempt gets a CLIENT span, whose id is sent upstream as the parent (W3C and B3).
//! Nothing here runs when tracing is off: each hook is one `None` check, and trace headers pass
//! through untouched.
//!
//! Names and attributes follow Envoy's tracer under Istio: the server span is named after the
//! destination as Istio's route decorator does (`<host>:<port>/*`), or the route's name when it
//! does not forward, or `ingress` when no route matched; attempts are `router <cluster> egress`.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{HOST, USER_AGENT};
use http::{HeaderMap, Request, Response, Version};
use http_body::{Body, Frame, SizeHint};
use rampart_telemetry::ResponseFlags;
use rampart_trace::span::Text;
use rampart_trace::{ActiveSpan, Span};
use rampart_upstream::{Cluster, Endpoint};

pub use rampart_trace::RequestTrace;

use crate::active::Active;
use crate::body::ResponseBody;
use crate::error::Error;
use crate::headers;
use crate::request::ConnCx;

/// Longest `http.url` recorded (Envoy's `max_path_tag_length` default).
const MAX_URL: usize = 256;

/// Starts the request's trace (continuing the caller's); `None` when tracing is off. A sampled
/// request gets its `x-request-id` now (Envoy makes it on arrival) so the span can carry it.
pub fn begin<'a, B>(
    req: &mut Request<B>,
    cx: &'a ConnCx,
    active: &Active,
) -> Option<RequestTrace<'a>> {
    let tracer = cx.shared.options.tracer.as_ref()?;
    let mut trace = tracer.start_request(req.headers(), active.model.tracing_sampling);
    if let Some(span) = trace.span_mut() {
        headers::ensure_request_id(req.headers_mut());
        describe_request(span, req, cx);
    }
    Some(trace)
}

fn describe_request<B>(span: &mut Span, req: &Request<B>, cx: &ConnCx) {
    let h = req.headers();
    span.set("http.method", req.method().as_str().to_owned());
    span.set("http.url", url(req, cx));
    span.set(
        "http.protocol",
        match req.version() {
            Version::HTTP_2 => "HTTP/2",
            Version::HTTP_10 => "HTTP/1.0",
            _ => "HTTP/1.1",
        },
    );
    span.set("user_agent", text(h.get(USER_AGENT)));
    span.set("peer.address", text(Some(&cx.peer_header)));
    span.set("guid:x-request-id", text(h.get(headers::X_REQUEST_ID)));
}

/// `scheme://authority/path?query`, cut at [`MAX_URL`] bytes.
fn url<B>(req: &Request<B>, cx: &ConnCx) -> String {
    let authority = req
        .headers()
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| req.uri().authority().map(|a| a.as_str()))
        .unwrap_or("");
    let path = req.uri().path_and_query().map_or("/", |pq| pq.as_str());
    let mut url = format!("{}://{authority}{path}", cx.scheme);
    if url.len() > MAX_URL {
        let mut cut = MAX_URL;
        while !url.is_char_boundary(cut) {
            cut -= 1;
        }
        url.truncate(cut);
    }
    url
}

fn text(v: Option<&http::HeaderValue>) -> String {
    v.map_or_else(
        || "-".to_owned(),
        |v| String::from_utf8_lossy(v.as_bytes()).into_owned(),
    )
}

/// The route forwards to `cluster`: the server span takes Istio's decorator name and the
/// cluster; with `mirrored`, the copies (made before any attempt) get the server span as their
/// parent.
pub fn forwarding(
    trace: &mut RequestTrace<'_>,
    cluster: &Cluster,
    headers: &mut HeaderMap,
    mirrored: bool,
) {
    if mirrored {
        trace.inject(headers);
    }
    if let Some(span) = trace.span_mut() {
        span.name = Text::Owned(format!("{}:{}/*", cluster.key.host, cluster.key.port));
        span.set("upstream_cluster", cluster.key.to_string());
    }
}

/// Starts attempt `n` (1 = the first try) on `endpoint`: the context goes into the attempt's
/// `headers`, and its CLIENT span (when sampled) is returned to end with [`attempt_done`].
pub fn attempt(
    trace: &RequestTrace<'_>,
    cluster: &Cluster,
    endpoint: &Endpoint,
    n: u32,
    headers: &mut HeaderMap,
) -> Option<ActiveSpan> {
    let mut active = trace.attempt(headers)?;
    let span = active.span_mut();
    span.name = Text::Owned(format!("router {} egress", cluster.key));
    span.set("upstream_cluster", cluster.key.to_string());
    span.set("upstream_address", endpoint.address.to_string());
    span.set("retry.count", i64::from(n.saturating_sub(1)));
    Some(active)
}

/// Ends an attempt's span: the status the upstream answered (5xx is an error), or why there
/// was no answer.
pub fn attempt_done(mut active: ActiveSpan, outcome: Result<u16, &Error>) {
    let span = active.span_mut();
    match outcome {
        Ok(status) => {
            span.set("http.status_code", status.to_string());
            if status >= 500 {
                span.fail(format!("upstream answered {status}"));
            }
        }
        Err(err) => {
            span.set("response_flags", err.outcome().1.as_str());
            span.fail(err.to_string());
        }
    }
    active.finish();
}

/// Completes the server span with the response (status, flags, the route when nothing was
/// forwarded); it ends with the body.
pub fn finish(
    trace: RequestTrace<'_>,
    resp: Response<ResponseBody>,
    flags: ResponseFlags,
    route: Option<&str>,
) -> Response<ResponseBody> {
    let Some(mut active) = trace.into_server_span() else {
        return resp;
    };
    let span = active.span_mut();
    if span.name.as_str().is_empty() {
        span.name = match route.filter(|r| *r != "-") {
            Some(route) => Text::Owned(route.to_owned()),
            None => Text::Static("ingress"),
        };
    }
    let status = resp.status().as_u16();
    span.set("http.status_code", status.to_string());
    span.set("response_flags", flags.to_string());
    if status >= 500 {
        span.fail(format!("{status} {flags}"));
    }
    if resp.body().is_end_stream() {
        active.finish();
        return resp;
    }
    resp.map(|inner| {
        ResponseBody::Traced(Box::new(Traced {
            inner,
            span: Some(active),
        }))
    })
}

/// A response body that ends the server span with its last frame, or when it is dropped
/// (the client went away, or the body is not sent: `HEAD`).
#[derive(Debug)]
pub struct Traced {
    inner: ResponseBody,
    span: Option<ActiveSpan>,
}

impl Traced {
    fn end(&mut self, failure: Option<String>) {
        if let Some(mut active) = self.span.take() {
            if let Some(why) = failure {
                active.span_mut().fail(why);
            }
            active.finish();
        }
    }
}

impl Drop for Traced {
    fn drop(&mut self) {
        self.end(None);
    }
}

impl Body for Traced {
    type Data = Bytes;
    type Error = rampart_upstream::error::BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        let frame = std::task::ready!(Pin::new(&mut this.inner).poll_frame(cx));
        match &frame {
            Some(Err(e)) => this.end(Some(format!("response body: {e}"))),
            None => this.end(None),
            // Ended now, before the last bytes reach the client.
            Some(Ok(_)) if this.inner.is_end_stream() => this.end(None),
            Some(Ok(_)) => {}
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
