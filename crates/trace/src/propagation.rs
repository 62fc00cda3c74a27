//! Propagation: the trace context an incoming request carries, and the one sent upstream.
//!
//! Read, in this order (the first well-formed one wins): W3C `traceparent` (with `tracestate`),
//! B3 single (`b3`), B3 multi (`x-b3-traceid`, `x-b3-spanid`, `x-b3-sampled`, `x-b3-flags`).
//! Malformed headers count as absent: the request starts a new trace, never fails.
//!
//! Written upstream: both W3C `traceparent` and B3 multi (Envoy with Istio sends both), the
//! `b3` single header too when the caller used it (rewritten, so it never goes stale);
//! `tracestate` passes through untouched when the context came from `traceparent`, and is
//! dropped otherwise (it belongs to a `traceparent` that was not continued).

use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue};

use crate::id::{SpanId, TraceId};

/// `traceparent` (W3C Trace Context).
pub const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
/// `tracestate` (W3C Trace Context).
pub const TRACESTATE: HeaderName = HeaderName::from_static("tracestate");
/// `b3` (B3 single header).
pub const B3: HeaderName = HeaderName::from_static("b3");
/// `x-b3-traceid`.
pub const X_B3_TRACEID: HeaderName = HeaderName::from_static("x-b3-traceid");
/// `x-b3-spanid`.
pub const X_B3_SPANID: HeaderName = HeaderName::from_static("x-b3-spanid");
/// `x-b3-parentspanid`.
pub const X_B3_PARENTSPANID: HeaderName = HeaderName::from_static("x-b3-parentspanid");
/// `x-b3-sampled`.
pub const X_B3_SAMPLED: HeaderName = HeaderName::from_static("x-b3-sampled");
/// `x-b3-flags` (`1` = debug).
pub const X_B3_FLAGS: HeaderName = HeaderName::from_static("x-b3-flags");

/// The caller's span: the parent of this proxy's server span.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Parent {
    /// The trace continued.
    pub trace_id: TraceId,
    /// The caller's span.
    pub span_id: SpanId,
}

/// What an incoming request says about its trace.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Incoming {
    /// The caller's span, when the request continues a trace.
    pub parent: Option<Parent>,
    /// The caller's sampling decision; `None` leaves it to this proxy.
    pub sampled: Option<bool>,
    /// B3 debug (`x-b3-flags: 1`, `b3: …-d`): sampled, and said so upstream.
    pub debug: bool,
    /// The context came from `traceparent` (so `tracestate` goes with it).
    pub w3c: bool,
    /// The caller sent a `b3` single header (rewritten upstream).
    pub b3_single: bool,
    /// Which of the headers injection may remove the caller sent.
    pub present: Present,
}

/// Which of the propagation headers that injection may have to remove a request carried, so
/// that it removes only those (each removal costs a hash lookup).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Present(u8);

impl Present {
    /// Assume each of them may be there.
    pub const ALL: Present = Present(0xff);
    const TRACESTATE: u8 = 1;
    const PARENTSPANID: u8 = 2;
    const SAMPLED: u8 = 4;
    const FLAGS: u8 = 8;

    fn has(self, bit: u8) -> bool {
        self.0 & bit != 0
    }
}

/// The context sent to an upstream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outgoing {
    /// The trace.
    pub trace_id: TraceId,
    /// The span the upstream's work is a child of (the attempt's CLIENT span).
    pub span_id: SpanId,
    /// That span's parent (the server span), for `x-b3-parentspanid`; `None` leaves it out.
    pub parent_id: Option<SpanId>,
    /// Whether the trace is sampled.
    pub sampled: bool,
    /// B3 debug.
    pub debug: bool,
    /// Keep the caller's `tracestate` (else it is removed).
    pub w3c: bool,
    /// Write a `b3` single header too.
    pub b3_single: bool,
    /// What the caller sent that may need removing.
    pub present: Present,
}

