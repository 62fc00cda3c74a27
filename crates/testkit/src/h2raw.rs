//! A hand-built HTTP/2 client for hostile tests: frames written byte by byte (the `h2` crate
//! refuses to send malformed ones), header blocks as HPACK literals without indexing.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Frame types.
pub const DATA: u8 = 0x0;
/// HEADERS.
pub const HEADERS: u8 = 0x1;
/// RST_STREAM.
pub const RST_STREAM: u8 = 0x3;
/// SETTINGS.
pub const SETTINGS: u8 = 0x4;
/// PING.
pub const PING: u8 = 0x6;
/// GOAWAY.
pub const GOAWAY: u8 = 0x7;
/// WINDOW_UPDATE.
pub const WINDOW_UPDATE: u8 = 0x8;
/// CONTINUATION.
pub const CONTINUATION: u8 = 0x9;

/// Flags.
pub const END_STREAM: u8 = 0x1;
/// END_HEADERS.
pub const END_HEADERS: u8 = 0x4;
/// ACK (SETTINGS, PING).
pub const ACK: u8 = 0x1;

/// Error codes.
pub const PROTOCOL_ERROR: u32 = 0x1;
/// REFUSED_STREAM.
pub const REFUSED_STREAM: u32 = 0x7;
/// CANCEL.
pub const CANCEL: u32 = 0x8;

/// One frame as received.
#[derive(Debug, Clone)]
pub struct Frame {
    /// Type.
    pub kind: u8,
    /// Flags.
    pub flags: u8,
    /// Stream id.
    pub stream: u32,
    /// Payload.
    pub payload: Vec<u8>,
}

impl Frame {
    /// The error code of a RST_STREAM or GOAWAY.
    pub fn error_code(&self) -> Option<u32> {
        let at = match self.kind {
            RST_STREAM => 0,
            GOAWAY => 4,
            _ => return None,
        };
        let b = self.payload.get(at..at + 4)?;
        Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
}

/// Encodes one frame.
pub fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut out = Vec::with_capacity(9 + payload.len());
    out.extend_from_slice(&len.to_be_bytes()[1..]);
    out.push(kind);
    out.push(flags);
    out.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

fn hpack_int(out: &mut Vec<u8>, first: u8, prefix_bits: u8, mut v: usize) {
    let max = (1usize << prefix_bits) - 1;
    if v < max {
        out.push(first | v as u8);
        return;
    }
    out.push(first | max as u8);
    v -= max;
    while v >= 128 {
        out.push((v % 128) as u8 | 0x80);
        v /= 128;
    }
    out.push(v as u8);
}

/// A header block of literal fields without indexing (new names, no Huffman), in order and
/// byte for byte as given: uppercase names and CR/LF in values included.
pub fn header_block(fields: &[(&str, &str)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, value) in fields {
        out.push(0x00);
        hpack_int(&mut out, 0, 7, name.len());
        out.extend_from_slice(name.as_bytes());
        hpack_int(&mut out, 0, 7, value.len());
        out.extend_from_slice(value.as_bytes());
    }
    out
}

/// The request pseudo-headers for `GET path` on `authority`, then `extra`.
pub fn get<'a>(
    path: &'a str,
    authority: &'a str,
    extra: &[(&'a str, &'a str)],
) -> Vec<(&'a str, &'a str)> {
    let mut fields = vec![
        (":method", "GET"),
        (":scheme", "http"),
        (":path", path),
        (":authority", authority),
    ];
    fields.extend_from_slice(extra);
    fields
}

/// A connection that has sent the preface and an empty SETTINGS frame.
pub struct RawH2 {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl RawH2 {
    /// Connects and sends the client preface.
    pub async fn connect(addr: std::net::SocketAddr) -> std::io::Result<Self> {
        Self::connect_with(addr, &[]).await
    }

    /// Connects and sends the client preface with these settings (identifier, value), e.g.
    /// `(0x4, 0)` for a zero initial window.
    pub async fn connect_with(
        addr: std::net::SocketAddr,
        settings: &[(u16, u32)],
    ) -> std::io::Result<Self> {
        let mut stream = TcpStream::connect(addr).await?;
        let mut hello = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
        let mut payload = Vec::new();
        for (id, value) in settings {
            payload.extend_from_slice(&id.to_be_bytes());
            payload.extend_from_slice(&value.to_be_bytes());
        }
        hello.extend(frame(SETTINGS, 0, 0, &payload));
        stream.write_all(&hello).await?;
        Ok(Self {
            stream,
            buf: Vec::new(),
        })
    }

    /// Writes raw bytes (frames built with [`frame`]).
    pub async fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes).await
    }

    /// Sends a HEADERS frame with END_HEADERS (and END_STREAM when `end`).
    pub async fn headers(
        &mut self,
        stream: u32,
        fields: &[(&str, &str)],
        end: bool,
    ) -> std::io::Result<()> {
        let flags = END_HEADERS | if end { END_STREAM } else { 0 };
        self.send(&frame(HEADERS, flags, stream, &header_block(fields)))
            .await
    }

    /// The next frame, or `None` on EOF, error or `wait` without one.
    pub async fn next(&mut self, wait: Duration) -> Option<Frame> {
        loop {
            if self.buf.len() >= 9 {
                let len = u32::from_be_bytes([0, self.buf[0], self.buf[1], self.buf[2]]) as usize;
                if self.buf.len() >= 9 + len {
                    let head: Vec<u8> = self.buf.drain(..9 + len).collect();
                    return Some(Frame {
                        kind: head[3],
                        flags: head[4],
                        stream: u32::from_be_bytes([head[5], head[6], head[7], head[8]])
                            & 0x7fff_ffff,
                        payload: head[9..].to_vec(),
                    });
                }
            }
            let mut chunk = [0u8; 16 * 1024];
            match tokio::time::timeout(wait, self.stream.read(&mut chunk)).await {
                Ok(Ok(n)) if n > 0 => self.buf.extend_from_slice(&chunk[..n]),
                _ => return None,
            }
        }
    }

    /// Reads frames (acknowledging the server's SETTINGS and PINGs) until `stop` says so, EOF,
    /// or `wait` passes without a frame. Returns every frame read.
    pub async fn read_until(
        &mut self,
        wait: Duration,
        mut stop: impl FnMut(&Frame) -> bool,
    ) -> Vec<Frame> {
        let mut seen = Vec::new();
        while let Some(f) = self.next(wait).await {
            if f.kind == SETTINGS && f.flags & ACK == 0 {
                let _ = self.send(&frame(SETTINGS, ACK, 0, &[])).await;
            }
            let done = stop(&f);
            seen.push(f);
            if done {
                break;
            }
        }
        seen
    }
}
