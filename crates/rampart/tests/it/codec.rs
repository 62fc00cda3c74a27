//! The gateway's own HTTP/1.1 codec (requests whose body, if any, arrived with the head) and its
//! handover to hyper's (every other request), seen from raw client sockets.

use std::time::Duration;

use rampart_testkit::{Backend, Reply};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{app_config, eventually, log_lines, temp_dir, TestGateway};

async fn gateway(be: &Backend) -> TestGateway {
    TestGateway::start(&app_config(be.port())).await
}

/// The same request for each HTTP/1 codec: a GET (the gateway's own) and a POST with a chunked
/// body (hyper's, which streamed bodies go to).
fn one_per_codec(path: &str) -> [Vec<u8>; 2] {
    [
        format!("GET {path} HTTP/1.1\r\nHost: a\r\n\r\n").into_bytes(),
        format!(
            "POST {path} HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
        )
        .into_bytes(),
    ]
}

/// A cleartext HTTP/2 connection's opening: preface, empty SETTINGS, and stream 1 asking
/// `GET /slow` of host `a`.
fn h2_get_slow() -> Vec<u8> {
    use rampart_testkit::h2raw::{
        frame, get, header_block, END_HEADERS, END_STREAM, HEADERS, SETTINGS,
    };
    let mut opening = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    opening.extend(frame(SETTINGS, 0, 0, &[]));
    opening.extend(frame(
        HEADERS,
        END_HEADERS | END_STREAM,
        1,
        &header_block(&get("/slow", "a", &[])),
    ));
    opening
}

/// Whether `metrics` count requests answered `code` with `flags`, on a line ending in `tail`.
fn counted(metrics: &str, code: &str, flags: &str, tail: &str) -> bool {
    let (code, flags) = (
        format!("response_code=\"{code}\""),
        format!("response_flags=\"{flags}\""),
    );
    metrics.lines().any(|l| {
        l.starts_with("istio_requests_total{")
            && l.contains(&code)
            && l.contains(&flags)
            && l.ends_with(tail)
    })
}

/// Reads one response with a `content-length` body from `s`; returns its head and body.
async fn read_response(s: &mut TcpStream) -> (String, String) {
    let mut buf = Vec::new();
    let head_end = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let mut chunk = [0u8; 4096];
        let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut chunk))
            .await
            .expect("a response within 5 s")
            .unwrap();
        assert!(
            n > 0,
            "closed before a whole head: {:?}",
            String::from_utf8_lossy(&buf)
        );
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8(buf[..head_end].to_vec()).unwrap();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .expect("content-length")
        .trim()
        .parse()
        .unwrap();
    while buf.len() < head_end + length {
        let mut chunk = [0u8; 4096];
        let n = s.read(&mut chunk).await.unwrap();
        assert!(n > 0, "closed inside the body");
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = String::from_utf8(buf[head_end..head_end + length].to_vec()).unwrap();
    (head, body)
}

#[tokio::test]
async fn a_connection_moves_to_hypers_codec_at_its_first_request_with_a_streamed_body() {
    let be = Backend::with("app", |r| {
        Reply::new(200, &format!("{} {}", r.uri, r.body.len()))
    })
    .await;
    let gw = gateway(&be).await;
    let mut s = TcpStream::connect(gw.addr).await.unwrap();
    // Served by the gateway's own codec.
    s.write_all(b"GET /one HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    let (head, body) = read_response(&mut s).await;
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(head.contains("\r\ndate: "), "{head}");
    assert_eq!(body, "/one 0");
    // A body that arrives whole with its head: still the gateway's own codec.
    s.write_all(b"POST /whole HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc")
        .await
        .unwrap();
    assert_eq!(read_response(&mut s).await.1, "/whole 3");
    // A chunked body: handed over (with the bytes already read, the pipelined GET among them).
    s.write_all(b"POST /two HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\nGET /three HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(read_response(&mut s).await.1, "/two 5");
    assert_eq!(read_response(&mut s).await.1, "/three 0");
    // hyper's codec keeps the connection for the rest of its life.
    s.write_all(b"GET /four HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let (head, body) = read_response(&mut s).await;
    assert!(
        head.to_ascii_lowercase().contains("connection: close"),
        "{head}"
    );
    assert_eq!(body, "/four 0");
    let mut rest = Vec::new();
    let n = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut rest))
        .await
        .expect("closed after Connection: close")
        .unwrap();
    assert_eq!(n, 0);
    let seen: Vec<_> = be
        .requests()
        .iter()
        .map(|r| (r.uri.clone(), r.body.clone()))
        .collect();
    assert_eq!(
        seen,
        [
            ("/one".to_string(), bytes::Bytes::new()),
            ("/whole".to_string(), bytes::Bytes::from_static(b"abc")),
            ("/two".to_string(), bytes::Bytes::from_static(b"hello")),
            ("/three".to_string(), bytes::Bytes::new()),
            ("/four".to_string(), bytes::Bytes::new()),
        ]
    );
}

#[tokio::test]
async fn head_and_connection_close_are_answered_as_http_1_1_says() {
    let be = Backend::start("app").await;
    let gw = gateway(&be).await;
    let mut s = TcpStream::connect(gw.addr).await.unwrap();
    s.write_all(
        b"HEAD / HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    )
    .await
    .unwrap();
    let mut all = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut all))
        .await
        .expect("closed after the second response")
        .unwrap();
    let all = String::from_utf8(all).unwrap();
    // The HEAD answer has the length a GET would have, and no body: the next bytes are the
    // GET's status line.
    let (head_answer, get_answer) = all.split_at(all.find("\r\n\r\n").unwrap() + 4);
    assert!(head_answer.starts_with("HTTP/1.1 200 OK\r\n"), "{all}");
    assert!(head_answer.contains("content-length: 3\r\n"), "{all}");
    assert!(get_answer.starts_with("HTTP/1.1 200 OK\r\n"), "{all}");
    assert!(get_answer.contains("connection: close\r\n"), "{all}");
    assert!(get_answer.ends_with("\r\n\r\napp"), "{all}");
}

