//! Proxy headers: hop-by-hop stripping, `x-forwarded-*`, `x-request-id`,
//! `x-envoy-upstream-service-time`.

use http::header::{self, Entry, HeaderMap, HeaderName, HeaderValue};

/// `x-request-id`.
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// `x-forwarded-for`.
pub const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
/// `x-forwarded-proto`.
pub const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
/// `x-envoy-upstream-service-time`.
pub const X_ENVOY_UPSTREAM_SERVICE_TIME: HeaderName =
    HeaderName::from_static("x-envoy-upstream-service-time");
/// `x-envoy-overloaded`.
pub const X_ENVOY_OVERLOADED: HeaderName = HeaderName::from_static("x-envoy-overloaded");

const PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");
const KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");

/// Whether the request asks for a protocol upgrade (WebSocket).
pub fn is_upgrade(headers: &HeaderMap) -> bool {
    headers.contains_key(header::UPGRADE)
        && headers.get_all(header::CONNECTION).iter().any(|v| {
            v.to_str().is_ok_and(|v| {
                v.split(',')
                    .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
            })
        })
}

/// Why a request's headers were refused (each gets 400 and the connection is closed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// A header name with `_` (Envoy's edge setting `headers_with_underscores_action:
    /// REJECT_REQUEST`: `x_forwarded_for` must not slip past checks on `x-forwarded-for`).
    Underscore,
    /// An HTTP/1.1 request without `Host` (RFC 9112 §3.2), or a `Host` that is not an
    /// authority.
    BadHost,
    /// `%2F` / `%5C` in the path while slashes are not decoded.
    EscapedSlash,
    /// `%00` in the path.
    EncodedNul,
    /// A JWT that failed verification (answered 401, connection kept).
    JwtInvalid,
    /// Denied by an AuthorizationPolicy (answered 403, connection kept).
    AuthzDenied,
    /// A connection over `--max-connections`, closed at accept.
    ConnectionLimit,
    /// An HTTP/1 head with both `Content-Length` and `Transfer-Encoding`.
    AmbiguousFraming,
    /// A `Content-Length` over `--max-request-body` (answered 413).
    BodyTooLarge,
    /// A TLS port got something other than a ClientHello, or an SNI no server serves (closed,
    /// as Envoy closes a connection without a matching filter chain).
    TlsNoChain,
    /// An HTTP/1 head whose `Transfer-Encoding` has no `chunked` (answered 501 and closed).
    UnknownCoding,
    /// The TLS handshake failed or timed out (no or bad client certificate, no shared version
    /// or cipher…).
    TlsHandshake,
}

impl Refusal {
    /// Every reason, in counter order.
    pub const ALL: [Refusal; 12] = [
        Self::Underscore,
        Self::BadHost,
        Self::EscapedSlash,
        Self::EncodedNul,
        Self::JwtInvalid,
        Self::AuthzDenied,
        Self::ConnectionLimit,
        Self::AmbiguousFraming,
        Self::BodyTooLarge,
        Self::UnknownCoding,
        Self::TlsNoChain,
        Self::TlsHandshake,
    ];

    /// Label for `rampart_downstream_rejected_total{reason}`.
    pub fn reason(self) -> &'static str {
        match self {
            Self::Underscore => "header_underscore",
            Self::BadHost => "bad_host",
            Self::EscapedSlash => "path_escaped_slash",
            Self::EncodedNul => "path_encoded_nul",
            Self::JwtInvalid => "jwt_invalid",
            Self::AuthzDenied => "authz_denied",
            Self::ConnectionLimit => "connection_limit",
            Self::AmbiguousFraming => "ambiguous_framing",
            Self::BodyTooLarge => "body_too_large",
            Self::UnknownCoding => "unknown_transfer_coding",
            Self::TlsNoChain => "tls_no_chain",
            Self::TlsHandshake => "tls_handshake_failed",
        }
    }
}

