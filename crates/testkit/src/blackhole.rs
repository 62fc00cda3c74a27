//! An address where TCP connects hang: a listener that never accepts, with its accept queue
//! full, so the kernel drops further SYNs (the loopback stand-in for an unreachable host).

use std::net::SocketAddr;
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};

/// A listening socket whose backlog is full.
pub struct Blackhole {
    /// Where connects hang.
    pub addr: SocketAddr,
    _listener: Socket,
    _fillers: Vec<tokio::net::TcpStream>,
}

impl Blackhole {
    /// Binds on 127.0.0.1 and fills the accept queue until a connect no longer completes.
    pub async fn start() -> Blackhole {
        let listener =
            Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP)).expect("socket");
        listener
            .bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
            .expect("bind");
        listener.listen(0).expect("listen");
        let addr = listener
            .local_addr()
            .expect("addr")
            .as_socket()
            .expect("inet");
        let mut fillers = Vec::new();
        // Bounded: the queue holds at most a couple of connections with backlog 0.
        for _ in 0..16 {
            match tokio::time::timeout(
                Duration::from_millis(200),
                tokio::net::TcpStream::connect(addr),
            )
            .await
            {
                Ok(Ok(stream)) => fillers.push(stream),
                _ => {
                    return Blackhole {
                        addr,
                        _listener: listener,
                        _fillers: fillers,
                    }
                }
            }
        }
        panic!("the accept queue of {addr} never filled up");
    }
}
