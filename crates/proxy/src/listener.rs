//! Worker threads and listeners.
//!
//! Each worker is a thread with its own single-threaded runtime (thread per core, as nginx and
//! Envoy run). Every listener is bound once per worker with `SO_REUSEPORT`, so the kernel spreads
//! connections across workers and a connection stays on the thread that accepted it. Listeners
//! follow the active snapshot: new ports are bound, removed ones stop accepting (their
//! connections finish). On drain every listener stops accepting and connections are shut down
//! gracefully (HTTP/1.1 closes after the in-flight response, HTTP/2 sends GOAWAY).

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::active::Shared;
use crate::codec;
use crate::request::ConnCx;
use crate::timeouts::{Limits, Sweep};

/// The data-plane worker threads and the listeners bound on them.
pub struct Workers {
    runtimes: Vec<tokio::runtime::Handle>,
    threads: Vec<std::thread::JoinHandle<()>>,
    exit: watch::Sender<bool>,
    /// Cancelled when draining: every connection then shuts down gracefully.
    drain: CancellationToken,
    listeners: HashMap<SocketAddr, Bound>,
}

struct Bound {
    stop: watch::Sender<bool>,
    loops: Vec<JoinHandle<()>>,
}

impl Workers {
    /// Starts `n` worker threads (at least one).
    pub fn start(n: usize) -> io::Result<Self> {
        let (exit, _) = watch::channel(false);
        let drain = CancellationToken::new();
        let mut runtimes = Vec::new();
        let mut threads = Vec::new();
        for id in 0..n.max(1) {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtimes.push(rt.handle().clone());
            let mut exit_rx = exit.subscribe();
            let thread = std::thread::Builder::new()
                .name(format!("rampart-worker-{id}"))
                .spawn(move || {
                    rampart_upstream::worker::set_current(id);
                    rt.block_on(async move {
                        let _ = exit_rx.wait_for(|&done| done).await;
                    });
                })?;
            threads.push(thread);
        }
        Ok(Self {
            runtimes,
            threads,
            exit,
            drain,
            listeners: HashMap::new(),
        })
    }

    /// Number of workers.
    pub fn count(&self) -> usize {
        self.runtimes.len()
    }

    /// Makes the bound listeners equal to `addresses`: binds new ones on every worker and stops
    /// accepting on removed ones. Fails without changing anything if a new address cannot be
    /// bound.
    pub fn bind(&mut self, shared: &Arc<Shared>, addresses: &[SocketAddr]) -> io::Result<()> {
        let mut fresh: Vec<(SocketAddr, Vec<std::net::TcpListener>)> = Vec::new();
        for addr in addresses {
            if self.listeners.contains_key(addr) || fresh.iter().any(|(a, _)| a == addr) {
                continue;
            }
            let sockets = (0..self.runtimes.len())
                .map(|_| reuseport_listener(*addr))
                .collect::<io::Result<Vec<_>>>()
                .map_err(|e| io::Error::new(e.kind(), format!("cannot bind {addr}: {e}")))?;
            fresh.push((*addr, sockets));
        }
        let removed: Vec<SocketAddr> = self
            .listeners
            .keys()
            .filter(|a| !addresses.contains(a))
            .copied()
            .collect();
        for addr in removed {
            if let Some(bound) = self.listeners.remove(&addr) {
                let _ = bound.stop.send(true);
            }
        }
        for (addr, sockets) in fresh {
            let (stop, _) = watch::channel(false);
            let loops = sockets
                .into_iter()
                .zip(&self.runtimes)
                .map(|(socket, rt)| {
                    let shared = shared.clone();
                    let stop = stop.subscribe();
                    let drain = self.drain.clone();
                    rt.spawn(async move {
                        match TcpListener::from_std(socket) {
                            Ok(listener) => {
                                accept_loop(listener, shared, addr.port(), stop, drain).await
                            }
                            Err(err) => {
                                tracing::error!(%addr, error = %err, "listener setup failed")
                            }
                        }
                    })
                })
                .collect();
            tracing::info!(%addr, "listening");
            self.listeners.insert(addr, Bound { stop, loops });
        }
        Ok(())
    }

