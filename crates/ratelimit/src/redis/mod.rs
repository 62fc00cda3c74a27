//! A minimal Redis client: one pipelined connection, reconnected with backoff.
//!
//! Why not the `redis` crate (DESIGN.md §6): global rate limiting needs three commands (`EVAL`,
//! `AUTH`, `SELECT`) over one connection, while `redis` with its async connection manager pulls
//! in `url` (and with it the ICU crates of `idna`), `combine`, `futures-util` and `backon` — a large
//! share of a 2-core build for a 300-line job. This module speaks RESP2 over a tokio
//! `TcpStream` instead.
//!
//! The connection is owned by a task on the control runtime (data-plane workers have their own
//! single-threaded runtimes, and a socket is driven by the runtime that registered it). Callers
//! send commands over a channel and await their reply; commands from every worker are
//! pipelined on the one connection. Every call is bounded by the configured timeout (Envoy
//! Gateway's default: 20 ms). When the connection fails, pending calls fail at once; the next
//! call reconnects, and failed connects back off (50 ms doubling to 2 s) during which calls fail
//! immediately instead of waiting out the timeout.

mod resp;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};

pub use resp::{encode, Value};

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum RedisError {
    /// No connection (down, reconnecting or backing off).
    #[error("redis unavailable")]
    Unavailable,
    /// No reply within the timeout.
    #[error("redis timeout")]
    Timeout,
    /// The connection broke.
    #[error("redis connection: {0}")]
    Io(String),
    /// Redis answered with an error.
    #[error("redis: {0}")]
    Server(String),
}

/// Where and how to reach Redis: `redis://[[user]:password@]host:port[/db]`. Its `Debug` form
/// never shows the password.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisAddr {
    /// `host:port`.
    pub host_port: String,
    /// Password (`AUTH`).
    pub password: Option<String>,
    /// Database (`SELECT`).
    pub db: u32,
}

impl std::fmt::Debug for RedisAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisAddr")
            .field("host_port", &self.host_port)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("db", &self.db)
            .finish()
    }
}

impl std::str::FromStr for RedisAddr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let rest = s
            .strip_prefix("redis://")
            .ok_or_else(|| format!("{s:?}: expected redis://host:port"))?;
        let (auth, rest) = match rest.rsplit_once('@') {
            Some((a, r)) => (Some(a), r),
            None => (None, rest),
        };
        let (host_port, db) = match rest.split_once('/') {
            Some((h, "")) => (h, 0),
            Some((h, db)) => (h, db.parse().map_err(|_| format!("{s:?}: bad db {db:?}"))?),
            None => (rest, 0),
        };
        let host_port = if host_port.contains(':') {
            host_port.to_string()
        } else {
            format!("{host_port}:6379")
        };
        if host_port.starts_with(':') {
            return Err(format!("{s:?}: missing host"));
        }
        let password = auth
            .map(|a| a.split_once(':').map_or(a, |(_, p)| p).to_string())
            .filter(|p| !p.is_empty());
        Ok(Self {
            host_port,
            password,
            db,
        })
    }
}

struct Call {
    cmd: Vec<u8>,
    reply: oneshot::Sender<Result<Value, RedisError>>,
}

/// A shared client.
#[derive(Debug)]
pub struct Client {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    addr: RedisAddr,
    timeout: Duration,
    runtime: tokio::runtime::Handle,
    conn: ArcSwapOption<mpsc::Sender<Call>>,
    connecting: AtomicBool,
    base: Instant,
    /// Milliseconds since `base` before which no connect is tried.
    retry_at: AtomicU64,
    backoff_ms: AtomicU64,
}

const MIN_BACKOFF_MS: u64 = 50;
const MAX_BACKOFF_MS: u64 = 2_000;

impl Client {
    /// A client for `addr`; its connection runs on `runtime`. Nothing connects until the first
    /// call.
    pub fn new(addr: RedisAddr, timeout: Duration, runtime: tokio::runtime::Handle) -> Self {
        Self {
            inner: Arc::new(Inner {
                addr,
                timeout,
                runtime,
                conn: ArcSwapOption::empty(),
                connecting: AtomicBool::new(false),
                base: Instant::now(),
                retry_at: AtomicU64::new(0),
                backoff_ms: AtomicU64::new(0),
            }),
        }
    }

