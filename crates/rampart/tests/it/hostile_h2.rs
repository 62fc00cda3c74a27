//! HTTP/2 abuse (hostile plan §3), with hand-built frames: malformed streams are reset and
//! never reach the backend, floods end the connection, and limits hold.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rampart_testkit::h2raw::{self, frame, get, header_block, RawH2};
use rampart_testkit::{Backend, Reply};

use crate::support::{app_config, TestGateway};

const WAIT: Duration = Duration::from_secs(3);
const ENHANCE_YOUR_CALM: u32 = 0xb;

async fn gateway_with(be: &Backend) -> TestGateway {
    let yaml = app_config(be.port());
    TestGateway::start(&yaml).await
}

/// A connection past the handshake: the server's SETTINGS read and acknowledged.
async fn connect(gw: &TestGateway) -> RawH2 {
    let mut c = RawH2::connect(gw.addr).await.expect("connect");
    c.read_until(WAIT, |f| {
        f.kind == h2raw::SETTINGS && f.flags & h2raw::ACK == 0
    })
    .await;
    c
}

/// Malformed requests (H2-12, H2-13, H2-15): each is refused with PROTOCOL_ERROR (the stream
/// reset, or the connection closed for bytes no header may hold), the backend sees none of them,
/// and a good request is still served.
#[tokio::test]
async fn h2_malformed_streams_are_reset_and_never_forwarded() {
    let be = Backend::start("app").await;
    let gw = gateway_with(&be).await;
    let cases: [(&str, Vec<(&str, &str)>); 7] = [
        (
            "H2-12 CRLF in a value",
            get(
                "/smuggled",
                "a",
                &[("x-a", "b\r\ntransfer-encoding: chunked")],
            ),
        ),
        (
            "H2-13 transfer-encoding",
            get("/smuggled", "a", &[("transfer-encoding", "chunked")]),
        ),
        (
            "H2-13 connection",
            get("/smuggled", "a", &[("connection", "keep-alive")]),
        ),
        ("H2-13 te: gzip", get("/smuggled", "a", &[("te", "gzip")])),
        (
            "H2-15 uppercase name",
            get("/smuggled", "a", &[("X-A", "1")]),
        ),
        (
            "H2-15 duplicate :path",
            get("/smuggled", "a", &[(":path", "/other")]),
        ),
        (
            "H2-15 pseudo-header after a regular one",
            vec![
                (":method", "GET"),
                (":scheme", "http"),
                ("x-a", "1"),
                (":path", "/smuggled"),
                (":authority", "a"),
            ],
        ),
    ];
    let mut c = connect(&gw).await;
    let mut failures = Vec::new();
    for (i, (id, fields)) in cases.iter().enumerate() {
        let stream = 1 + 2 * i as u32;
        c.headers(stream, fields, true).await.unwrap();
        let frames = c
            .read_until(WAIT, |f| f.stream == stream || f.kind == h2raw::GOAWAY)
            .await;
        // A stream error, or (h2 decides so for bytes no header may hold: CR/LF, uppercase)
        // a connection error; either way PROTOCOL_ERROR, and then a fresh connection.
        let last = frames.last();
        let refused = last.is_some_and(|f| {
            (f.kind == h2raw::RST_STREAM && f.stream == stream || f.kind == h2raw::GOAWAY)
                && f.error_code() == Some(h2raw::PROTOCOL_ERROR)
        });
        if !refused {
            failures.push(format!("{id}: {last:?}"));
        }
        if last.is_none_or(|f| f.kind != h2raw::RST_STREAM) {
            c = connect(&gw).await;
        }
    }
    let good = 101;
    c.headers(good, &get("/ok", "a", &[]), true).await.unwrap();
    let frames = c
        .read_until(WAIT, |f| f.stream == good && f.kind == h2raw::HEADERS)
        .await;
    assert!(
        frames
            .iter()
            .any(|f| f.stream == good && f.kind == h2raw::HEADERS),
        "a good request still served: {frames:?}"
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let uris: Vec<String> = be.requests().iter().map(|r| r.uri.clone()).collect();
    assert_eq!(uris, ["/ok"]);
}

/// H2-14: a `content-length: 0` request with a body is malformed; what the DATA frame carries
/// never becomes a request at the backend.
#[tokio::test]
async fn h2_14_body_beyond_content_length_is_never_a_request() {
    let be = Backend::start("app").await;
    let gw = gateway_with(&be).await;
    let mut c = connect(&gw).await;
    let fields = [
        (":method", "POST"),
        (":scheme", "http"),
        (":path", "/upload"),
        (":authority", "a"),
        ("content-length", "0"),
    ];
    c.headers(1, &fields, false).await.unwrap();
    let smuggled = b"GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n";
    c.send(&frame(h2raw::DATA, h2raw::END_STREAM, 1, smuggled))
        .await
        .unwrap();
    let frames = c
        .read_until(WAIT, |f| f.stream == 1 && f.kind == h2raw::RST_STREAM)
        .await;
    assert!(
        frames
            .iter()
            .any(|f| f.kind == h2raw::RST_STREAM && f.error_code() == Some(h2raw::PROTOCOL_ERROR)),
        "{frames:?}"
    );
    assert!(be
        .requests()
        .iter()
        .all(|r| r.uri != "/smuggled" && r.body.is_empty()));
}

/// H2-11: streams beyond the advertised 100 are refused; the backend never has more than 100
/// of this connection's requests at once.
#[tokio::test]
async fn h2_11_streams_beyond_the_limit_are_refused() {
    let in_flight = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let (now, top) = (in_flight.clone(), peak.clone());
    let be = Backend::with("slow", move |_| {
        let n = now.fetch_add(1, Ordering::SeqCst) + 1;
        top.fetch_max(n, Ordering::SeqCst);
        Reply::new(200, "slow").delayed(Duration::from_millis(500))
    })
    .await;
    let gw = gateway_with(&be).await;
    let mut c = connect(&gw).await;
    let mut burst = Vec::new();
    for i in 0..150u32 {
        burst.extend(frame(
            h2raw::HEADERS,
            h2raw::END_HEADERS | h2raw::END_STREAM,
            1 + 2 * i,
            &header_block(&get("/slow", "a", &[])),
        ));
    }
    c.send(&burst).await.unwrap();
    let frames = c.read_until(WAIT, |_| false).await;
    let refused = frames
        .iter()
        .filter(|f| f.kind == h2raw::RST_STREAM && f.error_code() == Some(h2raw::REFUSED_STREAM))
        .count();
    let answered = frames.iter().filter(|f| f.kind == h2raw::HEADERS).count();
    assert_eq!(refused, 50, "{answered} answered");
    assert_eq!(answered, 100);
    assert!(peak.load(Ordering::SeqCst) <= 100);
}

/// H2-01 rapid reset and H2-03 CONTINUATION flood: the connection is closed with GOAWAY long
/// before the attacker is done, and the gateway keeps serving others.
#[tokio::test]
async fn h2_floods_end_the_connection() {
    let be = Backend::with("slow", |_| {
        Reply::new(200, "slow").delayed(Duration::from_millis(200))
    })
    .await;
    let gw = gateway_with(&be).await;

    // Rapid reset: HEADERS then RST_STREAM(CANCEL), 10 000 times.
    let mut c = connect(&gw).await;
    let mut flood = Vec::new();
    for i in 0..10_000u32 {
        let id = 1 + 2 * i;
        flood.extend(frame(
            h2raw::HEADERS,
            h2raw::END_HEADERS | h2raw::END_STREAM,
            id,
            &header_block(&get("/slow", "a", &[])),
        ));
        flood.extend(frame(
            h2raw::RST_STREAM,
            0,
            id,
            &h2raw::CANCEL.to_be_bytes(),
        ));
    }
    let _ = c.send(&flood).await;
    let frames = c.read_until(WAIT, |f| f.kind == h2raw::GOAWAY).await;
    assert!(
        frames.iter().any(|f| f.kind == h2raw::GOAWAY),
        "rapid reset: no GOAWAY"
    );
    assert!(
        be.count() <= 100,
        "backend saw {} of the reset streams",
        be.count()
    );

    // CONTINUATION flood: a header block that never ends.
    let mut c = connect(&gw).await;
    let mut flood = frame(h2raw::HEADERS, 0, 1, &header_block(&get("/", "a", &[])));
    for _ in 0..100_000 {
        flood.extend(frame(h2raw::CONTINUATION, 0, 1, &[]));
    }
    let _ = c.send(&flood).await;
    let frames = c.read_until(WAIT, |f| f.kind == h2raw::GOAWAY).await;
    let goaway = frames.iter().find(|f| f.kind == h2raw::GOAWAY);
    assert_eq!(
        goaway.and_then(|f| f.error_code()),
        Some(ENHANCE_YOUR_CALM),
        "CONTINUATION flood: {frames:?}"
    );

    // H2-04: CONTINUATION frames of 16 KiB each: refused once the list passes 60 KiB.
    let mut c = connect(&gw).await;
    let mut flood = frame(h2raw::HEADERS, 0, 1, &header_block(&get("/", "a", &[])));
    let big = "v".repeat(16_000);
    for i in 0..64 {
        let name = format!("x-big-{i}");
        flood.extend(frame(
            h2raw::CONTINUATION,
            0,
            1,
            &header_block(&[(name.as_str(), big.as_str())]),
        ));
    }
    let _ = c.send(&flood).await;
    let frames = c
        .read_until(WAIT, |f| {
            f.kind == h2raw::GOAWAY || (f.stream == 1 && f.kind != h2raw::WINDOW_UPDATE)
        })
        .await;
    assert!(
        frames
            .iter()
            .any(|f| f.kind == h2raw::GOAWAY || f.stream == 1),
        "H2-04: no answer to a 1 MiB header block: {frames:?}"
    );

    let ok = gw.get("a", "/after").http2().send().await.unwrap();
    assert_eq!(ok.status, 200);
}

/// H2-02, H2-08, H2-09, H2-10: resets we cause, an HPACK bomb, a table-size update beyond our
/// setting and a window overflow each end the connection (or the stream) and reach no backend.
#[tokio::test]
async fn h2_protocol_abuse_ends_the_connection() {
    let be = Backend::start("app").await;
    let gw = gateway_with(&be).await;
    const COMPRESSION_ERROR: u32 = 0x9;
    const FLOW_CONTROL_ERROR: u32 = 0x3;

    // H2-02: 1 000 requests without :path, each one a stream error we answer with RST_STREAM.
    let mut c = connect(&gw).await;
    let mut flood = Vec::new();
    for i in 0..1_000u32 {
        let fields = [(":method", "GET"), (":scheme", "http"), (":authority", "a")];
        flood.extend(frame(
            h2raw::HEADERS,
            h2raw::END_HEADERS | h2raw::END_STREAM,
            1 + 2 * i,
            &header_block(&fields),
        ));
    }
    let _ = c.send(&flood).await;
    let frames = c.read_until(WAIT, |f| f.kind == h2raw::GOAWAY).await;
    let resets = frames
        .iter()
        .filter(|f| f.kind == h2raw::RST_STREAM)
        .count();
    assert!(
        frames.iter().any(|f| f.kind == h2raw::GOAWAY) && resets <= 200,
        "H2-02: {resets} resets, last {:?}",
        frames.last()
    );

    // H2-08: a 4 000-byte header added to the dynamic table, then referenced 20 000 times.
    let mut c = connect(&gw).await;
    let mut block = header_block(&get("/bomb", "a", &[]));
    block.extend([0x40, 3]); // literal with incremental indexing, new name "x-a"
    block.extend(b"x-a");
    block.extend([0x7f, 0xa1, 0x1e]); // value length 4 000 (127 + 3 873)
    block.extend(std::iter::repeat_n(b'b', 4_000));
    block.extend(std::iter::repeat_n(0xbe, 20_000)); // indexed: dynamic entry 62
    let mut chunks = block.chunks(16_000);
    let mut bytes = frame(h2raw::HEADERS, h2raw::END_STREAM, 1, chunks.next().unwrap());
    let rest: Vec<&[u8]> = chunks.collect();
    for (i, chunk) in rest.iter().enumerate() {
        let flags = if i + 1 == rest.len() {
            h2raw::END_HEADERS
        } else {
            0
        };
        bytes.extend(frame(h2raw::CONTINUATION, flags, 1, chunk));
    }
    let _ = c.send(&bytes).await;
    let frames = c
        .read_until(WAIT, |f| {
            f.kind == h2raw::GOAWAY || (f.stream == 1 && f.kind != h2raw::WINDOW_UPDATE)
        })
        .await;
    assert!(
        frames
            .iter()
            .any(|f| f.kind == h2raw::GOAWAY || f.stream == 1),
        "H2-08: no answer: {frames:?}"
    );

    // H2-09: a dynamic table size update to 2^20, above our 4 096.
    let mut c = connect(&gw).await;
    let mut block = vec![0x3f, 0xe1, 0xff, 0x3f]; // size update: 31 + 1 048 545
    block.extend(header_block(&get("/", "a", &[])));
    c.send(&frame(
        h2raw::HEADERS,
        h2raw::END_HEADERS | h2raw::END_STREAM,
        1,
        &block,
    ))
    .await
    .unwrap();
    let frames = c.read_until(WAIT, |f| f.kind == h2raw::GOAWAY).await;
    let goaway = frames.iter().find(|f| f.kind == h2raw::GOAWAY);
    // RFC 7541 §4.2 asks for COMPRESSION_ERROR; h2 reports the decoding error as PROTOCOL_ERROR.
    // Either way the connection ends.
    let code = goaway.and_then(|f| f.error_code());
    assert!(
        matches!(code, Some(COMPRESSION_ERROR | h2raw::PROTOCOL_ERROR)),
        "H2-09: {frames:?}"
    );

    // H2-10: WINDOW_UPDATE pushing the connection window past 2^31 - 1.
    let mut c = connect(&gw).await;
    c.send(&frame(
        h2raw::WINDOW_UPDATE,
        0,
        0,
        &0x7fff_ffffu32.to_be_bytes(),
    ))
    .await
    .unwrap();
    let frames = c.read_until(WAIT, |f| f.kind == h2raw::GOAWAY).await;
    let goaway = frames.iter().find(|f| f.kind == h2raw::GOAWAY);
    assert_eq!(
        goaway.and_then(|f| f.error_code()),
        Some(FLOW_CONTROL_ERROR),
        "H2-10: {frames:?}"
    );

    assert_eq!(be.count(), 0, "none of it reached the backend");
    let ok = gw.get("a", "/after").http2().send().await.unwrap();
    assert_eq!(ok.status, 200);
}

/// H2-05: SETTINGS, PING and empty-DATA floods from a client that never reads. The gateway
/// stops reading a flooder it cannot answer (its queue of control replies is bounded) or closes
/// it, and other clients are served meanwhile.
#[tokio::test]
async fn h2_05_control_frame_floods_do_not_starve_others() {
    let be = Backend::start("app").await;
    let gw = gateway_with(&be).await;
    let floods: [(&str, Vec<u8>); 3] = [
        ("SETTINGS", frame(h2raw::SETTINGS, 0, 0, &[])),
        ("PING", frame(h2raw::PING, 0, 0, &[0; 8])),
        ("empty DATA", frame(h2raw::DATA, 0, 1, &[])),
    ];
    for (name, one) in floods {
        let mut c = connect(&gw).await;
        if name == "empty DATA" {
            c.headers(1, &get("/upload", "a", &[("content-length", "10")]), false)
                .await
                .unwrap();
        }
        let burst: Vec<u8> = one.repeat(10_000);
        // 10 bursts of 10 000 frames, each allowed 1 s: a flooder the gateway stops reading
        // from is blocked by TCP, which is the bound we want.
        let mut sent = 0;
        for _ in 0..10 {
            match tokio::time::timeout(Duration::from_secs(1), c.send(&burst)).await {
                Ok(Ok(())) => sent += 10_000,
                _ => break,
            }
        }
        let ok = gw.get("a", "/other").http2().send().await.unwrap();
        assert_eq!(
            ok.status, 200,
            "{name} flood ({sent} frames sent) starved another client"
        );
    }
    assert!(be
        .requests()
        .iter()
        .all(|r| r.uri != "/upload" || r.body.is_empty()));
}

/// H2-16: a client that opens no window for a large response (initial window 0, no
/// WINDOW_UPDATE) holds its stream only until the stream idle timeout; then the connection is
/// closed and others are served meanwhile.
#[tokio::test]
async fn h2_16_a_zero_window_reader_is_closed_at_the_stream_idle_timeout() {
    let big = "x".repeat(4 << 20);
    let be = Backend::with("big", move |_| Reply::new(200, &big)).await;
    let gw = TestGateway::start_with(&app_config(be.port()), |o| {
        o.stream_idle_timeout = Some(Duration::from_secs(2));
    })
    .await;
    let mut c = RawH2::connect_with(gw.addr, &[(0x4, 0)]).await.unwrap();
    c.read_until(WAIT, |f| {
        f.kind == h2raw::SETTINGS && f.flags & h2raw::ACK == 0
    })
    .await;
    c.headers(1, &get("/big", "a", &[]), true).await.unwrap();
    crate::support::eventually("the backend answered", || be.count() == 1).await;
    assert_eq!(
        gw.get("a", "/other").http2().send().await.unwrap().status,
        200
    );
    crate::support::eventually("the zero-window connection closed", || {
        gw.gw.active_connections() == 0
    })
    .await;
}