/// A request's propagation headers, found in one pass over its headers: cheaper than a hash
/// lookup per name, as requests carry few headers and names are compared by length first.
#[derive(Default)]
struct Found<'a> {
    traceparent: Option<&'a HeaderValue>,
    b3: Option<&'a HeaderValue>,
    trace_id: Option<&'a HeaderValue>,
    span_id: Option<&'a HeaderValue>,
    sampled: Option<&'a HeaderValue>,
    flags: Option<&'a HeaderValue>,
    present: Present,
}

impl<'a> Found<'a> {
    fn scan(headers: &'a HeaderMap) -> Self {
        let mut found = Found::default();
        for (name, value) in headers {
            let (slot, bit) = match name.as_str() {
                "traceparent" => (&mut found.traceparent, 0),
                "b3" => (&mut found.b3, 0),
                "x-b3-traceid" => (&mut found.trace_id, 0),
                "x-b3-spanid" => (&mut found.span_id, 0),
                "x-b3-sampled" => (&mut found.sampled, Present::SAMPLED),
                "x-b3-flags" => (&mut found.flags, Present::FLAGS),
                "tracestate" => {
                    found.present.0 |= Present::TRACESTATE;
                    continue;
                }
                "x-b3-parentspanid" => {
                    found.present.0 |= Present::PARENTSPANID;
                    continue;
                }
                _ => continue,
            };
            found.present.0 |= bit;
            // The first of repeated headers counts.
            slot.get_or_insert(value);
        }
        found
    }
}

/// Reads the incoming context; never fails (malformed headers count as absent).
pub fn extract(headers: &HeaderMap) -> Incoming {
    let found = Found::scan(headers);
    let context = found
        .traceparent
        .and_then(|v| traceparent(v.as_bytes()))
        .or_else(|| found.b3.and_then(|v| b3_single(v.as_bytes())))
        .or_else(|| b3_multi(&found))
        .unwrap_or_default();
    Incoming {
        b3_single: found.b3.is_some(),
        present: found.present,
        ..context
    }
}

/// Writes `out` into the upstream request's headers, replacing what the caller sent.
pub fn inject(out: &Outgoing, headers: &mut HeaderMap) {
    // Every value is a slice of one buffer: one allocation per attempt instead of five.
    // 0..55 `traceparent`, 55..71 the parent id, 71.. the `b3` single header.
    let mut raw = [b'-'; 55 + 16 + 68];
    raw[..2].copy_from_slice(b"00");
    out.trace_id.write_hex(&mut raw[3..35]);
    out.span_id.write_hex(&mut raw[36..52]);
    raw[53] = b'0';
    raw[54] = if out.sampled { b'1' } else { b'0' };
    if let Some(id) = out.parent_id {
        id.write_hex(&mut raw[55..71]);
    }
    let mut len = 71;
    if out.b3_single {
        // {trace}-{span}-{sampling}[-{parent}]
        raw.copy_within(3..35, 71);
        raw.copy_within(36..52, 104);
        raw[121] = sampled_flag(out).as_bytes()[0];
        raw.copy_within(55..71, 123);
        len = if out.parent_id.is_some() { 139 } else { 122 };
    }
    let shared = Bytes::copy_from_slice(&raw[..len]);
    let value = |range: std::ops::Range<usize>| {
        HeaderValue::from_maybe_shared(shared.slice(range))
            .expect("hex digits and dashes make a valid header value")
    };
    headers.insert(TRACEPARENT, value(0..55));
    if !out.w3c && out.present.has(Present::TRACESTATE) {
        headers.remove(TRACESTATE);
    }
    headers.insert(X_B3_TRACEID, value(3..35));
    headers.insert(X_B3_SPANID, value(36..52));
    if out.parent_id.is_some() {
        headers.insert(X_B3_PARENTSPANID, value(55..71));
    } else if out.present.has(Present::PARENTSPANID) {
        headers.remove(X_B3_PARENTSPANID);
    }
    // B3: debug implies sampled, and then `x-b3-sampled` is not sent.
    if out.debug {
        headers.insert(X_B3_FLAGS, HeaderValue::from_static("1"));
        if out.present.has(Present::SAMPLED) {
            headers.remove(X_B3_SAMPLED);
        }
    } else {
        if out.present.has(Present::FLAGS) {
            headers.remove(X_B3_FLAGS);
        }
        headers.insert(X_B3_SAMPLED, HeaderValue::from_static(sampled_flag(out)));
    }
    if out.b3_single {
        headers.insert(B3, value(71..len));
    }
}

