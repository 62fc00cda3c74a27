//! A look at the raw bytes of an HTTP/1 request head for what hyper resolves without telling:
//! a head with both `Content-Length` and `Transfer-Encoding` (request smuggling's CL.TE and
//! TE.CL). hyper frames such a request by `Transfer-Encoding` and closes the connection
//! afterwards; Envoy refuses it with 400, and so does Rampart (RFC 9112 §6.1 allows either).
//!
//! A head whose `Transfer-Encoding` names no `chunked` at all (an unknown coding such as
//! `xchunked`, or one Rampart does not decode) is answered 501 and closed, as Envoy does (RFC 9112
//! §6.1); hyper would say 400. Chunked that is not the final coding stays hyper's 400.
//!
//! A head that arrives in one read (the common case) is scanned in place; one split across reads
//! is gathered by [`HeadScan`] until its empty line arrives, then scanned whole.

/// Largest split head gathered; hyper refuses longer ones (431) anyway.
const MAX_GATHERED: usize = 64 * 1024;

/// How a complete head frames its body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// Nothing hyper would resolve silently.
    Clear,
    /// Both `Content-Length` and `Transfer-Encoding` (400).
    Ambiguous,
    /// `Transfer-Encoding` without `chunked` (501).
    UnknownCoding,
}

/// What the bytes of a head say so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scan {
    /// The head ended.
    Done(Framing),
    /// The head's empty line has not arrived yet.
    More,
}

/// Scans the head at the start of `bytes`. Lines are found with `memchr` and only those starting
/// with `c` or `t` are compared, so a typical head costs a few dozen instructions.
pub fn scan(bytes: &[u8]) -> Scan {
    const TE: &[u8] = b"transfer-encoding:";
    let (mut cl, mut te, mut chunked) = (false, false, false);
    for start in memchr::memchr_iter(b'\n', bytes).map(|i| i + 1) {
        let line = &bytes[start..];
        match line.first() {
            Some(b'c' | b'C') => cl |= starts_with_ignore_case(line, b"content-length:"),
            Some(b't' | b'T') if starts_with_ignore_case(line, TE) => {
                te = true;
                let end = memchr::memchr(b'\n', line).unwrap_or(line.len());
                chunked |= names_chunked(&line[TE.len()..end]);
            }
            // The empty line that ends the head.
            Some(b'\r' | b'\n') => {
                return Scan::Done(if cl && te {
                    Framing::Ambiguous
                } else if te && !chunked {
                    Framing::UnknownCoding
                } else {
                    Framing::Clear
                })
            }
            // The read ended right after a line: the rest is still to come.
            None => break,
            _ => {}
        }
    }
    Scan::More
}

/// Whether a `Transfer-Encoding` value lists `chunked` (any case, any position).
fn names_chunked(value: &[u8]) -> bool {
    value
        .split(|&b| b == b',')
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"chunked"))
}

/// Whether the head at the start of `bytes` has both framing headers (as far as it goes).
pub fn ambiguous(bytes: &[u8]) -> bool {
    scan(bytes) == Scan::Done(Framing::Ambiguous)
}

/// One connection's view of the head being read, across reads.
#[derive(Debug, Default)]
pub struct HeadScan {
    /// The head so far, while it is split across reads.
    gathered: Option<Vec<u8>>,
}

impl HeadScan {
    /// The first read of a new head; `Some` once the head is complete.
    pub fn start(&mut self, bytes: &[u8]) -> Option<Framing> {
        match scan(bytes) {
            Scan::Done(framing) => {
                self.gathered = None;
                Some(framing)
            }
            Scan::More => {
                self.gathered = Some(bytes.to_vec());
                None
            }
        }
    }

    /// A later read while the head is still open; `Some` once it is complete.
    #[cold]
    pub fn more(&mut self, bytes: &[u8]) -> Option<Framing> {
        let gathered = self.gathered.as_mut()?;
        gathered.extend_from_slice(bytes);
        match scan(gathered) {
            Scan::Done(framing) => {
                self.gathered = None;
                Some(framing)
            }
            Scan::More if gathered.len() > MAX_GATHERED => {
                self.gathered = None;
                None
            }
            Scan::More => None,
        }
    }

    /// Whether a split head is being gathered.
    #[inline]
    pub fn gathering(&self) -> bool {
        self.gathered.is_some()
    }
}

fn starts_with_ignore_case(line: &[u8], name: &[u8]) -> bool {
    line.len() >= name.len() && line[..name.len()].eq_ignore_ascii_case(name)
}

#[cfg(test)]
mod tests {
    use super::{ambiguous, scan, Framing, Scan};

    #[test]
    fn both_framing_headers_are_ambiguous() {
        assert!(ambiguous(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"));
        assert!(ambiguous(b"POST / HTTP/1.1\r\nhost: a\r\ntransfer-encoding: chunked\r\nCONTENT-LENGTH: 4\r\n\r\n"));
        assert!(!ambiguous(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\n\r\nTransfer-Encoding: chunked\r\n"));
        assert!(!ambiguous(b"GET / HTTP/1.1\r\nHost: a\r\nX-Content-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n"));
        assert!(!ambiguous(b""));
    }

    #[test]
    fn transfer_codings_without_chunked_are_unknown() {
        let framing = |te: &str| {
            scan(
                format!("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: {te}\r\n\r\n").as_bytes(),
            )
        };
        assert_eq!(framing("xchunked"), Scan::Done(Framing::UnknownCoding));
        assert_eq!(framing("gzip"), Scan::Done(Framing::UnknownCoding));
        assert_eq!(framing("CHUNKED"), Scan::Done(Framing::Clear));
        assert_eq!(framing("gzip, chunked"), Scan::Done(Framing::Clear));
        // Chunked but not last: hyper's 400, not an unknown coding.
        assert_eq!(framing("chunked, x"), Scan::Done(Framing::Clear));
        assert_eq!(
            scan(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"),
            Scan::Done(Framing::Clear)
        );
    }

    #[test]
    fn a_head_split_anywhere_is_gathered_until_its_end() {
        let head = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
        let end = head.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 3;
        for cut in 1..end {
            let mut scan = super::HeadScan::default();
            assert_eq!(scan.start(&head[..cut]), None, "cut {cut}");
            assert_eq!(
                scan.more(&head[cut..]),
                Some(Framing::Ambiguous),
                "cut {cut}"
            );
            assert!(!scan.gathering());
        }
        let plain = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
        let mut scan = super::HeadScan::default();
        assert_eq!(scan.start(&plain[..10]), None);
        assert_eq!(scan.more(&plain[10..]), Some(Framing::Clear));
        assert_eq!(
            scan.more(b"anything"),
            None,
            "nothing gathered after the head"
        );
    }
}
