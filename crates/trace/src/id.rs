//! Trace and span identifiers: random, never all-zero (both W3C and B3 call zero invalid),
//! read and written as lowercase hex.

use std::fmt;

const HEX: &[u8; 16] = b"0123456789abcdef";

/// A 128-bit trace id (W3C `trace-id`, B3 `TraceId`).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TraceId(pub [u8; 16]);

/// A 64-bit span id (W3C `parent-id`, B3 `SpanId`).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SpanId(pub [u8; 8]);

// === impl TraceId ===

impl TraceId {
    /// A fresh random id.
    pub fn random() -> Self {
        Self(fastrand::u128(1..).to_be_bytes())
    }

    /// Parses 32 hex digits, or 16 (a 64-bit B3 id, which is the low half of a 128-bit one).
    /// `None` for anything else and for the all-zero id.
    pub fn from_hex(s: &[u8]) -> Option<Self> {
        let mut id = [0u8; 16];
        match s.len() {
            32 => decode_hex(s, &mut id)?,
            16 => decode_hex(s, &mut id[8..])?,
            _ => return None,
        }
        (id != [0; 16]).then_some(Self(id))
    }

    /// The low 64 bits, which ratio sampling compares (as OpenTelemetry's `TraceIdRatioBased`).
    pub fn low_u64(&self) -> u64 {
        let mut low = [0u8; 8];
        low.copy_from_slice(&self.0[8..]);
        u64::from_be_bytes(low)
    }

    /// Writes the 32 hex digits into `out`.
    pub fn write_hex(&self, out: &mut [u8]) {
        encode_hex(&self.0, out);
    }
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; 32];
        self.write_hex(&mut buf);
        f.write_str(std::str::from_utf8(&buf).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

// === impl SpanId ===

impl SpanId {
    /// A fresh random id.
    pub fn random() -> Self {
        Self(fastrand::u64(1..).to_be_bytes())
    }

    /// Parses 16 hex digits; `None` for anything else and for the all-zero id.
    pub fn from_hex(s: &[u8]) -> Option<Self> {
        let mut id = [0u8; 8];
        if s.len() != 16 {
            return None;
        }
        decode_hex(s, &mut id)?;
        (id != [0; 8]).then_some(Self(id))
    }

    /// Writes the 16 hex digits into `out`.
    pub fn write_hex(&self, out: &mut [u8]) {
        encode_hex(&self.0, out);
    }
}

impl fmt::Display for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; 16];
        self.write_hex(&mut buf);
        f.write_str(std::str::from_utf8(&buf).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

// === hex ===

/// Decodes lowercase hex (both formats require it) into `out`, which is half as long as `s`.
fn decode_hex(s: &[u8], out: &mut [u8]) -> Option<()> {
    for (byte, pair) in out.iter_mut().zip(s.chunks_exact(2)) {
        *byte = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Some(())
}

fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

fn encode_hex(bytes: &[u8], out: &mut [u8]) {
    for (pair, b) in out.chunks_exact_mut(2).zip(bytes) {
        pair[0] = HEX[usize::from(b >> 4)];
        pair[1] = HEX[usize::from(b & 0xf)];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_hex() {
        let t = TraceId::random();
        assert_eq!(TraceId::from_hex(t.to_string().as_bytes()), Some(t));
        let s = SpanId::random();
        assert_eq!(SpanId::from_hex(s.to_string().as_bytes()), Some(s));
    }

    #[test]
    fn a_64_bit_trace_id_is_the_low_half() {
        let t = TraceId::from_hex(b"00f067aa0ba902b7").unwrap();
        assert_eq!(t.to_string(), "000000000000000000f067aa0ba902b7");
        assert_eq!(t.low_u64(), 0x00f0_67aa_0ba9_02b7);
    }

    #[test]
    fn zero_uppercase_and_wrong_lengths_are_refused() {
        assert_eq!(TraceId::from_hex(&[b'0'; 32]), None);
        assert_eq!(SpanId::from_hex(&[b'0'; 16]), None);
        assert_eq!(SpanId::from_hex(b"00F067AA0BA902B7"), None);
        assert_eq!(SpanId::from_hex(b"00f067aa0ba902b"), None);
        assert_eq!(TraceId::from_hex(b"4bf92f3577b34da6a3ce929d0e0e473"), None);
        assert_eq!(SpanId::from_hex(b"00f067aa0ba902bg"), None);
    }
}
