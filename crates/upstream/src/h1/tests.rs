//! The HTTP/1.1 client against scripted loopback servers.

use std::sync::Arc;

use bytes::Bytes;
use crossbeam_queue::ArrayQueue;
use http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::*;

/// A server that answers each request on a connection with the next scripted response, and
/// records the raw requests. Returns its address.
async fn server(
    responses: Vec<&'static [u8]>,
) -> (
    std::net::SocketAddr,
    tokio::sync::mpsc::UnboundedReceiver<Vec<u8>>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut responses = responses.into_iter();
        while let Ok((mut sock, _)) = listener.accept().await {
            let mut buf = Vec::new();
            loop {
                let mut chunk = [0u8; 4096];
                let Ok(n) = sock.read(&mut chunk).await else {
                    break;
                };
                if n == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..n]);
                let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                    continue;
                };
                let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                let body_len: usize = head
                    .lines()
                    .find_map(|l| {
                        l.strip_prefix("content-length: ")
                            .map(|v| v.trim().parse().unwrap())
                    })
                    .unwrap_or(0);
                let chunked = head.contains("transfer-encoding: chunked");
                let complete = if chunked {
                    buf.ends_with(b"0\r\n\r\n")
                } else {
                    buf.len() >= end + 4 + body_len
                };
                if !complete {
                    continue;
                }
                tx.send(std::mem::take(&mut buf)).unwrap();
                match responses.next() {
                    Some(b"CLOSE") | None => break,
                    Some(resp) => {
                        sock.write_all(resp).await.unwrap();
                        // An HTTP/1.0 answer without framing ends when the server closes.
                        if resp.starts_with(b"HTTP/1.0") {
                            break;
                        }
                    }
                }
            }
        }
    });
    (addr, rx)
}

fn idle() -> IdleQueue {
    Arc::new(ArrayQueue::new(4))
}

fn get(path: &str) -> Box<Request<RequestBody>> {
    Box::new(
        Request::builder()
            .method(Method::GET)
            .uri(path)
            .header("host", "up")
            .body(RequestBody::empty())
            .unwrap(),
    )
}

async fn conn(addr: std::net::SocketAddr) -> Box<H1Conn> {
    H1Conn::new(TcpStream::connect(addr).await.unwrap())
}

async fn body_of(resp: http::Response<H1Body>) -> (Bytes, Option<http::HeaderMap>) {
    let collected = resp.into_body().collect().await.unwrap();
    let trailers = collected.trailers().cloned();
    (collected.to_bytes(), trailers)
}

#[tokio::test]
async fn content_length_response_returns_the_connection_for_reuse() {
    let (addr, mut seen) = server(vec![
        b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\nx-a: 1\r\n\r\nhello",
        b"HTTP/1.1 201 Created\r\ncontent-length: 2\r\n\r\nok",
    ])
    .await;
    let pool = idle();
    let resp = conn(addr)
        .await
        .send(get("/a?b=1"), pool.clone())
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["x-a"], "1");
    assert_eq!(body_of(resp).await.0, "hello");
    let raw = String::from_utf8(seen.recv().await.unwrap()).unwrap();
    assert_eq!(raw, "GET /a?b=1 HTTP/1.1\r\nhost: up\r\n\r\n");
    let mut again = pool.pop().expect("connection back in the pool");
    assert!(again.is_reusable());
    assert_eq!(again.life.requests, 1);
    let resp = again.send(get("/b"), pool.clone()).await.unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    assert_eq!(body_of(resp).await.0, "ok");
}

#[tokio::test]
async fn connection_fields_about_this_hop_are_consumed_and_others_kept() {
    let (addr, _seen) = server(vec![
        b"HTTP/1.1 200 OK\r\nconnection: keep-alive\r\ncontent-length: 1\r\n\r\na",
        b"HTTP/1.1 200 OK\r\nconnection: keep-alive, x-hop\r\nx-hop: 1\r\ncontent-length: 1\r\n\r\nb",
        b"HTTP/1.1 200 OK\r\nConnection: Close\r\ncontent-length: 1\r\n\r\nc",
    ])
    .await;
    let pool = idle();
    let resp = conn(addr).await.send(get("/"), pool.clone()).await.unwrap();
    assert!(resp.headers().get("connection").is_none());
    body_of(resp).await;
    let again = pool.pop().expect("keep-alive connection reused");
    let resp = again.send(get("/"), pool.clone()).await.unwrap();
    // A field naming another field stays for the proxy to strip both.
    assert_eq!(resp.headers()["connection"], "keep-alive, x-hop");
    body_of(resp).await;
    let again = pool.pop().expect("reused again");
    let resp = again.send(get("/"), pool.clone()).await.unwrap();
    assert!(resp.headers().get("connection").is_none());
    assert_eq!(body_of(resp).await.0, "c");
    assert_eq!(pool.len(), 0, "`close` still ends the connection");
}

