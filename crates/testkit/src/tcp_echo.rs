//! A TCP echo server in the style of Istio's `tcp-echo` sample: every line it reads is answered
//! with `<name> <line>\n`. When the client stops writing, a last unterminated line is answered
//! the same way and the server closes, so a half-close can be observed end to end. Optionally
//! TLS (its own certificate), as a stand-in for a TLS server behind a passthrough gateway.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::task::JoinSet;

/// A running echo server on 127.0.0.1; stops (with its connections) when dropped.
pub struct TcpEcho {
    /// Where it listens.
    pub addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl TcpEcho {
    /// A plain-text echo server prefixing its replies with `name`.
    pub async fn start(name: &str) -> TcpEcho {
        Self::serve(name, None).await
    }

    /// The same over TLS, presenting `config`'s certificate.
    pub async fn start_tls(name: &str, config: Arc<rustls::ServerConfig>) -> TcpEcho {
        Self::serve(name, Some(tokio_rustls::TlsAcceptor::from(config))).await
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    async fn serve(name: &str, tls: Option<tokio_rustls::TlsAcceptor>) -> TcpEcho {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = accepted.clone();
        let name: Arc<str> = name.into();
        let task = tokio::spawn(async move {
            let mut connections = JoinSet::new();
            while let Ok((stream, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                let name = name.clone();
                let tls = tls.clone();
                connections.spawn(async move {
                    match tls {
                        None => echo(stream, &name).await,
                        Some(acceptor) => {
                            if let Ok(stream) = acceptor.accept(stream).await {
                                echo(stream, &name).await;
                            }
                        }
                    }
                });
                // Forget finished connections so the set stays small.
                while connections.try_join_next().is_some() {}
            }
        });
        TcpEcho {
            addr,
            accepted,
            task,
        }
    }
}

impl Drop for TcpEcho {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Answers each line, then the last partial one at end of stream, then closes.
async fn echo<S: AsyncRead + AsyncWrite + Unpin>(stream: S, name: &str) {
    let mut stream = BufReader::new(stream);
    let mut line = Vec::new();
    loop {
        line.clear();
        match stream.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let text = String::from_utf8_lossy(&line);
        let reply = format!("{name} {}\n", text.trim_end_matches('\n'));
        if stream.get_mut().write_all(reply.as_bytes()).await.is_err() {
            return;
        }
        if !line.ends_with(b"\n") {
            break;
        }
    }
    let _ = stream.get_mut().shutdown().await;
}

/// How long a client step may take before it fails with `TimedOut` (keeps tests bounded).
const STEP: std::time::Duration = std::time::Duration::from_secs(10);

/// A line client for [`TcpEcho`] (directly, or through a gateway), over TCP or TLS.
pub struct EchoClient<S> {
    stream: BufReader<S>,
}

/// A TLS client stream.
pub type TlsStream = tokio_rustls::client::TlsStream<tokio::net::TcpStream>;

impl EchoClient<tokio::net::TcpStream> {
    /// Connects over plain TCP.
    pub async fn connect(addr: SocketAddr) -> std::io::Result<Self> {
        let stream = bounded(tokio::net::TcpStream::connect(addr)).await??;
        Ok(Self {
            stream: BufReader::new(stream),
        })
    }
}

impl EchoClient<TlsStream> {
    /// Connects over TLS with SNI `sni` (an IP address sends none) and completes the handshake;
    /// returns the certificate the server presented. `Err` carries the TLS or I/O error text.
    pub async fn connect_tls(
        addr: SocketAddr,
        sni: &str,
        config: Arc<rustls::ClientConfig>,
    ) -> Result<(Self, rustls::pki_types::CertificateDer<'static>), String> {
        let tcp = bounded(tokio::net::TcpStream::connect(addr))
            .await
            .and_then(|r| r)
            .map_err(|e| e.to_string())?;
        let connecting =
            tokio_rustls::TlsConnector::from(config).connect(crate::pki::server_name(sni), tcp);
        let tls = bounded(connecting)
            .await
            .and_then(|r| r)
            .map_err(|e| e.to_string())?;
        let cert = tls
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|c| c.first())
            .cloned()
            .ok_or("no server certificate")?;
        Ok((
            Self {
                stream: BufReader::new(tls),
            },
            cert,
        ))
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> EchoClient<S> {
    /// Sends `line` and a newline; returns the reply line without its newline. A connection
    /// closed before a whole reply is an error.
    pub async fn exchange(&mut self, line: &str) -> std::io::Result<String> {
        let request = format!("{line}\n");
        bounded(self.stream.get_mut().write_all(request.as_bytes())).await??;
        self.read_line().await
    }

    /// Sends `text` without a newline, stops writing (a half-close), and reads what comes back
    /// until the other side closes.
    pub async fn finish(mut self, text: &str) -> std::io::Result<String> {
        let writer = self.stream.get_mut();
        bounded(writer.write_all(text.as_bytes())).await??;
        bounded(writer.shutdown()).await??;
        let mut rest = String::new();
        bounded(tokio::io::AsyncReadExt::read_to_string(
            &mut self.stream,
            &mut rest,
        ))
        .await??;
        Ok(rest)
    }

    /// Waits until the other side closes (end of stream or reset); `false` if bytes arrive
    /// instead.
    pub async fn closed(&mut self) -> bool {
        let mut buf = [0u8; 64];
        match bounded(tokio::io::AsyncReadExt::read(&mut self.stream, &mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => true,
            Ok(Ok(_)) => false,
            Err(_) => panic!("the connection stayed open for {STEP:?}"),
        }
    }

    async fn read_line(&mut self) -> std::io::Result<String> {
        let mut reply = String::new();
        bounded(self.stream.read_line(&mut reply)).await??;
        match reply.strip_suffix('\n') {
            Some(line) => Ok(line.to_string()),
            None => Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!("closed after {reply:?}"),
            )),
        }
    }
}

/// `f` within [`STEP`], else a `TimedOut` error.
async fn bounded<T>(f: impl std::future::Future<Output = T>) -> std::io::Result<T> {
    tokio::time::timeout(STEP, f)
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "test step timed out"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn replies_per_line_and_to_a_half_close() {
        let echo = TcpEcho::start("one").await;
        let mut client = EchoClient::connect(echo.addr).await.unwrap();
        assert_eq!(client.exchange("hello").await.unwrap(), "one hello");
        assert_eq!(client.exchange("again").await.unwrap(), "one again");
        assert_eq!(client.finish("bye").await.unwrap(), "one bye\n");
        assert_eq!(echo.accepted(), 1);
    }

    #[tokio::test]
    async fn speaks_tls_with_its_own_certificate() {
        let ca = crate::pki::Ca::new("echo-ca");
        let leaf = ca.server(&["echo.example.com"]);
        let echo = TcpEcho::start_tls("tls", leaf.server_config(&[])).await;
        let (mut client, cert) =
            EchoClient::connect_tls(echo.addr, "echo.example.com", ca.client_config(&[]))
                .await
                .unwrap();
        assert_eq!(cert, leaf.der);
        assert_eq!(client.exchange("hi").await.unwrap(), "tls hi");
    }
}
