//! RESP2, the Redis wire protocol: commands as arrays of bulk strings, replies parsed
//! incrementally from a buffer.

use bytes::{Buf, BytesMut};

/// A reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// `+OK`.
    Simple(String),
    /// `-ERR …`.
    Error(String),
    /// `:42`.
    Int(i64),
    /// `$n` bytes, or `$-1` (nil).
    Bulk(Option<Vec<u8>>),
    /// `*n` values, or `*-1` (nil).
    Array(Option<Vec<Value>>),
}

/// Encodes a command.
pub fn encode(out: &mut Vec<u8>, args: &[&[u8]]) {
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

/// A malformed reply.
#[derive(Debug, thiserror::Error)]
#[error("malformed RESP reply")]
pub struct Malformed;

/// Parses one reply from the front of `buf`, consuming it; `Ok(None)` when more bytes are needed.
pub fn parse(buf: &mut BytesMut) -> Result<Option<Value>, Malformed> {
    let mut pos = 0;
    match parse_at(buf, &mut pos)? {
        Some(v) => {
            buf.advance(pos);
            Ok(Some(v))
        }
        None => Ok(None),
    }
}

fn line<'a>(buf: &'a [u8], pos: &mut usize) -> Option<&'a [u8]> {
    let rest = buf.get(*pos..)?;
    let end = rest.windows(2).position(|w| w == b"\r\n")?;
    *pos += end + 2;
    Some(&rest[..end])
}

fn int(s: &[u8]) -> Result<i64, Malformed> {
    std::str::from_utf8(s)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or(Malformed)
}

fn parse_at(buf: &[u8], pos: &mut usize) -> Result<Option<Value>, Malformed> {
    let Some(&tag) = buf.get(*pos) else {
        return Ok(None);
    };
    *pos += 1;
    let Some(l) = line(buf, pos) else {
        return Ok(None);
    };
    let text = || String::from_utf8_lossy(l).into_owned();
    Ok(Some(match tag {
        b'+' => Value::Simple(text()),
        b'-' => Value::Error(text()),
        b':' => Value::Int(int(l)?),
        b'$' => {
            let n = int(l)?;
            if n < 0 {
                return Ok(Some(Value::Bulk(None)));
            }
            let n = n as usize;
            if buf.len() < *pos + n + 2 {
                return Ok(None);
            }
            let v = buf[*pos..*pos + n].to_vec();
            *pos += n + 2;
            Value::Bulk(Some(v))
        }
        b'*' => {
            let n = int(l)?;
            if n < 0 {
                return Ok(Some(Value::Array(None)));
            }
            let mut items = Vec::with_capacity((n as usize).min(1024));
            for _ in 0..n {
                match parse_at(buf, pos)? {
                    Some(v) => items.push(v),
                    None => return Ok(None),
                }
            }
            Value::Array(Some(items))
        }
        _ => return Err(Malformed),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_shapes() {
        let mut out = Vec::new();
        encode(&mut out, &[b"PING"]);
        assert_eq!(out, b"*1\r\n$4\r\nPING\r\n");
        let mut buf = BytesMut::from(
            &b"+PONG\r\n:7\r\n*2\r\n:1\r\n$3\r\nabc\r\n-ERR x\r\n$-1\r\n*1\r\n:"[..],
        );
        assert_eq!(parse(&mut buf).unwrap(), Some(Value::Simple("PONG".into())));
        assert_eq!(parse(&mut buf).unwrap(), Some(Value::Int(7)));
        assert_eq!(
            parse(&mut buf).unwrap(),
            Some(Value::Array(Some(vec![
                Value::Int(1),
                Value::Bulk(Some(b"abc".to_vec()))
            ])))
        );
        assert_eq!(parse(&mut buf).unwrap(), Some(Value::Error("ERR x".into())));
        assert_eq!(parse(&mut buf).unwrap(), Some(Value::Bulk(None)));
        // Incomplete: nothing consumed.
        assert_eq!(parse(&mut buf).unwrap(), None);
        assert_eq!(&buf[..], b"*1\r\n:");
        assert!(parse(&mut BytesMut::from(&b"?x\r\n"[..])).is_err());
    }
}
