//! A look at the raw bytes of an HTTP/1 request head for what hyper resolves without telling:
//! a head with both `Content-Length` and `Transfer-Encoding` (request smuggling's CL.TE and
//! TE.CL). hyper frames such a request by `Transfer-Encoding` and closes the connection
//! afterwards; Envoy refuses it with 400, and so does Rampart (RFC 9112 §6.1 allows either).
//!
//! A head that arrives in one read (the common case) is scanned in place; one split across reads
//! is gathered by [`HeadScan`] until its empty line arrives, then scanned whole.

/// Largest split head gathered; hyper refuses longer ones (431) anyway.
const MAX_GATHERED: usize = 64 * 1024;

/// What the bytes of a head say so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scan {
    /// The head ended; `true` when it had both framing headers.
    Done(bool),
    /// The head's empty line has not arrived yet.
    More,
}

/// Scans the head at the start of `bytes`. Lines are found with `memchr` and only those starting
/// with `c` or `t` are compared, so a typical head costs a few dozen instructions.
pub fn scan(bytes: &[u8]) -> Scan {
    let (mut cl, mut te) = (false, false);
    for start in memchr::memchr_iter(b'\n', bytes).map(|i| i + 1) {
        let line = &bytes[start..];
        match line.first() {
            Some(b'c' | b'C') => cl |= starts_with_ignore_case(line, b"content-length:"),
            Some(b't' | b'T') => te |= starts_with_ignore_case(line, b"transfer-encoding:"),
            // The empty line that ends the head.
            Some(b'\r' | b'\n') => return Scan::Done(cl && te),
            // The read ended right after a line: the rest is still to come.
            None => break,
            _ => {}
        }
    }
    Scan::More
}

/// Whether the head at the start of `bytes` has both framing headers (as far as it goes).
pub fn ambiguous(bytes: &[u8]) -> bool {
    scan(bytes) == Scan::Done(true)
}

/// One connection's view of the head being read, across reads.
#[derive(Debug, Default)]
pub struct HeadScan {
    /// The head so far, while it is split across reads.
    gathered: Option<Vec<u8>>,
}

impl HeadScan {
    /// The first read of a new head; `Some(ambiguous)` once the head is complete.
    pub fn start(&mut self, bytes: &[u8]) -> Option<bool> {
        match scan(bytes) {
            Scan::Done(ambiguous) => {
                self.gathered = None;
                Some(ambiguous)
            }
            Scan::More => {
                self.gathered = Some(bytes.to_vec());
                None
            }
        }
    }

    /// A later read while the head is still open; `Some(ambiguous)` once it is complete.
    #[cold]
    pub fn more(&mut self, bytes: &[u8]) -> Option<bool> {
        let gathered = self.gathered.as_mut()?;
        gathered.extend_from_slice(bytes);
        match scan(gathered) {
            Scan::Done(ambiguous) => {
                self.gathered = None;
                Some(ambiguous)
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
    use super::ambiguous;

    #[test]
    fn both_framing_headers_are_ambiguous() {
        assert!(ambiguous(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"));
        assert!(ambiguous(b"POST / HTTP/1.1\r\nhost: a\r\ntransfer-encoding: chunked\r\nCONTENT-LENGTH: 4\r\n\r\n"));
        assert!(!ambiguous(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\n\r\nTransfer-Encoding: chunked\r\n"));
        assert!(!ambiguous(b"GET / HTTP/1.1\r\nHost: a\r\nX-Content-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n"));
        assert!(!ambiguous(b""));
    }

    #[test]
    fn a_head_split_anywhere_is_gathered_until_its_end() {
        let head = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
        let end = head.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 3;
        for cut in 1..end {
            let mut scan = super::HeadScan::default();
            assert_eq!(scan.start(&head[..cut]), None, "cut {cut}");
            assert_eq!(scan.more(&head[cut..]), Some(true), "cut {cut}");
            assert!(!scan.gathering());
        }
        let plain = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
        let mut scan = super::HeadScan::default();
        assert_eq!(scan.start(&plain[..10]), None);
        assert_eq!(scan.more(&plain[10..]), Some(false));
        assert_eq!(
            scan.more(b"anything"),
            None,
            "nothing gathered after the head"
        );
    }
}
