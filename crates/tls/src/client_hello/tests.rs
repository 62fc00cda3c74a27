use std::sync::Arc;

use proptest::prelude::*;

use super::*;

/// The first flight of a real rustls client offering `sni` and `alpn`.
fn real_hello(sni: &str, alpn: &[&[u8]]) -> Vec<u8> {
    let ca = rampart_testkit::pki::Ca::new("test");
    let config: Arc<rustls::ClientConfig> = ca.client_config(alpn);
    let name = rampart_testkit::pki::server_name(sni);
    let mut conn = rustls::ClientConnection::new(config, name).expect("client");
    let mut out = Vec::new();
    conn.write_tls(&mut out).expect("hello");
    out
}

#[test]
fn reads_sni_and_alpn_from_a_real_client_hello() {
    let hello = real_hello("App.Example.com", &[b"h2", b"http/1.1"]);
    assert_eq!(
        peek(&hello),
        Peek::Hello(ClientHello {
            sni: Some("app.example.com".into()),
            alpn: vec![b"h2".to_vec(), b"http/1.1".to_vec()],
        })
    );
}

#[test]
fn an_ip_address_target_sends_no_sni() {
    let hello = real_hello("127.0.0.1", &[]);
    assert_eq!(peek(&hello), Peek::Hello(ClientHello::default()));
}

#[test]
fn partial_input_asks_for_more_and_plain_http_is_not_tls() {
    let hello = real_hello("a.example.com", &[]);
    for cut in [0, 1, 4, 5, 40, hello.len() - 1] {
        assert_eq!(peek(&hello[..cut]), Peek::NeedMore, "cut at {cut}");
    }
    assert_eq!(peek(b"GET / HTTP/1.1\r\n\r\n"), Peek::NotTls);
    assert_eq!(peek(b"PRI * HTTP/2.0\r\n"), Peek::NotTls);
}

#[test]
fn a_hello_split_over_two_records_is_reassembled() {
    let hello = real_hello("split.example.com", &[b"h2"]);
    let payload = &hello[5..];
    let (a, b) = payload.split_at(30);
    let mut split = Vec::new();
    for part in [a, b] {
        split.extend_from_slice(&[22, 3, 1]);
        split.extend_from_slice(&(part.len() as u16).to_be_bytes());
        split.extend_from_slice(part);
    }
    match peek(&split) {
        Peek::Hello(h) => assert_eq!(h.sni.as_deref(), Some("split.example.com")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_server_name_with_bad_bytes_is_refused() {
    let mut hello = real_hello("abc.example.com", &[]);
    let at = hello
        .windows(3)
        .position(|w| w == b"abc")
        .expect("name in hello");
    hello[at] = b'/';
    assert_eq!(peek(&hello), Peek::NotTls);
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = peek(&bytes);
    }

    #[test]
    fn mutated_hellos_never_panic(flips in proptest::collection::vec((0usize..400, any::<u8>()), 1..8)) {
        let mut hello = real_hello("fuzz.example.com", &[b"h2"]);
        for (at, byte) in flips {
            let n = hello.len();
            hello[at % n] = byte;
        }
        let _ = peek(&hello);
    }
}