/// Edge sanitising, before routing: names with `_` and a missing or malformed HTTP/1.1 `Host`
/// are refused; `x-envoy-*` headers (Envoy's internal controls: timeouts, retries, original
/// path…) are removed, as Envoy removes them from external requests, and so is a client's own
/// `x-forwarded-client-cert` (Envoy's SANITIZE_SET: only the gateway sets it, from a verified
/// client certificate). One pass over the names; a Vec only when there is something to remove.
pub fn sanitize_request(version: http::Version, headers: &mut HeaderMap) -> Result<(), Refusal> {
    let mut internal: Vec<HeaderName> = Vec::new();
    for name in headers.keys() {
        let n = name.as_str().as_bytes();
        if n.contains(&b'_') {
            return Err(Refusal::Underscore);
        }
        if n.starts_with(b"x-envoy-") || n == b"x-forwarded-client-cert" {
            internal.push(name.clone());
        }
    }
    match headers.get(header::HOST) {
        Some(host) if !is_authority(host.as_bytes()) => return Err(Refusal::BadHost),
        None if version == http::Version::HTTP_11 => return Err(Refusal::BadHost),
        _ => {}
    }
    for name in internal {
        headers.remove(name);
    }
    Ok(())
}

/// Bytes a `Host` may contain: RFC 3986 reg-name / IP-literal characters and the port colon
/// (no userinfo `@`, no `/ ? #`, no spaces or controls).
const AUTHORITY_BYTES: [bool; 256] = {
    let mut t = [false; 256];
    let allowed =
        b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=:[]%";
    let mut i = 0;
    while i < allowed.len() {
        t[allowed[i] as usize] = true;
        i += 1;
    }
    t
};

/// Whether `host` is a plausible `Host` value (a table lookup per byte).
fn is_authority(host: &[u8]) -> bool {
    !host.is_empty() && host.iter().all(|&b| AUTHORITY_BYTES[b as usize])
}

/// Hop-by-hop headers a proxy never forwards as they are, with their bit in a presence mask.
const HOP_BY_HOP: [(HeaderName, u8); 7] = [
    (header::CONNECTION, 1),
    (header::TRANSFER_ENCODING, 2),
    (header::TE, 4),
    (header::UPGRADE, 8),
    (KEEP_ALIVE, 16),
    (PROXY_CONNECTION, 32),
    // Not hop-by-hop by the RFC, but the gateway answers `Expect: 100-continue` itself
    // (hyper does, when the body is read), so it is never forwarded.
    (header::EXPECT, 64),
];

/// Removes hop-by-hop headers (RFC 9110 §7.6.1), and those that `Connection` names. An upgrade
/// keeps `Connection: upgrade` and `Upgrade` so it can pass through. `te: trailers` stays (gRPC).
pub fn strip_hop_by_hop(headers: &mut HeaderMap, keep_upgrade: bool) {
    // One pass over the names finds which are present; only those are removed (each removal
    // hashes the name, and most messages carry none or just `connection`).
    let mut present = 0u8;
    for name in headers.keys() {
        // The length first: most names have none of these lengths.
        if matches!(name.as_str().len(), 2 | 6 | 7 | 10 | 16 | 17) {
            if let Some((_, bit)) = HOP_BY_HOP.iter().find(|(hop, _)| hop == name) {
                present |= bit;
            }
        }
    }
    if present & 1 != 0 {
        // `keep-alive`, `close` and `upgrade` are handled here; other tokens name extra headers
        // to drop (rare, so only they pay for a name parse and a Vec).
        let named: Vec<HeaderName> = headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|t| {
                !["keep-alive", "close", "upgrade", ""]
                    .iter()
                    .any(|k| t.eq_ignore_ascii_case(k))
            })
            .filter_map(|t| HeaderName::from_bytes(t.as_bytes()).ok())
            .collect();
        for name in named {
            headers.remove(name);
        }
        headers.remove(header::CONNECTION);
    }
    for (name, bit) in &HOP_BY_HOP[1..] {
        if present & bit == 0 {
            continue;
        }
        let keep = (*bit == 4 && headers.get(header::TE).is_some_and(|v| v == "trailers"))
            || (*bit == 8 && keep_upgrade);
        if !keep {
            headers.remove(name);
        }
    }
    if keep_upgrade {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    }
}