    /// Stops accepting everywhere, lets in-flight requests finish (up to `timeout`), then stops
    /// the worker threads.
    pub async fn drain(mut self, timeout: Duration) {
        crate::timeouts::note_drain();
        self.drain.cancel();
        let mut loops = Vec::new();
        for (_, bound) in self.listeners.drain() {
            let _ = bound.stop.send(true);
            loops.extend(bound.loops);
        }
        let all = async {
            for l in loops {
                let _ = l.await;
            }
        };
        if tokio::time::timeout(timeout, all).await.is_err() {
            tracing::warn!(?timeout, "drain timeout: closing remaining connections");
        }
        let _ = self.exit.send(true);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn reuseport_listener(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    #[cfg(unix)]
    socket.set_reuse_port(true)?;
    // Accepted connections inherit it on Linux: one system call fewer per connection.
    socket.set_tcp_nodelay(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    port: u16,
    mut stop: watch::Receiver<bool>,
    drain: CancellationToken,
) {
    // Connections are tracked so that a drain can wait for all of them.
    let connections = tokio_util::task::TaskTracker::new();
    // `destination.ip` for authorization: the bound address, or each connection's when the
    // listener is bound to every address.
    let bound_ip = listener.local_addr().map(|a| a.ip()).ok();
    let o = &shared.options;
    let limits = Limits::new(
        o.request_headers_timeout,
        o.idle_timeout,
        o.stream_idle_timeout,
    );
    // Connections' tokens hang off this accept loop's own, so creating and dropping them only
    // touches this worker's token.
    let worker_drain = drain.child_token();
    let mut sweep = Sweep::default();
    let mut ticks = tokio::time::interval(Sweep::PERIOD);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick(), if limits.any() => {
                let closed = sweep.tick(&limits);
                if closed > 0 {
                    tracing::debug!(closed, "connections closed by timeouts");
                }
            }
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(pair) => pair,
                    Err(err) => {
                        // EMFILE and friends: back off briefly instead of spinning.
                        tracing::warn!(error = %err, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let Some(slot) = ConnectionSlot::take(&shared) else {
                    // Over the connection limit: closed at accept, the others go on.
                    shared.count_refusal(crate::headers::Refusal::ConnectionLimit);
                    drop(stream);
                    continue;
                };
                // Inherited from the listener on Linux (see `reuseport_listener`).
                #[cfg(not(target_os = "linux"))]
                let _ = stream.set_nodelay(true);
                let local_ip = match bound_ip {
                    Some(ip) if !ip.is_unspecified() => ip,
                    _ => stream.local_addr().map_or(peer.ip(), |a| a.ip()),
                };
                let token = worker_drain.child_token();
                let cx = ConnCx::new(shared.clone(), peer, local_ip, port, "http", token);
                let transport = transport_of(&shared, port);
                // Plain TCP has its routes' idle timeout; TLS is swept until its handshake ends.
                if limits.any() && !matches!(transport, Some(ConnTransport::Tcp(_))) {
                    sweep.track(&cx.clock);
                }
                // The connection's future is large (kilobytes: every state of the codecs and
                // of a request in flight) and is boxed where it is made: spawning or awaiting
                // it directly copies it whole at each step, which showed up as a fifth of the
                // instructions per connection under `Connection: close`.
                let serving: Pin<Box<dyn Future<Output = ()> + Send>> = match transport {
                    Some(ConnTransport::Tcp(routes)) => Box::pin(crate::tcp::serve(
                        stream,
                        bytes::Bytes::new(),
                        cx,
                        routes,
                        None,
                    )),
                    Some(ConnTransport::Tls(chains)) => {
                        Box::pin(crate::tls::serve(stream, cx, chains))
                    }
                    _ => Box::pin(codec::serve(stream, cx)),
                };
                connections.spawn(async move {
                    serving.await;
                    drop(slot);
                });
            }
            _ = stopped(&mut stop) => break,
        }
    }
    drop(listener);
    // Connections outlive a removed listener until the process drains; each shuts itself down
    // gracefully when the drain token is cancelled.
    drain.cancelled().await;
    connections.close();
    connections.wait().await;
}

/// What the active snapshot serves on `port` (only the parts a connection keeps, so that a
/// long-lived connection does not pin the whole snapshot).
enum ConnTransport {
    Http,
    Tcp(Arc<rampart_model::tcp::TcpRoutes>),
    Tls(Arc<rampart_model::TlsChains>),
}

fn transport_of(shared: &Shared, port: u16) -> Option<ConnTransport> {
    let active = shared.active();
    let listener = active
        .model
        .listeners
        .iter()
        .find(|l| l.address.port() == port)?;
    Some(match &listener.transport {
        rampart_model::Transport::Http => ConnTransport::Http,
        rampart_model::Transport::Tcp(routes) => ConnTransport::Tcp(routes.clone()),
        rampart_model::Transport::Tls(chains) => ConnTransport::Tls(chains.clone()),
    })
}

/// Resolves once the flag is set (or its sender is gone).
async fn stopped(flag: &mut watch::Receiver<bool>) {
    let _ = flag.wait_for(|&set| set).await.map(|_| ());
}

/// One of the process's downstream connections (`--max-connections`), given back on drop.
struct ConnectionSlot(Arc<Shared>);

impl ConnectionSlot {
    /// A slot, unless the limit is reached.
    fn take(shared: &Arc<Shared>) -> Option<Self> {
        let open = shared.connections.fetch_add(1, Ordering::Relaxed);
        if shared
            .options
            .max_connections
            .is_some_and(|max| open >= max)
        {
            shared.connections.fetch_sub(1, Ordering::Relaxed);
            return None;
        }
        Some(Self(shared.clone()))
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.0.connections.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The listener's TCP_NODELAY reaches accepted connections, which therefore skip their own
    /// `setsockopt` (Linux).
    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn accepted_connections_inherit_nodelay_from_the_listener() {
        let std_listener = reuseport_listener("127.0.0.1:0".parse().unwrap()).unwrap();
        let listener = TcpListener::from_std(std_listener).unwrap();
        let addr = listener.local_addr().unwrap();
        let client = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (accepted, _) = listener.accept().await.unwrap();
        assert!(accepted.nodelay().unwrap());
        drop(client);
    }
}
