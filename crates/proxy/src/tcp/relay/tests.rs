use std::time::Duration;

use tokio::io::{duplex, AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::task::JoinHandle;

use super::*;

/// A relay between two in-memory pipes: returns the test's client end, its upstream end, the
/// relay task and its stats.
fn start(
    replay: &'static [u8],
    idle: Option<Duration>,
    token: CancellationToken,
) -> (
    DuplexStream,
    DuplexStream,
    JoinHandle<Ended>,
    std::sync::Arc<TcpStats>,
) {
    let (client, client_gw) = duplex(64);
    let (upstream, upstream_gw) = duplex(64);
    let stats = std::sync::Arc::new(TcpStats::default());
    let counted = stats.clone();
    let task =
        tokio::spawn(
            async move { relay(client_gw, upstream_gw, replay, idle, &token, &counted).await },
        );
    (client, upstream, task, stats)
}

async fn read_exact(stream: &mut DuplexStream, n: usize) -> String {
    let mut buf = vec![0; n];
    stream.read_exact(&mut buf).await.expect("read");
    String::from_utf8(buf).expect("utf-8")
}

async fn bounded<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(5), f)
        .await
        .expect("bounded")
}

#[tokio::test]
async fn replay_goes_first_and_half_closes_pass_through() {
    let (mut client, mut upstream, task, stats) = start(b"hello ", None, CancellationToken::new());
    client.write_all(b"world").await.unwrap();
    assert_eq!(bounded(read_exact(&mut upstream, 11)).await, "hello world");
    upstream.write_all(b"back").await.unwrap();
    assert_eq!(bounded(read_exact(&mut client, 4)).await, "back");
    // The client stops writing: the upstream sees end-of-stream and may still answer.
    client.shutdown().await.unwrap();
    let mut rest = Vec::new();
    bounded(upstream.read_to_end(&mut rest)).await.unwrap();
    assert!(rest.is_empty());
    upstream.write_all(b"late").await.unwrap();
    assert_eq!(bounded(read_exact(&mut client, 4)).await, "late");
    upstream.shutdown().await.unwrap();
    let mut rest = Vec::new();
    bounded(client.read_to_end(&mut rest)).await.unwrap();
    assert!(rest.is_empty());
    assert_eq!(bounded(task).await.unwrap(), Ended::Closed);
    assert_eq!(stats.received_bytes.load(Ordering::Relaxed), 11);
    assert_eq!(stats.sent_bytes.load(Ordering::Relaxed), 8);
}

#[tokio::test]
async fn nothing_moving_for_the_idle_timeout_ends_the_relay() {
    let (mut client, mut upstream, task, _) = start(
        b"",
        Some(Duration::from_millis(50)),
        CancellationToken::new(),
    );
    client.write_all(b"x").await.unwrap();
    assert_eq!(bounded(read_exact(&mut upstream, 1)).await, "x");
    assert_eq!(bounded(task).await.unwrap(), Ended::Idle);
    // Both sides are closed when the relay ends.
    let mut rest = Vec::new();
    bounded(client.read_to_end(&mut rest)).await.unwrap();
    bounded(upstream.read_to_end(&mut rest)).await.unwrap();
    assert!(rest.is_empty());
}

#[tokio::test]
async fn a_drain_ends_the_relay() {
    let token = CancellationToken::new();
    let (_client, _upstream, task, _) = start(b"", None, token.clone());
    token.cancel();
    assert_eq!(bounded(task).await.unwrap(), Ended::Cancelled);
}

#[tokio::test]
async fn activity_defers_the_idle_timeout() {
    let meter = Meter::new();
    let timeout = Some(Duration::from_millis(40));
    let idle = meter.idle(timeout);
    tokio::pin!(idle);
    // Moves keep it pending; each one restarts the wait.
    for _ in 0..3 {
        meter.moved();
        // The sleep ends before the idle deadline, so it wins whenever both are ready.
        tokio::select! {
            biased;
            () = tokio::time::sleep(Duration::from_millis(10)) => {}
            () = &mut idle => panic!("idle while bytes move"),
        }
    }
    bounded(idle).await;
    assert!(meter.start.elapsed() >= Duration::from_millis(40));
}
