//! The byte stream under an upstream connection: plain TCP, or TLS over TCP when the cluster
//! originates TLS (DestinationRule `trafficPolicy.tls`).
//!
//! An enum rather than a boxed trait object, so that plain connections (the common case) pay one
//! branch per read or write and no allocation; the TLS state is boxed because it is large.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

/// A TLS session over TCP.
pub type TlsTcp = Box<TlsStream<TcpStream>>;

/// A connected upstream stream.
#[derive(Debug)]
pub enum Stream {
    /// Plain TCP.
    Plain(TcpStream),
    /// TLS originated by the gateway.
    Tls(TlsTcp),
}

impl From<TcpStream> for Stream {
    fn from(stream: TcpStream) -> Self {
        Self::Plain(stream)
    }
}

impl Stream {
    /// Whether an idle connection can take a request: the upstream has neither closed it nor
    /// sent anything unasked. Anything read lands in `buf` (so a non-empty `buf` afterwards also
    /// means "not reusable"). Plain TCP costs no system call unless the socket became readable;
    /// TLS polls once without waiting (TLS 1.3 session tickets are consumed, not data).
    pub fn is_quiet(&mut self, buf: &mut BytesMut) -> bool {
        match self {
            Self::Plain(tcp) => matches!(
                tcp.try_read_buf(buf),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock
            ),
            Self::Tls(tls) => {
                let mut cx = Context::from_waker(Waker::noop());
                let polled = tokio_util::io::poll_read_buf(Pin::new(tls), &mut cx, buf);
                polled.is_pending()
            }
        }
    }

    /// Separate read and write halves, for writing a request body while reading the response.
    pub fn into_split(self) -> (ReadHalf, WriteHalf) {
        match self {
            Self::Plain(tcp) => {
                let (r, w) = tcp.into_split();
                (ReadHalf::Plain(r), WriteHalf::Plain(w))
            }
            Self::Tls(tls) => {
                let (r, w) = tokio::io::split(tls);
                (ReadHalf::Tls(r), WriteHalf::Tls(w))
            }
        }
    }

    /// Whether TLS protects the stream.
    pub fn is_tls(&self) -> bool {
        matches!(self, Self::Tls(_))
    }
}

/// The reading half of a [`Stream`].
#[derive(Debug)]
pub enum ReadHalf {
    /// Of plain TCP.
    Plain(OwnedReadHalf),
    /// Of a TLS session.
    Tls(tokio::io::ReadHalf<TlsTcp>),
}

/// The writing half of a [`Stream`].
#[derive(Debug)]
pub enum WriteHalf {
    /// Of plain TCP.
    Plain(OwnedWriteHalf),
    /// Of a TLS session.
    Tls(tokio::io::WriteHalf<TlsTcp>),
}

/// The halves given to [`ReadHalf::reunite`] came from different streams.
#[derive(Debug, thiserror::Error)]
#[error("the halves belong to different streams")]
pub struct NotPair;

impl ReadHalf {
    /// The whole stream again.
    pub fn reunite(self, write: WriteHalf) -> Result<Stream, NotPair> {
        match (self, write) {
            (Self::Plain(r), WriteHalf::Plain(w)) => {
                r.reunite(w).map(Stream::Plain).map_err(|_| NotPair)
            }
            (Self::Tls(r), WriteHalf::Tls(w)) if r.is_pair_of(&w) => Ok(Stream::Tls(r.unsplit(w))),
            _ => Err(NotPair),
        }
    }
}

/// Forwards `AsyncRead` (`read`) or `AsyncWrite` (`write`) of an enum to its variant.
macro_rules! delegate {
    (read $ty:ident) => {
        impl AsyncRead for $ty {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut ReadBuf<'_>,
            ) -> Poll<io::Result<()>> {
                match self.get_mut() {
                    $ty::Plain(s) => Pin::new(s).poll_read(cx, buf),
                    $ty::Tls(s) => Pin::new(s).poll_read(cx, buf),
                }
            }
        }
    };
    (write $ty:ident) => {
        impl AsyncWrite for $ty {
            fn poll_write(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &[u8],
            ) -> Poll<io::Result<usize>> {
                match self.get_mut() {
                    $ty::Plain(s) => Pin::new(s).poll_write(cx, buf),
                    $ty::Tls(s) => Pin::new(s).poll_write(cx, buf),
                }
            }

            fn poll_write_vectored(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                bufs: &[io::IoSlice<'_>],
            ) -> Poll<io::Result<usize>> {
                match self.get_mut() {
                    $ty::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
                    $ty::Tls(s) => Pin::new(s).poll_write_vectored(cx, bufs),
                }
            }

            fn is_write_vectored(&self) -> bool {
                match self {
                    $ty::Plain(s) => s.is_write_vectored(),
                    $ty::Tls(s) => s.is_write_vectored(),
                }
            }

            fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                match self.get_mut() {
                    $ty::Plain(s) => Pin::new(s).poll_flush(cx),
                    $ty::Tls(s) => Pin::new(s).poll_flush(cx),
                }
            }

            fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                match self.get_mut() {
                    $ty::Plain(s) => Pin::new(s).poll_shutdown(cx),
                    $ty::Tls(s) => Pin::new(s).poll_shutdown(cx),
                }
            }
        }
    };
}

delegate!(read Stream);
delegate!(write Stream);
delegate!(read ReadHalf);
delegate!(write WriteHalf);