/// Sets `x-forwarded-for` / `x-forwarded-proto` as an edge proxy does: the peer address is
/// appended; a client's `x-forwarded-proto` is kept only when `trusted_hops` > 0.
pub fn set_forwarded(
    headers: &mut HeaderMap,
    peer: &HeaderValue,
    scheme: &'static str,
    trusted_hops: u32,
) {
    // Entry API: one hash per header instead of a lookup and an insert.
    match headers.entry(X_FORWARDED_FOR) {
        Entry::Occupied(mut e) if !e.get().is_empty() => {
            let existing = e.get();
            let mut joined = Vec::with_capacity(existing.len() + 1 + peer.len());
            joined.extend_from_slice(existing.as_bytes());
            joined.push(b',');
            joined.extend_from_slice(peer.as_bytes());
            if let Ok(v) = HeaderValue::from_bytes(&joined) {
                e.insert(v);
            }
        }
        Entry::Occupied(mut e) => {
            e.insert(peer.clone());
        }
        Entry::Vacant(e) => {
            e.insert(peer.clone());
        }
    }
    let proto = HeaderValue::from_static(scheme);
    match headers.entry(X_FORWARDED_PROTO) {
        Entry::Occupied(mut e) if trusted_hops == 0 => {
            e.insert(proto);
        }
        Entry::Occupied(_) => {}
        Entry::Vacant(e) => {
            e.insert(proto);
        }
    }
}

/// Ensures an `x-request-id`, generating a random UUIDv4 when the client sent none.
pub fn ensure_request_id(headers: &mut HeaderMap) {
    headers
        .entry(X_REQUEST_ID)
        .or_insert_with(generate_request_id);
}

fn generate_request_id() -> HeaderValue {
    let hi = (fastrand::u64(..) & 0xffff_ffff_ffff_0fff) | 0x4000; // version 4
    let lo = (fastrand::u64(..) & 0x3fff_ffff_ffff_ffff) | 0x8000_0000_0000_0000; // RFC 4122 variant
    let (hi, lo) = (hex16(hi), hex16(lo));
    // 8-4-4-4-12 hex digits.
    let mut out = *b"00000000-0000-0000-0000-000000000000";
    out[..8].copy_from_slice(&hi[..8]);
    out[9..13].copy_from_slice(&hi[8..12]);
    out[14..18].copy_from_slice(&hi[12..]);
    out[19..23].copy_from_slice(&lo[..4]);
    out[24..].copy_from_slice(&lo[4..]);
    slab_value(&out)
}

/// `n` as 16 lowercase hex digits, most significant first.
fn hex16(n: u64) -> [u8; 16] {
    let mut out = [0; 16];
    out[..8].copy_from_slice(&hex8((n >> 32) as u32));
    out[8..].copy_from_slice(&hex8(n as u32));
    out
}

/// `n` as 8 lowercase hex digits, computed for all eight at once: each nibble is spread into
/// a byte of its own, then turned into `0`–`9` or `a`–`f`.
fn hex8(n: u32) -> [u8; 8] {
    let n = u64::from(n);
    let mut v = ((n & 0xffff_0000) << 16) | (n & 0xffff);
    v = ((v & 0x0000_ff00_0000_ff00) << 8) | (v & 0x0000_00ff_0000_00ff);
    v = ((v & 0x00f0_00f0_00f0_00f0) << 4) | (v & 0x000f_000f_000f_000f);
    // 1 in each byte whose nibble is 10 or more (adding 6 carries it into bit 4).
    let letters = ((v + 0x0606_0606_0606_0606) >> 4) & 0x0101_0101_0101_0101;
    (v + 0x3030_3030_3030_3030 + letters * u64::from(b'a' - b'0' - 10)).to_be_bytes()
}

/// `n` in decimal as a header value: numbers below 100 (most upstream service times, in
/// milliseconds) point into a static table; larger ones are cut from the per-thread block
/// (`HeaderValue::from(u64)` makes two allocations).
pub fn number_value(n: u64) -> HeaderValue {
    const ONES: &str = "0123456789";
    const TENS: &str = "10111213141516171819202122232425262728293031323334353637383940414243\
                        44454647484950515253545556575859606162636465666768697071727374757677\
                        78798081828384858687888990919293949596979899";
    match n {
        0..10 => {
            let n = n as usize;
            HeaderValue::from_static(&ONES[n..n + 1])
        }
        10..100 => {
            let n = n as usize;
            HeaderValue::from_static(&TENS[2 * (n - 10)..2 * (n - 9)])
        }
        _ => slab_value(decimal(n, &mut [0; 20])),
    }
}

