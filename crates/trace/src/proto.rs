//! A protobuf wire-format writer: just what the OTLP trace messages need (varints, fixed64,
//! fixed32, length-delimited fields and nested messages).

/// Wire type of a varint field.
const VARINT: u32 = 0;
/// Wire type of a fixed64 field.
const FIXED64: u32 = 1;
/// Wire type of a length-delimited field.
const LEN: u32 = 2;
/// Wire type of a fixed32 field.
const FIXED32: u32 = 5;

/// Appends `v` as a base-128 varint.
pub fn varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

fn key(buf: &mut Vec<u8>, field: u32, wire: u32) {
    varint(buf, u64::from((field << 3) | wire));
}

/// A varint field (`uint32`, `int64`, `bool`, enums); proto3 leaves zero out unless `always`.
pub fn uint(buf: &mut Vec<u8>, field: u32, v: u64, always: bool) {
    if v != 0 || always {
        key(buf, field, VARINT);
        varint(buf, v);
    }
}

/// A `fixed64` field.
pub fn fixed64(buf: &mut Vec<u8>, field: u32, v: u64) {
    key(buf, field, FIXED64);
    buf.extend_from_slice(&v.to_le_bytes());
}

/// A `fixed32` field.
pub fn fixed32(buf: &mut Vec<u8>, field: u32, v: u32) {
    key(buf, field, FIXED32);
    buf.extend_from_slice(&v.to_le_bytes());
}

/// A `bytes` or `string` field; empty ones are left out unless `always` (oneof members).
pub fn bytes(buf: &mut Vec<u8>, field: u32, v: &[u8], always: bool) {
    if !v.is_empty() || always {
        key(buf, field, LEN);
        varint(buf, v.len() as u64);
        buf.extend_from_slice(v);
    }
}

/// A nested message written by `body`. The body is written in place and its length prefix
/// inserted before it afterwards (one move of the body, instead of a sizing pass).
pub fn message(buf: &mut Vec<u8>, field: u32, body: impl FnOnce(&mut Vec<u8>)) {
    key(buf, field, LEN);
    let start = buf.len();
    body(buf);
    let mut prefix = Vec::with_capacity(10);
    varint(&mut prefix, (buf.len() - start) as u64);
    buf.splice(start..start, prefix);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_are_little_endian_base_128() {
        let mut b = Vec::new();
        varint(&mut b, 1);
        varint(&mut b, 300);
        varint(&mut b, u64::MAX);
        assert_eq!(&b[..3], &[0x01, 0xac, 0x02]);
        assert_eq!(b.len(), 3 + 10);
    }

    #[test]
    fn nested_messages_get_their_length_prefixed() {
        let mut b = Vec::new();
        message(&mut b, 1, |b| bytes(b, 2, &[7u8; 200], false));
        // field 1 LEN, length 203 (2-byte varint), then field 2 LEN, 200 (2 bytes), data
        assert_eq!(&b[..5], &[0x0a, 0xcb, 0x01, 0x12, 0xc8]);
        assert_eq!(b.len(), 3 + 3 + 200);
    }

    #[test]
    fn proto3_defaults_are_left_out_unless_asked() {
        let mut b = Vec::new();
        uint(&mut b, 1, 0, false);
        bytes(&mut b, 2, b"", false);
        assert!(b.is_empty());
        uint(&mut b, 1, 0, true);
        assert_eq!(b, [0x08, 0x00]);
    }
}
