//! Distributed tracing at the gateway, as Envoy does it for Istio.
//!
//! - [`propagation`]: the caller's context (W3C `traceparent`/`tracestate`, B3 single and multi)
//!   in, the gateway's out (W3C and B3, with the attempt's span as the parent).
//! - [`sampler`]: parent-based, then a percentage of new traces.
//! - [`RequestTrace`]: one request's server span and its per-attempt CLIENT spans.
//! - [`Tracer`]: the bounded, lock-free queue spans wait in; [`Exporter`] drains it in batches
//!   to an OTLP collector ([`endpoint`]: HTTP/protobuf or gRPC), encoded by [`otlp`].
//!
//! The request path parses headers, draws ids, and (when sampled) fills a span and pushes it
//! on the queue; it never waits for the exporter.

pub mod endpoint;
pub mod export;
pub mod id;
pub mod otlp;
pub mod propagation;
mod proto;
pub mod request;
pub mod sampler;
pub mod span;
pub mod tracer;
mod transport;

pub use endpoint::{Endpoint, EndpointError, Protocol};
pub use export::Exporter;
pub use id::{SpanId, TraceId};
pub use request::{ActiveSpan, RequestTrace};
pub use span::{Span, SpanKind, StatusCode};
pub use tracer::{Settings, Tracer};
