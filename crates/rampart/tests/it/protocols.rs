//! HTTP/2 on both sides, gRPC trailers, WebSocket-style upgrades, request bodies.

use rampart_testkit::{Backend, Reply, Request};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::{app_service, vs_to, TestGateway, G0};

fn config(be: &Backend, protocol: &str) -> String {
    format!(
        "{G0}{}{}",
        app_service(be.port(), protocol),
        vs_to("{host: app}")
    )
}

#[tokio::test]
async fn http2_clients_are_served_and_grpc_trailers_pass_through() {
    let be = Backend::with("grpc", |_| {
        Reply::new(200, "payload")
            .header("content-type", "application/grpc")
            .grpc(7)
    })
    .await;
    let gw = TestGateway::start(&config(&be, "GRPC")).await;
    let resp = Request::get(gw.addr, "/pkg.Service/Method")
        .method(http::Method::POST)
        .host("grpc.example.com")
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body("request")
        .http2()
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status.as_u16(), 200);
    assert_eq!(resp.body, "payload");
    assert_eq!(resp.trailers.expect("trailers")["grpc-status"], "7");
    let seen = &be.requests()[0];
    assert_eq!(
        seen.version,
        http::Version::HTTP_2,
        "GRPC ports are spoken to in HTTP/2"
    );
    assert_eq!(seen.headers["te"], "trailers");
    assert_eq!(seen.body.as_ref(), b"request");
}

#[tokio::test]
async fn http2_downstream_to_http1_upstream() {
    let be = Backend::start("app").await;
    let gw = TestGateway::start(&config(&be, "HTTP")).await;
    let resp = Request::get(gw.addr, "/x")
        .host("a.example.com")
        .http2()
        .send()
        .await
        .unwrap();
    assert_eq!((resp.status.as_u16(), resp.body.as_str()), (200, "app"));
    let seen = &be.requests()[0];
    assert_eq!(seen.version, http::Version::HTTP_11);
    assert_eq!(
        seen.headers["host"], "a.example.com",
        ":authority becomes Host"
    );
}

#[tokio::test]
async fn upgrades_are_spliced_both_ways() {
    let be = Backend::start("app").await;
    let gw = TestGateway::start(&config(&be, "HTTP")).await;
    let mut conn = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    conn.write_all(b"GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
        .await
        .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        conn.read_exact(&mut byte).await.unwrap();
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert!(head.contains("upgrade: echo"), "{head}");
    conn.write_all(b"ping").await.unwrap();
    let mut echoed = [0u8; 4];
    conn.read_exact(&mut echoed).await.unwrap();
    assert_eq!(&echoed, b"ping");
}

#[tokio::test]
async fn large_request_and_response_bodies_stream_through() {
    let be = Backend::with("big", |r| Reply::new(200, &"x".repeat(r.body.len()))).await;
    let gw = TestGateway::start(&config(&be, "HTTP")).await;
    let body = vec![b'a'; 4 << 20];
    let resp = Request::get(gw.addr, "/upload")
        .method(http::Method::POST)
        .host("a")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status.as_u16(), 200);
    assert_eq!(resp.body.len(), 4 << 20, "the response streamed back whole");
    assert_eq!(
        be.requests()[0].body.len(),
        4 << 20,
        "the request reached the backend whole"
    );
}

#[tokio::test]
async fn chunked_request_bodies_are_forwarded_chunked() {
    let be = Backend::start("app").await;
    let gw = TestGateway::start(&config(&be, "HTTP")).await;
    let mut conn = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    conn.write_all(
        b"POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
    )
    .await
    .unwrap();
    let mut reply = String::new();
    conn.read_to_string(&mut reply).await.unwrap();
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    let seen = &be.requests()[0];
    assert_eq!(seen.body.as_ref(), b"hello world");
    assert_eq!(seen.headers["transfer-encoding"], "chunked");
    assert!(seen.headers.get("content-length").is_none());
}

/// An upstream that answers at once and echoes the request body while still reading it.
async fn duplex_echo() -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                let mut head = Vec::new();
                let body_start = loop {
                    let n = sock.read(&mut buf).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    head.extend_from_slice(&buf[..n]);
                    if let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
                        break end + 4;
                    }
                };
                let text = String::from_utf8_lossy(&head[..body_start]).to_ascii_lowercase();
                let len: usize = text
                    .lines()
                    .find_map(|l| {
                        l.strip_prefix("content-length: ")
                            .map(|v| v.trim().parse().unwrap())
                    })
                    .unwrap_or(0);
                let reply = format!("HTTP/1.1 200 OK\r\ncontent-length: {len}\r\n\r\n");
                sock.write_all(reply.as_bytes()).await.unwrap();
                let mut echoed = head.len() - body_start;
                sock.write_all(&head[body_start..]).await.unwrap();
                while echoed < len {
                    let n = sock.read(&mut buf).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    sock.write_all(&buf[..n]).await.unwrap();
                    echoed += n;
                }
            });
        }
    });
    addr
}

#[tokio::test]
async fn a_full_duplex_upstream_does_not_deadlock_a_large_upload() {
    let echo = duplex_echo().await;
    let yaml = format!(
        "{G0}{}{}",
        app_service(echo.port(), "HTTP"),
        vs_to("{host: app}")
    );
    let gw = TestGateway::start(&yaml).await;
    let body = vec![b'z'; 32 << 20];
    let send = Request::get(gw.addr, "/echo")
        .method(http::Method::POST)
        .host("a")
        .body(body)
        .send();
    // Bounded: a deadlock fails the test instead of hanging it.
    let resp = tokio::time::timeout(std::time::Duration::from_secs(60), send)
        .await
        .expect("no deadlock")
        .unwrap();
    assert_eq!(resp.status.as_u16(), 200);
    assert_eq!(resp.body.len(), 32 << 20);
}
