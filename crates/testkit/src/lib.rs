//! Test helpers shared by the integration tests: real servers on 127.0.0.1 ephemeral ports.

pub mod backend;
pub mod blackhole;
pub mod client;
pub mod h2raw;
pub mod jwt;
pub mod otlp;
pub mod pki;
pub mod prometheus;
pub mod redis;
pub mod tcp_echo;
pub mod tls_backend;
pub mod tls_client;

pub use backend::{Backend, Recorded, Reply};
pub use blackhole::Blackhole;
pub use client::{Request, Response};
pub use otlp::OtlpReceiver;
pub use redis::Redis;

/// A loopback port that was free a moment ago (nothing listens on it when this returns).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("an ephemeral port")
}
