//! One finished (or finishing) span, as it is queued for export: ids, name, kind, times,
//! status and attributes. Attribute keys are `'static` (Envoy's tag names); values borrow what
//! is shared (`Arc<str>`) and own only what is per request.

use std::sync::Arc;
use std::time::SystemTime;

use http::HeaderValue;

use crate::id::{SpanId, TraceId};

/// OTLP `Span.SpanKind`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpanKind {
    /// The gateway's span for a downstream request.
    Server = 2,
    /// One upstream attempt.
    Client = 3,
}

/// OTLP `Status.StatusCode`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StatusCode {
    /// No judgement (Envoy leaves successful spans unset).
    #[default]
    Unset = 0,
    /// The operation failed (5xx, reset, timeout).
    Error = 2,
}

/// Text that is static, shared or owned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Text {
    /// A literal.
    Static(&'static str),
    /// Shared with other spans (cluster names).
    Shared(Arc<str>),
    /// Made for this span.
    Owned(String),
}

impl Text {
    /// The text.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Static(s) => s,
            Self::Shared(s) => s,
            Self::Owned(s) => s,
        }
    }
}

impl Default for Text {
    fn default() -> Self {
        Self::Static("")
    }
}

/// An attribute value (OTLP `AnyValue`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// `string_value`.
    Text(Text),
    /// `int_value`.
    Int(i64),
    /// `bool_value`.
    Bool(bool),
}

impl From<&'static str> for Value {
    fn from(s: &'static str) -> Self {
        Self::Text(Text::Static(s))
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Self::Text(Text::Owned(s))
    }
}

impl From<Arc<str>> for Value {
    fn from(s: Arc<str>) -> Self {
        Self::Text(Text::Shared(s))
    }
}

impl From<i64> for Value {
    fn from(n: i64) -> Self {
        Self::Int(n)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Self::Bool(b)
    }
}

/// One key/value attribute (OTLP `KeyValue`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attribute {
    /// Key, e.g. `http.status_code`.
    pub key: &'static str,
    /// Value.
    pub value: Value,
}

/// Attributes a span usually carries; one allocation covers them.
const ATTRIBUTES: usize = 14;

/// A span.
#[derive(Clone, Debug)]
pub struct Span {
    /// The trace.
    pub trace_id: TraceId,
    /// This span.
    pub span_id: SpanId,
    /// Its parent, if any.
    pub parent: Option<SpanId>,
    /// The parent is in another process (a caller's span).
    pub remote_parent: bool,
    /// W3C `tracestate` of the context, when it came with one.
    pub trace_state: Option<HeaderValue>,
    /// Operation name.
    pub name: Text,
    /// Server or client.
    pub kind: SpanKind,
    /// When it started.
    pub start: SystemTime,
    /// When it ended (set when it finishes).
    pub end: SystemTime,
    /// Error or unset.
    pub status: StatusCode,
    /// Why it failed, when it did.
    pub status_message: Text,
    /// Attributes (tags).
    pub attributes: Vec<Attribute>,
}

impl Span {
    /// A span starting now; attributes and name are added by the caller.
    pub fn start(
        trace_id: TraceId,
        span_id: SpanId,
        parent: Option<SpanId>,
        kind: SpanKind,
    ) -> Self {
        let now = SystemTime::now();
        Self {
            trace_id,
            span_id,
            parent,
            remote_parent: false,
            trace_state: None,
            name: Text::default(),
            kind,
            start: now,
            end: now,
            status: StatusCode::Unset,
            status_message: Text::default(),
            attributes: Vec::with_capacity(ATTRIBUTES),
        }
    }

    /// Adds an attribute.
    pub fn set(&mut self, key: &'static str, value: impl Into<Value>) {
        self.attributes.push(Attribute {
            key,
            value: value.into(),
        });
    }

    /// Marks the span failed, with a message (Envoy also tags `error: true`).
    pub fn fail(&mut self, message: impl Into<Text>) {
        if self.status != StatusCode::Error {
            self.set("error", "true");
        }
        self.status = StatusCode::Error;
        self.status_message = message.into();
    }

    /// The value of attribute `key`, if set (for tests and late decisions).
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.attributes
            .iter()
            .find(|a| a.key == key)
            .map(|a| &a.value)
    }
}

impl From<&'static str> for Text {
    fn from(s: &'static str) -> Self {
        Self::Static(s)
    }
}

impl From<String> for Text {
    fn from(s: String) -> Self {
        Self::Owned(s)
    }
}

impl From<Arc<str>> for Text {
    fn from(s: Arc<str>) -> Self {
        Self::Shared(s)
    }
}