/// An IP address as a header value (`x-forwarded-for`). IPv4 is written digit by digit: the
/// formatter took more instructions than the rest of a connection's setup in user space.
pub fn ip_value(ip: std::net::IpAddr) -> HeaderValue {
    let value = match ip {
        std::net::IpAddr::V4(v4) => {
            let mut out = [0u8; 15];
            let mut len = 0;
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out[len] = b'.';
                    len += 1;
                }
                let mut scratch = [0; 20];
                let digits = decimal(u64::from(octet), &mut scratch);
                out[len..len + digits.len()].copy_from_slice(digits);
                len += digits.len();
            }
            HeaderValue::from_bytes(&out[..len])
        }
        std::net::IpAddr::V6(_) => HeaderValue::try_from(ip.to_string()),
    };
    value.unwrap_or_else(|_| HeaderValue::from_static("unknown"))
}

/// `n` in decimal, written at the end of `digits`.
pub(crate) fn decimal(mut n: u64, digits: &mut [u8; 20]) -> &[u8] {
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    &digits[at..]
}

/// A header value holding a copy of `bytes` (visible ASCII), cut from a per-thread block:
/// one allocation per [`SLAB_BYTES`] of values instead of one per value. A value keeps its
/// whole block alive, so the block is small: a long-lived request pins at most 1 KiB.
fn slab_value(bytes: &[u8]) -> HeaderValue {
    let shared = SLAB.with_borrow_mut(|slab| {
        if slab.capacity() - slab.len() < bytes.len() {
            // Reuses the block when every value cut from it is gone, else starts a new one.
            slab.reserve(SLAB_BYTES);
        }
        slab.extend_from_slice(bytes);
        slab.split().freeze()
    });
    HeaderValue::from_maybe_shared(shared).unwrap_or_else(|_| HeaderValue::from_static("0"))
}

/// Bytes of generated header values cut from one allocation.
const SLAB_BYTES: usize = 1024;

