//! A look at the raw bytes of an HTTP/1 request head for what hyper resolves without telling:
//! a head with both `Content-Length` and `Transfer-Encoding` (request smuggling's CL.TE and
//! TE.CL). hyper frames such a request by `Transfer-Encoding` and closes the connection
//! afterwards; Envoy refuses it with 400, and so does Rampart (RFC 9112 §6.1 allows either).
//!
//! Only the first read of a head is scanned (the common case: a head arrives in one segment);
//! a head split across reads is still framed safely by hyper.

/// Whether the head at the start of `bytes` has both framing headers. Stops at the head's end.
/// Lines are found with `memchr` and only those starting with `c` or `t` are compared, so a
/// typical head costs a few dozen instructions.
pub fn ambiguous(bytes: &[u8]) -> bool {
    let (mut cl, mut te) = (false, false);
    let mut starts = memchr::memchr_iter(b'\n', bytes).map(|i| i + 1);
    for start in &mut starts {
        let line = &bytes[start..];
        match line.first() {
            Some(b'c' | b'C') => cl |= starts_with_ignore_case(line, b"content-length:"),
            Some(b't' | b'T') => te |= starts_with_ignore_case(line, b"transfer-encoding:"),
            // The empty line that ends the head.
            Some(b'\r' | b'\n') | None => break,
            _ => {}
        }
    }
    cl && te
}

fn starts_with_ignore_case(line: &[u8], name: &[u8]) -> bool {
    line.len() >= name.len() && line[..name.len()].eq_ignore_ascii_case(name)
}

#[cfg(test)]
mod tests {
    use super::ambiguous;

    #[test]
    fn both_framing_headers_are_ambiguous() {
        assert!(ambiguous(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"));
        assert!(ambiguous(b"POST / HTTP/1.1\r\nhost: a\r\ntransfer-encoding: chunked\r\nCONTENT-LENGTH: 4\r\n\r\n"));
        assert!(!ambiguous(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\n\r\nTransfer-Encoding: chunked\r\n"));
        assert!(!ambiguous(b"GET / HTTP/1.1\r\nHost: a\r\nX-Content-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n"));
        assert!(!ambiguous(b""));
    }
}
