//! ClientHello peeking (SNI routing, TLS passthrough): untrusted bytes never panic; a parsed SNI
//! is lower-case, has no trailing dot and only host-name characters; and any prefix of an input
//! that parses either needs more bytes or is refused, never parses differently.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rampart_tls::client_hello::{peek, Peek};

fuzz_target!(|data: &[u8]| {
    if let Peek::Hello(hello) = peek(data) {
        if let Some(sni) = &hello.sni {
            assert!(!sni.is_empty() && !sni.ends_with('.'));
            assert!(sni
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-._".contains(&b)));
        }
        for cut in [0, data.len() / 2, data.len().saturating_sub(1)] {
            match peek(&data[..cut]) {
                Peek::Hello(short) => assert_eq!(short, hello),
                Peek::NeedMore | Peek::NotTls => {}
            }
        }
    }
});