    /// Starts connecting in the background (so the first requests find a connection).
    pub fn warm(&self) {
        if self.inner.connecting.swap(true, Ordering::AcqRel) {
            return;
        }
        let (done, _) = oneshot::channel();
        self.inner.runtime.spawn(connect(self.inner.clone(), done));
    }

    /// Sends one encoded command and waits (at most the timeout) for its reply.
    pub async fn call(&self, cmd: Vec<u8>) -> Result<Value, RedisError> {
        let work = async {
            let tx = self.sender().await?;
            let (reply, rx) = oneshot::channel();
            tx.send(Call { cmd, reply })
                .await
                .map_err(|_| RedisError::Unavailable)?;
            rx.await.map_err(|_| RedisError::Unavailable)?
        };
        match tokio::time::timeout(self.inner.timeout, work).await {
            Ok(Ok(Value::Error(e))) => Err(RedisError::Server(e)),
            Ok(r) => r,
            Err(_) => Err(RedisError::Timeout),
        }
    }

    async fn sender(&self) -> Result<mpsc::Sender<Call>, RedisError> {
        let inner = &self.inner;
        if let Some(tx) = inner.conn.load_full() {
            if !tx.is_closed() {
                return Ok((*tx).clone());
            }
        }
        let now_ms = inner.base.elapsed().as_millis() as u64;
        if now_ms < inner.retry_at.load(Ordering::Relaxed)
            || inner.connecting.swap(true, Ordering::AcqRel)
        {
            return Err(RedisError::Unavailable);
        }
        let (done, ready) = oneshot::channel();
        inner.runtime.spawn(connect(inner.clone(), done));
        ready.await.map_err(|_| RedisError::Unavailable)?
    }
}

/// Connects (bounded by one second, apart from the caller's timeout), then serves the
/// connection until it fails. Records the new connection or the backoff.
async fn connect(inner: Arc<Inner>, done: oneshot::Sender<Result<mpsc::Sender<Call>, RedisError>>) {
    let result = tokio::time::timeout(Duration::from_secs(1), open(&inner.addr)).await;
    let result = match result {
        Ok(r) => r,
        Err(_) => Err(RedisError::Timeout),
    };
    match result {
        Ok(stream) => {
            let (tx, rx) = mpsc::channel(1024);
            inner.conn.store(Some(Arc::new(tx.clone())));
            inner.backoff_ms.store(0, Ordering::Relaxed);
            inner.connecting.store(false, Ordering::Release);
            tracing::info!(addr = %inner.addr.host_port, "redis connected");
            let _ = done.send(Ok(tx));
            if let Err(e) = serve(stream, rx).await {
                tracing::warn!(addr = %inner.addr.host_port, error = %e, "redis connection lost");
            }
        }
        Err(e) => {
            let backoff = (inner.backoff_ms.load(Ordering::Relaxed) * 2)
                .clamp(MIN_BACKOFF_MS, MAX_BACKOFF_MS);
            inner.backoff_ms.store(backoff, Ordering::Relaxed);
            let now_ms = inner.base.elapsed().as_millis() as u64;
            inner.retry_at.store(now_ms + backoff, Ordering::Relaxed);
            inner.connecting.store(false, Ordering::Release);
            tracing::debug!(addr = %inner.addr.host_port, error = %e, backoff, "redis connect failed");
            let _ = done.send(Err(e));
        }
    }
}