#[tokio::test]
async fn a_client_that_leaves_mid_request_cancels_the_upstream_call_and_is_counted_dc() {
    let be = Backend::with("app", |_| {
        Reply::new(200, "late").delayed(Duration::from_secs(30))
    })
    .await;
    let file = temp_dir().join("access.log");
    let log = file.clone();
    let gw = TestGateway::start_with(&app_config(be.port()), move |o| {
        o.access_log = Some((Some(log), rampart_telemetry::AccessLogFormat::Json));
    })
    .await;
    let mut s = TcpStream::connect(gw.addr).await.unwrap();
    s.write_all(b"GET /slow HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    eventually("the backend to receive the request", || be.count() == 1).await;
    assert!(gw.admin("/clusters").await.body.contains("::rq_active::1"));
    drop(s);
    // Without the cancellation the request would stay active for the backend's 30 s.
    gw.admin_until("/clusters", |c| {
        c.contains("::rq_active::0") && !c.contains("::rq_active::1")
    })
    .await;
    // Counted and logged as Envoy does: response code 0, flag DC.
    let metrics = gw.admin("/stats/prometheus").await.body;
    let dc = metrics
        .lines()
        .find(|l| l.starts_with("istio_requests_total{") && l.contains("response_flags=\"DC\""))
        .unwrap_or_else(|| panic!("no DC sample in:\n{metrics}"));
    assert!(
        dc.contains("response_code=\"0\"") && dc.ends_with(" 1"),
        "{dc}"
    );
    let line = log_lines(&file, 1).await.join("\n");
    assert!(line.contains("\"/slow\""), "{line}");
    assert!(
        line.contains(r#""response_code":0,"response_flags":"DC""#),
        "{line}"
    );
}

/// The `istio_requests_total` sample of requests cut off before their response (code 0).
fn cut_off(metrics: &str) -> Option<&str> {
    metrics
        .lines()
        .find(|l| l.starts_with("istio_requests_total{") && l.contains("response_code=\"0\""))
}

#[tokio::test]
async fn an_http2_stream_reset_mid_request_is_counted_dr_and_a_closed_connection_dc() {
    use rampart_testkit::h2raw::{frame, CANCEL, RST_STREAM};
    let be = Backend::with("app", |_| {
        Reply::new(200, "late").delayed(Duration::from_secs(30))
    })
    .await;
    let gw = gateway(&be).await;
    let mut s = TcpStream::connect(gw.addr).await.unwrap();
    let opening = h2_get_slow();
    s.write_all(&opening).await.unwrap();
    eventually("the backend to receive the request", || be.count() == 1).await;
    // The client cancels this stream only; the connection stays open.
    s.write_all(&frame(RST_STREAM, 0, 1, &CANCEL.to_be_bytes()))
        .await
        .unwrap();
    let metrics = gw
        .admin_until("/stats/prometheus", |m| cut_off(m).is_some())
        .await;
    let sample = cut_off(&metrics).unwrap_or_default();
    assert!(sample.contains("response_flags=\"DR\""), "{sample}");
    assert!(gw.admin("/clusters").await.body.contains("::rq_active::0"));
    drop(s);
    // A stream cut off by the end of its connection is DC, as in HTTP/1.1.
    let mut s = TcpStream::connect(gw.addr).await.unwrap();
    s.write_all(&opening).await.unwrap();
    eventually("the backend to receive the second request", || {
        be.count() == 2
    })
    .await;
    drop(s);
    gw.admin_until("/stats/prometheus", |m| counted(m, "0", "DC", ""))
        .await;
}

/// Envoy's stream idle timeout: an HTTP/1.1 request still waiting for its response when no byte
/// has moved for the timeout gets 408 `stream timeout` and its connection is closed, whichever
/// codec serves it (the gateway's own for a request without a body, hyper's for a streamed
/// one); both are counted 408 with flag `SI`. An HTTP/2 stream gets the same answer on its own
/// timer, and its connection stays open for other streams.
#[tokio::test]
async fn a_request_that_moves_no_bytes_for_the_stream_idle_timeout_gets_408_si() {
    let be = Backend::with("app", |_| {
        Reply::new(200, "late").delayed(Duration::from_secs(30))
    })
    .await;
    let gw = TestGateway::start_with(&app_config(be.port()), |o| {
        o.stream_idle_timeout = Some(Duration::from_secs(1));
    })
    .await;
    for (i, request) in one_per_codec("/slow").iter().enumerate() {
        let mut s = TcpStream::connect(gw.addr).await.unwrap();
        s.write_all(request).await.unwrap();
        eventually("the backend to receive the request", || be.count() == i + 1).await;
        let mut out = Vec::new();
        tokio::time::timeout(Duration::from_secs(8), s.read_to_end(&mut out))
            .await
            .expect("answered and closed at the stream idle timeout")
            .unwrap();
        let text = String::from_utf8_lossy(&out).to_ascii_lowercase();
        assert!(
            text.starts_with("http/1.1 408 request timeout\r\n"),
            "{text}"
        );
        assert!(text.contains("\r\nconnection: close\r\n"), "{text}");
        assert!(text.ends_with("\r\n\r\nstream timeout"), "{text}");
    }
    gw.admin_until("/stats/prometheus", |m| counted(m, "408", "SI", " 2"))
        .await;

    use rampart_testkit::h2raw::{frame, get, RawH2, ACK, DATA, GOAWAY, PING, RST_STREAM};
    let mut c = RawH2::connect(gw.addr).await.unwrap();
    c.headers(1, &get("/slow", "a", &[]), true).await.unwrap();
    eventually("the backend to receive the HTTP/2 request", || {
        be.count() == 3
    })
    .await;
    let wait = Duration::from_secs(8);
    let frames = c
        .read_until(wait, |f| f.kind == DATA && f.stream == 1)
        .await;
    let body = frames.last().filter(|f| f.kind == DATA).map(|f| &f.payload);
    assert_eq!(
        body.map(|b| String::from_utf8_lossy(b).into_owned()),
        Some("stream timeout".to_owned()),
        "{frames:?}"
    );
    assert!(
        !frames
            .iter()
            .any(|f| [GOAWAY, RST_STREAM].contains(&f.kind)),
        "{frames:?}"
    );
    // The connection goes on.
    c.send(&frame(PING, 0, 0, b"rampart!")).await.unwrap();
    let frames = c
        .read_until(wait, |f| f.kind == PING && f.flags & ACK != 0)
        .await;
    assert!(
        frames
            .last()
            .is_some_and(|f| f.kind == PING && f.payload == b"rampart!"),
        "{frames:?}"
    );
    gw.admin_until("/stats/prometheus", |m| counted(m, "408", "SI", " 3"))
        .await;
}

/// An HTTP/2 stream's idle timer runs from its last request-body frame: an upload slower than
/// the timeout in all but its gaps is answered, not cut off.
#[tokio::test]
async fn an_http2_upload_that_keeps_moving_outlives_the_stream_idle_timeout() {
    use rampart_testkit::h2raw::{frame, get, RawH2, DATA, END_STREAM, HEADERS};
    let be = Backend::start("app").await;
    let gw = TestGateway::start_with(&app_config(be.port()), |o| {
        o.stream_idle_timeout = Some(Duration::from_secs(1));
    })
    .await;
    let mut c = RawH2::connect(gw.addr).await.unwrap();
    let mut post = get("/upload", "a", &[]);
    post[0] = (":method", "POST");
    c.headers(1, &post, false).await.unwrap();
    // Five pieces 400 ms apart: 2 s in all, never 1 s without a frame.
    for piece in 0..5 {
        tokio::time::sleep(Duration::from_millis(400)).await;
        let end = if piece == 4 { END_STREAM } else { 0 };
        c.send(&frame(DATA, end, 1, b"piece")).await.unwrap();
    }
    let frames = c
        .read_until(Duration::from_secs(8), |f| {
            f.kind == HEADERS && f.stream == 1
        })
        .await;
    let head = frames.last().filter(|f| f.kind == HEADERS);
    assert_eq!(
        head.map(|f| f.payload[0]),
        Some(0x88),
        "`:status: 200`: {frames:?}"
    );
    assert_eq!(&be.requests()[0].body[..], "piece".repeat(5).as_bytes());
}

/// A request is counted when its response ends, as Istio counts it: a client that leaves while
/// a large response body is being written is counted with the response's code and flag `DC`,
/// over the gateway's own codec (a GET) and hyper's (a streamed upload); one that reads the
/// whole response is counted without a flag.
#[tokio::test]
async fn a_client_that_leaves_mid_response_body_is_counted_and_logged_dc() {
    let big = "x".repeat(8 << 20);
    let be = Backend::with("app", move |_| Reply::new(200, &big)).await;
    let file = temp_dir().join("access.log");
    let log = file.clone();
    let gw = TestGateway::start_with(&app_config(be.port()), move |o| {
        o.access_log = Some((Some(log), rampart_telemetry::AccessLogFormat::Json))
    })
    .await;
    for (i, request) in one_per_codec("/big").iter().enumerate() {
        let mut s = TcpStream::connect(gw.addr).await.unwrap();
        s.write_all(request).await.unwrap();
        let mut head = vec![0u8; 4096];
        let n = s.read(&mut head).await.unwrap();
        assert!(
            head[..n].starts_with(b"HTTP/1.1 200"),
            "{:?}",
            String::from_utf8_lossy(&head[..n])
        );
        drop(s);
        let n = if i == 0 { " 1" } else { " 2" };
        gw.admin_until("/stats/prometheus", |m| counted(m, "200", "DC", n))
            .await;
    }
    let whole = gw.get("a", "/big").send().await.unwrap();
    assert_eq!(whole.status, 200);
    assert_eq!(whole.body.len(), 8 << 20);
    gw.admin_until("/stats/prometheus", |m| counted(m, "200", "-", " 1"))
        .await;
    // The log says the same, with the body bytes handed over before each client left (own
    // codec, then hyper's), then all of them.
    let lines = log_lines(&file, 3).await;
    let entries: Vec<serde_json::Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    for (entry, (method, flags)) in
        entries
            .iter()
            .zip([("GET", "DC"), ("POST", "DC"), ("GET", "-")])
    {
        assert_eq!(entry["method"], method, "{entry}");
        assert_eq!(entry["response_code"], 200, "{entry}");
        assert_eq!(entry["response_flags"], flags, "{entry}");
    }
    for cut in &entries[..2] {
        let sent = cut["bytes_sent"].as_u64().unwrap();
        assert!(sent < 8 << 20, "{cut}");
    }
    assert_eq!(entries[2]["bytes_sent"], 8 << 20);
}

#[tokio::test]
async fn a_cleartext_http2_preface_split_across_packets_still_opens_http2() {
    use rampart_testkit::h2raw::{frame, get, header_block, HEADERS, SETTINGS};
    let be = Backend::start("app").await;
    let gw = gateway(&be).await;
    let mut s = TcpStream::connect(gw.addr).await.unwrap();
    let preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    s.write_all(&preface[..10]).await.unwrap();
    // The rest a moment later, so that the gateway's first read holds part of the preface only.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut rest = preface[10..].to_vec();
    rest.extend(frame(SETTINGS, 0, 0, &[]));
    rest.extend(frame(
        HEADERS,
        0x4 | 0x1, // END_HEADERS | END_STREAM
        1,
        &header_block(&get("/h2", "a", &[])),
    ));
    s.write_all(&rest).await.unwrap();
    // Frames until a HEADERS frame on stream 1, whose block starts with `:status: 200`
    // (HPACK static index 8).
    let mut buf = Vec::new();
    let status = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let mut at = 0;
            while buf.len() >= at + 9 {
                let len = u32::from_be_bytes([0, buf[at], buf[at + 1], buf[at + 2]]) as usize;
                if buf.len() < at + 9 + len {
                    break;
                }
                let stream =
                    u32::from_be_bytes([buf[at + 5], buf[at + 6], buf[at + 7], buf[at + 8]]);
                if buf[at + 3] == HEADERS && stream == 1 {
                    return buf[at + 9];
                }
                at += 9 + len;
            }
            let mut chunk = [0u8; 4096];
            let n = s.read(&mut chunk).await.unwrap();
            assert!(n > 0, "closed before a response");
            buf.extend_from_slice(&chunk[..n]);
        }
    })
    .await
    .expect("a response within 5 s");
    assert_eq!(status, 0x88, "`:status: 200` first");
    assert_eq!(be.requests()[0].uri, "/h2");
}