fn sampled_flag(out: &Outgoing) -> &'static str {
    match (out.debug, out.sampled) {
        (true, _) => "d",
        (false, true) => "1",
        (false, false) => "0",
    }
}

/// `version-traceid-parentid-flags` (W3C Trace Context §3.2). Versions above `00` may add
/// fields after a dash; `ff` is invalid.
fn traceparent(s: &[u8]) -> Option<Incoming> {
    if s.len() < 55 || [s[2], s[35], s[52]] != [b'-'; 3] {
        return None;
    }
    let version = hex_byte(&s[..2])?;
    let fits = match version {
        0xff => false,
        0 => s.len() == 55,
        _ => s.len() == 55 || s[55] == b'-',
    };
    if !fits {
        return None;
    }
    let flags = hex_byte(&s[53..55])?;
    Some(Incoming {
        parent: Some(Parent {
            trace_id: TraceId::from_hex(&s[3..35])?,
            span_id: SpanId::from_hex(&s[36..52])?,
        }),
        sampled: Some(flags & 1 == 1),
        w3c: true,
        ..Incoming::default()
    })
}

/// `{traceid}-{spanid}[-{sampling}[-{parentspanid}]]`, or the sampling state alone.
fn b3_single(s: &[u8]) -> Option<Incoming> {
    let mut parts = s.split(|&b| b == b'-');
    let first = parts.next()?;
    let Some(span) = parts.next() else {
        return b3_sampling(first).map(|(sampled, debug)| Incoming {
            sampled: Some(sampled),
            debug,
            ..Incoming::default()
        });
    };
    let trace_id = TraceId::from_hex(first)?;
    let span_id = SpanId::from_hex(span)?;
    let (sampled, debug) = match parts.next() {
        Some(flag) => b3_sampling(flag).map(|(s, d)| (Some(s), d))?,
        None => (None, false),
    };
    if let Some(parent) = parts.next() {
        SpanId::from_hex(parent)?;
    }
    if parts.next().is_some() {
        return None;
    }
    Some(Incoming {
        parent: Some(Parent { trace_id, span_id }),
        sampled,
        debug,
        ..Incoming::default()
    })
}

/// `1`, `0` or `d` (debug): (sampled, debug).
fn b3_sampling(s: &[u8]) -> Option<(bool, bool)> {
    match s {
        b"1" => Some((true, false)),
        b"0" => Some((false, false)),
        b"d" => Some((true, true)),
        _ => None,
    }
}

/// The `x-b3-*` headers. Ids must come as a valid pair (a span id alone counts as absent); a
/// sampling decision may come alone.
fn b3_multi(found: &Found<'_>) -> Option<Incoming> {
    let debug = found.flags.is_some_and(|v| v == "1");
    let sampled = match found.sampled.map(HeaderValue::as_bytes) {
        _ if debug => Some(true),
        Some(b"1" | b"true") => Some(true),
        Some(b"0" | b"false") => Some(false),
        _ => None,
    };
    let parent = match found.trace_id {
        None => None,
        Some(t) => Some(Parent {
            trace_id: TraceId::from_hex(t.as_bytes())?,
            span_id: SpanId::from_hex(found.span_id?.as_bytes())?,
        }),
    };
    if parent.is_none() && sampled.is_none() {
        return None;
    }
    Some(Incoming {
        parent,
        sampled,
        debug,
        ..Incoming::default()
    })
}

fn hex_byte(s: &[u8]) -> Option<u8> {
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    Some((digit(s[0])? << 4) | digit(s[1])?)
}

#[cfg(test)]
mod tests;
