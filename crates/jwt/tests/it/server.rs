//! A JWKS server on 127.0.0.1 whose answer the test controls, counting requests.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

/// What the server answers.
#[derive(Clone, Debug)]
pub enum Mode {
    /// `200` with this JSON body.
    Json(String),
    /// `200` with a 50 MiB body.
    Huge,
    /// `200`, then one byte every 200 ms.
    Slow,
    /// This status, empty body.
    Status(u16),
}

pub struct JwksServer {
    pub addr: SocketAddr,
    pub hits: Arc<AtomicUsize>,
    mode: Arc<Mutex<Mode>>,
    tls: Option<TlsAcceptor>,
    task: JoinHandle<()>,
}

impl JwksServer {
    pub async fn start(mode: Mode) -> JwksServer {
        Self::bind("127.0.0.1:0".parse().unwrap(), mode, None).await
    }

    pub async fn start_tls(mode: Mode, tls: TlsAcceptor) -> JwksServer {
        Self::bind("127.0.0.1:0".parse().unwrap(), mode, Some(tls)).await
    }

    async fn bind(addr: SocketAddr, mode: Mode, tls: Option<TlsAcceptor>) -> JwksServer {
        let listener = TcpListener::bind(addr).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let hits = Arc::new(AtomicUsize::new(0));
        let mode = Arc::new(Mutex::new(mode));
        let task = tokio::spawn(serve(listener, hits.clone(), mode.clone(), tls.clone()));
        JwksServer {
            addr,
            hits,
            mode,
            tls,
            task,
        }
    }

    pub fn uri(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}/jwks.json", self.addr)
    }

    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    pub fn set(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }

    /// Stops listening (connections in progress are dropped with the task).
    pub fn stop(&self) {
        self.task.abort();
    }

    /// Listens again on the same address, with `mode`, keeping the hit counter.
    pub async fn restart(&mut self, mode: Mode) {
        self.task.abort();
        let _ = (&mut self.task).await;
        self.set(mode);
        let listener = TcpListener::bind(self.addr).await.unwrap();
        self.task = tokio::spawn(serve(
            listener,
            self.hits.clone(),
            self.mode.clone(),
            self.tls.clone(),
        ));
    }
}

impl Drop for JwksServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(
    listener: TcpListener,
    hits: Arc<AtomicUsize>,
    mode: Arc<Mutex<Mode>>,
    tls: Option<TlsAcceptor>,
) {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let hits = hits.clone();
        let mode = mode.clone();
        let tls = tls.clone();
        connections.spawn(async move {
            match tls {
                Some(tls) => {
                    if let Ok(stream) = tls.accept(stream).await {
                        answer(stream, &hits, &mode).await;
                    }
                }
                None => answer(stream, &hits, &mode).await,
            }
        });
    }
}

async fn answer<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    hits: &AtomicUsize,
    mode: &Mutex<Mode>,
) {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
        if head.len() > 16 * 1024 {
            return;
        }
    }
    hits.fetch_add(1, Ordering::SeqCst);
    let mode = mode.lock().unwrap().clone();
    let _ = match mode {
        Mode::Json(body) => {
            let response = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            stream.write_all(response.as_bytes()).await
        }
        Mode::Status(code) => {
            let response =
                format!("HTTP/1.1 {code} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            stream.write_all(response.as_bytes()).await
        }
        Mode::Huge => {
            let size = 50 * 1024 * 1024;
            let head =
                format!("HTTP/1.1 200 OK\r\ncontent-length: {size}\r\nconnection: close\r\n\r\n");
            let chunk = vec![b' '; 64 * 1024];
            let mut result = stream.write_all(head.as_bytes()).await;
            let mut sent = 0;
            while result.is_ok() && sent < size {
                result = stream.write_all(&chunk).await;
                sent += chunk.len();
            }
            result
        }
        Mode::Slow => {
            let head = "HTTP/1.1 200 OK\r\ncontent-length: 1000\r\nconnection: close\r\n\r\n";
            let mut result = stream.write_all(head.as_bytes()).await;
            while result.is_ok() {
                tokio::time::sleep(Duration::from_millis(200)).await;
                result = stream.write_all(b" ").await;
            }
            result
        }
    };
    let _ = stream.shutdown().await;
}