thread_local! {
    /// The block generated header values (request ids, durations) are cut from.
    static SLAB: std::cell::RefCell<bytes::BytesMut> =
        std::cell::RefCell::new(bytes::BytesMut::new());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitizing_refuses_underscores_and_drops_envoy_controls_and_client_xfcc() {
        let mut h = HeaderMap::new();
        h.insert("x-envoy-retry-on", HeaderValue::from_static("5xx"));
        h.insert(
            "x-envoy-upstream-rq-timeout-ms",
            HeaderValue::from_static("1"),
        );
        h.insert("x-request-id", HeaderValue::from_static("r"));
        h.insert(
            "x-forwarded-client-cert",
            HeaderValue::from_static("By=spoofed"),
        );
        h.insert(header::HOST, HeaderValue::from_static("a.example:8080"));
        let v11 = http::Version::HTTP_11;
        assert_eq!(sanitize_request(v11, &mut h), Ok(()));
        assert_eq!(h.len(), 2, "x-request-id and host are left: {h:?}");
        h.insert("x_forwarded_for", HeaderValue::from_static("1.2.3.4"));
        assert_eq!(sanitize_request(v11, &mut h), Err(Refusal::Underscore));
    }

    #[test]
    fn sanitizing_refuses_missing_and_bad_hosts() {
        let v11 = http::Version::HTTP_11;
        let mut h = HeaderMap::new();
        assert_eq!(sanitize_request(v11, &mut h), Err(Refusal::BadHost));
        assert_eq!(sanitize_request(http::Version::HTTP_10, &mut h), Ok(()));
        for bad in ["a b", "a/b", "a@b/c"] {
            h.insert(header::HOST, HeaderValue::from_static(bad));
            assert_eq!(
                sanitize_request(v11, &mut h),
                Err(Refusal::BadHost),
                "{bad}"
            );
        }
    }

    #[test]
    fn strips_connection_named_headers() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, x-secret"),
        );
        h.insert("x-secret", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert("x-kept", HeaderValue::from_static("1"));
        h.insert(header::TE, HeaderValue::from_static("trailers"));
        h.insert(header::EXPECT, HeaderValue::from_static("100-continue"));
        strip_hop_by_hop(&mut h, false);
        assert!(
            h.get(header::EXPECT).is_none(),
            "the gateway answers Expect itself"
        );
        assert!(h.get("x-secret").is_none() && h.get("keep-alive").is_none());
        assert!(h.get(header::CONNECTION).is_none());
        assert_eq!(h.get("x-kept").unwrap(), "1");
        assert_eq!(h.get(header::TE).unwrap(), "trailers");
    }

    #[test]
    fn upgrade_survives_when_kept() {
        let mut h = HeaderMap::new();
        h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        assert!(is_upgrade(&h));
        strip_hop_by_hop(&mut h, true);
        assert_eq!(h.get(header::UPGRADE).unwrap(), "websocket");
        assert_eq!(h.get(header::CONNECTION).unwrap(), "upgrade");
    }

    #[test]
    fn forwarded_for_appends_peer_and_proto_is_overwritten() {
        let mut h = HeaderMap::new();
        h.insert(X_FORWARDED_FOR, HeaderValue::from_static("10.0.0.1"));
        h.insert(X_FORWARDED_PROTO, HeaderValue::from_static("https"));
        set_forwarded(&mut h, &HeaderValue::from_static("127.0.0.1"), "http", 0);
        assert_eq!(h.get(X_FORWARDED_FOR).unwrap(), "10.0.0.1,127.0.0.1");
        assert_eq!(h.get(X_FORWARDED_PROTO).unwrap(), "http");
    }

    #[test]
    fn ip_values_are_the_addresses_display() {
        let ips = [
            "0.0.0.0",
            "127.0.0.1",
            "10.20.30.40",
            "255.255.255.255",
            "::1",
            "fe80::1",
        ];
        for ip in ips {
            let ip: std::net::IpAddr = ip.parse().unwrap();
            assert_eq!(ip_value(ip), ip.to_string().as_str());
        }
    }

    #[test]
    fn numbers_are_decimal() {
        for n in (0..1000).chain([1234, u64::MAX]) {
            assert_eq!(number_value(n), n.to_string().as_str());
        }
    }

    #[test]
    fn hex_digits_match_the_formatter() {
        for n in [
            0u64,
            1,
            9,
            10,
            15,
            0xdead_beef,
            0x0123_4567_89ab_cdef,
            u64::MAX,
        ] {
            assert_eq!(hex16(n), *format!("{n:016x}").as_bytes(), "{n:#x}");
        }
        for _ in 0..1000 {
            let n = fastrand::u64(..);
            assert_eq!(hex16(n), *format!("{n:016x}").as_bytes(), "{n:#x}");
        }
    }

    #[test]
    fn request_ids_are_uuid_shaped_and_kept() {
        let mut h = HeaderMap::new();
        ensure_request_id(&mut h);
        let id = h.get(X_REQUEST_ID).unwrap().to_str().unwrap().to_string();
        assert_eq!(id.len(), 36);
        for (i, c) in id.chars().enumerate() {
            match i {
                8 | 13 | 18 | 23 => assert_eq!(c, '-', "{id}"),
                _ => assert!(c.is_ascii_hexdigit() && !c.is_ascii_uppercase(), "{id}"),
            }
        }
        assert_eq!(&id[14..15], "4", "version 4: {id}");
        assert!(
            matches!(&id[19..20], "8" | "9" | "a" | "b"),
            "RFC 4122 variant: {id}"
        );
        ensure_request_id(&mut h);
        assert_eq!(h.get(X_REQUEST_ID).unwrap(), id.as_str());
        let mut other = HeaderMap::new();
        ensure_request_id(&mut other);
        assert_ne!(other.get(X_REQUEST_ID).unwrap(), id.as_str());
    }
}