#[tokio::test]
async fn chunked_bodies_and_trailers_are_decoded() {
    let (addr, _seen) =
        server(vec![b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n1\r\n!\r\n0\r\ngrpc-status: 0\r\n\r\n"]).await;
    let pool = idle();
    let resp = conn(addr).await.send(get("/"), pool.clone()).await.unwrap();
    let (body, trailers) = body_of(resp).await;
    assert_eq!(body, "hello!");
    assert_eq!(trailers.unwrap()["grpc-status"], "0");
    assert_eq!(pool.len(), 1);
}

#[tokio::test]
async fn close_delimited_bodies_end_at_eof_and_are_not_reused() {
    let (addr, _seen) = server(vec![b"HTTP/1.0 200 OK\r\n\r\nuntil close"]).await;
    let pool = idle();
    let resp = conn(addr).await.send(get("/"), pool.clone()).await;
    // The scripted server closes after writing, which ends the body.
    let (body, _) = body_of(resp.unwrap()).await;
    assert_eq!(body, "until close");
    assert_eq!(pool.len(), 0);
}

#[tokio::test]
async fn informational_responses_are_skipped_and_empty_bodies_release_at_once() {
    let (addr, _seen) = server(vec![
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
        b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n",
    ])
    .await;
    let pool = idle();
    let resp = conn(addr).await.send(get("/"), pool.clone()).await.unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        pool.len(),
        1,
        "no body: the connection is back before the body is polled"
    );
    let head = Request::builder()
        .method(Method::HEAD)
        .uri("/")
        .header("host", "up")
        .body(RequestBody::empty())
        .unwrap();
    let resp = pool
        .pop()
        .unwrap()
        .send(Box::new(head), pool.clone())
        .await
        .unwrap();
    assert_eq!(resp.headers()["content-length"], "10");
    assert_eq!(
        body_of(resp).await.0,
        "",
        "a HEAD response has no body whatever its length"
    );
}

#[tokio::test]
async fn request_bodies_are_framed() {
    let (addr, mut seen) = server(vec![
        b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n",
    ])
    .await;
    let pool = idle();
    let post = Request::builder()
        .method(Method::POST)
        .uri("/p")
        .header("host", "up")
        .body(RequestBody::Full(Some(Bytes::from_static(b"abc"))))
        .unwrap();
    conn(addr)
        .await
        .send(Box::new(post), pool.clone())
        .await
        .unwrap();
    let raw = String::from_utf8(seen.recv().await.unwrap()).unwrap();
    assert_eq!(
        raw,
        "POST /p HTTP/1.1\r\nhost: up\r\ncontent-length: 3\r\n\r\nabc"
    );
}

#[tokio::test]
async fn malformed_responses_are_protocol_errors() {
    for bad in [
        &b"HTTP/1.1 abc OK\r\n\r\n"[..],
        b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\nx",
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n",
    ] {
        let bad: &'static [u8] = Box::leak(bad.to_vec().into_boxed_slice());
        let (addr, _seen) = server(vec![bad]).await;
        let result = conn(addr).await.send(get("/"), idle()).await;
        match result {
            Err(Failure {
                error: Error::Protocol(_),
                ..
            }) => {}
            Ok(resp) => {
                let err = resp.into_body().collect().await.expect_err("body error");
                assert!(matches!(err, Error::Protocol(_)), "{err:?}");
            }
            Err(other) => panic!("{:?}", other.error),
        }
    }
}

#[tokio::test]
async fn a_reused_connection_closed_by_the_upstream_gives_the_request_back() {
    let (addr, _seen) = server(vec![
        b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n",
        b"CLOSE",
    ])
    .await;
    let pool = idle();
    conn(addr).await.send(get("/"), pool.clone()).await.unwrap();
    let reused = pool.pop().unwrap();
    let failure = reused
        .send(get("/again"), pool.clone())
        .await
        .expect_err("the server closed");
    assert!(matches!(failure.error, Error::Reset(_)));
    let unsent = failure
        .unsent
        .expect("no body, reused, nothing received: safe to resend");
    assert_eq!(unsent.uri().path(), "/again");
}

#[tokio::test]
async fn an_idle_connection_the_upstream_closed_is_not_reusable() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let client = conn(addr).await;
    let (server_side, _) = listener.accept().await.unwrap();
    let mut client = client;
    assert!(client.is_reusable());
    drop(server_side);
    // Wait for the FIN to arrive: the socket becomes readable.
    let crate::stream::Stream::Plain(tcp) = &client.stream else {
        panic!("a plain connection");
    };
    tcp.readable().await.unwrap();
    assert!(!client.is_reusable());
}

#[test]
fn idle_and_aged_connections_are_not_reused() {
    use std::time::{Duration, Instant};
    let life = super::Lifetime::new(0, None);
    let now = Instant::now();
    assert!(life.usable(now, Duration::from_secs(60), None));
    let later = now + Duration::from_secs(61);
    assert!(
        !life.usable(later, Duration::from_secs(60), None),
        "idle too long"
    );
    assert!(life.usable(
        later,
        Duration::from_secs(3600),
        Some(Duration::from_secs(120))
    ));
    assert!(
        !life.usable(
            now + Duration::from_secs(121),
            Duration::from_secs(3600),
            Some(Duration::from_secs(120))
        ),
        "older than maxConnectionDuration"
    );
}