/// Opens and prepares a connection (`AUTH`, `SELECT`).
async fn open(addr: &RedisAddr) -> Result<TcpStream, RedisError> {
    let io = |e: std::io::Error| RedisError::Io(e.to_string());
    let mut stream = TcpStream::connect(&addr.host_port).await.map_err(io)?;
    let _ = stream.set_nodelay(true);
    let mut setup: Vec<Vec<u8>> = Vec::new();
    if let Some(p) = &addr.password {
        let mut c = Vec::new();
        encode(&mut c, &[b"AUTH", p.as_bytes()]);
        setup.push(c);
    }
    if addr.db != 0 {
        let mut c = Vec::new();
        encode(&mut c, &[b"SELECT", addr.db.to_string().as_bytes()]);
        setup.push(c);
    }
    let mut buf = BytesMut::new();
    for c in setup {
        stream.write_all(&c).await.map_err(io)?;
        loop {
            match resp::parse(&mut buf).map_err(|e| RedisError::Io(e.to_string()))? {
                Some(Value::Error(e)) => return Err(RedisError::Server(e)),
                Some(_) => break,
                None => {
                    if stream.read_buf(&mut buf).await.map_err(io)? == 0 {
                        return Err(RedisError::Io("closed during setup".into()));
                    }
                }
            }
        }
    }
    Ok(stream)
}

/// Pipelines calls on `stream`: writes each command as it arrives, answers replies in order.
/// On failure every waiting call gets the error.
async fn serve(stream: TcpStream, mut rx: mpsc::Receiver<Call>) -> Result<(), RedisError> {
    let (mut rd, mut wr) = stream.into_split();
    let mut pending: VecDeque<oneshot::Sender<Result<Value, RedisError>>> = VecDeque::new();
    let mut buf = BytesMut::with_capacity(4096);
    let result = loop {
        tokio::select! {
            call = rx.recv() => {
                let Some(call) = call else { break Ok(()) };
                let mut out = call.cmd;
                pending.push_back(call.reply);
                // Batch whatever else is queued into one write.
                while let Ok(more) = rx.try_recv() {
                    out.extend_from_slice(&more.cmd);
                    pending.push_back(more.reply);
                }
                if let Err(e) = wr.write_all(&out).await {
                    break Err(RedisError::Io(e.to_string()));
                }
            }
            n = rd.read_buf(&mut buf) => {
                match n {
                    Ok(0) => break Err(RedisError::Io("closed by server".into())),
                    Err(e) => break Err(RedisError::Io(e.to_string())),
                    Ok(_) => {}
                }
                loop {
                    match resp::parse(&mut buf) {
                        Ok(Some(v)) => match pending.pop_front() {
                            Some(reply) => { let _ = reply.send(Ok(v)); }
                            None => return Err(RedisError::Io("unsolicited reply".into())),
                        },
                        Ok(None) => break,
                        Err(e) => return Err(RedisError::Io(e.to_string())),
                    }
                }
            }
        }
    };
    rx.close();
    for reply in pending {
        let _ = reply.send(Err(RedisError::Unavailable));
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        let a: RedisAddr = "redis://127.0.0.1:6390".parse().unwrap();
        assert_eq!(a.host_port, "127.0.0.1:6390");
        assert_eq!((a.password, a.db), (None, 0));
        let a: RedisAddr = "redis://:s3cret@redis.example/2".parse().unwrap();
        assert!(
            !format!("{a:?}").contains("s3cret"),
            "no secret in Debug output"
        );
        assert_eq!(a.host_port, "redis.example:6379");
        assert_eq!((a.password.as_deref(), a.db), (Some("s3cret"), 2));
        assert!("http://x".parse::<RedisAddr>().is_err());
    }

    #[tokio::test]
    async fn unreachable_redis_fails_fast_and_backs_off() {
        // A port nothing listens on.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr = format!("redis://127.0.0.1:{port}").parse().unwrap();
        let c = Client::new(
            addr,
            Duration::from_millis(20),
            tokio::runtime::Handle::current(),
        );
        let mut ping = Vec::new();
        encode(&mut ping, &[b"PING"]);
        assert!(c.call(ping.clone()).await.is_err());
        // Backing off: refused without a connect attempt.
        assert!(matches!(c.call(ping).await, Err(RedisError::Unavailable)));
        assert!(c.inner.backoff_ms.load(Ordering::Relaxed) >= MIN_BACKOFF_MS);
    }
}
