//! Reads a TLS ClientHello from the first bytes of a connection, without terminating TLS: the
//! SNI picks the listener chain (and, for passthrough, the route), the ALPN list is logged.
//!
//! Only what routing needs is parsed; everything else is skipped by its length prefix. Input is
//! untrusted: every length is checked against what is there, and a hello spread over several
//! records is reassembled up to [`MAX_HELLO`] bytes.

/// Largest ClientHello accepted (records included). Real ones are well under 4 KiB, post-quantum
/// key shares included.
pub const MAX_HELLO: usize = 16 * 1024;

const RECORD_HEADER: usize = 5;
const CONTENT_HANDSHAKE: u8 = 22;
const HANDSHAKE_CLIENT_HELLO: u8 = 1;
const EXT_SERVER_NAME: u16 = 0;
const EXT_ALPN: u16 = 16;

/// What the bytes so far say.
#[derive(Debug, PartialEq, Eq)]
pub enum Peek {
    /// A complete ClientHello.
    Hello(ClientHello),
    /// A ClientHello may follow: read more (the buffer is still under [`MAX_HELLO`]).
    NeedMore,
    /// Not a TLS ClientHello (or a malformed or oversized one).
    NotTls,
}

/// The parts of a ClientHello that routing uses.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ClientHello {
    /// `server_name` (host_name), lower-case, without a trailing dot.
    pub sni: Option<String>,
    /// ALPN protocols offered, in the client's order.
    pub alpn: Vec<Vec<u8>>,
}

/// Parses the connection's first bytes.
pub fn peek(buf: &[u8]) -> Peek {
    let mut handshake = Vec::new();
    let mut at = 0;
    // Reassemble handshake records until the ClientHello message is complete.
    loop {
        let Some(header) = buf.get(at..at + RECORD_HEADER) else {
            return need_more(buf);
        };
        if header[0] != CONTENT_HANDSHAKE || header[1] != 3 {
            return Peek::NotTls;
        }
        let len = usize::from(u16::from_be_bytes([header[3], header[4]]));
        if len == 0 || len > MAX_HELLO {
            return Peek::NotTls;
        }
        let Some(payload) = buf.get(at + RECORD_HEADER..at + RECORD_HEADER + len) else {
            return need_more(buf);
        };
        handshake.extend_from_slice(payload);
        at += RECORD_HEADER + len;
        if handshake.len() >= 4 {
            if handshake[0] != HANDSHAKE_CLIENT_HELLO {
                return Peek::NotTls;
            }
            let body_len = u32::from_be_bytes([0, handshake[1], handshake[2], handshake[3]]);
            let body_len = body_len as usize;
            if body_len > MAX_HELLO {
                return Peek::NotTls;
            }
            if handshake.len() >= 4 + body_len {
                return match parse_body(&handshake[4..4 + body_len]) {
                    Some(hello) => Peek::Hello(hello),
                    None => Peek::NotTls,
                };
            }
        }
    }
}

fn need_more(buf: &[u8]) -> Peek {
    if buf.len() >= MAX_HELLO + RECORD_HEADER {
        Peek::NotTls
    } else {
        Peek::NeedMore
    }
}

/// A cursor over length-prefixed fields.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }

    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_be_bytes([b[0], b[1]]))
    }

    /// A field with a one-byte length prefix.
    fn vec8(&mut self) -> Option<&'a [u8]> {
        let n = self.u8()?;
        self.take(usize::from(n))
    }

    /// A field with a two-byte length prefix.
    fn vec16(&mut self) -> Option<&'a [u8]> {
        let n = self.u16()?;
        self.take(usize::from(n))
    }
}

fn parse_body(body: &[u8]) -> Option<ClientHello> {
    let mut r = Reader(body);
    r.take(2)?; // legacy_version
    r.take(32)?; // random
    r.vec8()?; // legacy_session_id
    r.vec16()?; // cipher_suites
    r.vec8()?; // legacy_compression_methods
    let mut hello = ClientHello::default();
    if r.0.is_empty() {
        // No extensions at all (very old clients): no SNI.
        return Some(hello);
    }
    let mut exts = Reader(r.vec16()?);
    while !exts.0.is_empty() {
        let kind = exts.u16()?;
        let data = exts.vec16()?;
        match kind {
            EXT_SERVER_NAME => hello.sni = server_name(data)?,
            EXT_ALPN => hello.alpn = alpn(data)?,
            _ => {}
        }
    }
    Some(hello)
}

/// The `host_name` entry of a server_name extension; `Err`-like `None` when malformed.
fn server_name(data: &[u8]) -> Option<Option<String>> {
    let mut list = Reader(Reader(data).vec16()?);
    while !list.0.is_empty() {
        let kind = list.u8()?;
        let name = list.vec16()?;
        if kind != 0 {
            continue;
        }
        let valid = !name.is_empty()
            && name
                .iter()
                .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
        if !valid {
            return None;
        }
        let name = std::str::from_utf8(name).ok()?;
        let name = name.strip_suffix('.').unwrap_or(name);
        return Some(Some(name.to_ascii_lowercase()));
    }
    Some(None)
}

fn alpn(data: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut list = Reader(Reader(data).vec16()?);
    let mut out = Vec::new();
    while !list.0.is_empty() {
        out.push(list.vec8()?.to_vec());
    }
    Some(out)
}

#[cfg(test)]
mod tests;
