//! Request-path normalisation and authorization path matching: never panics; the result is
//! idempotent, never keeps a dot segment, and a path the normaliser leaves alone is one it
//! accepts again unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rampart_proxy::normalize::{normalize_path, PathNormalization};

const MODES: [PathNormalization; 4] = [
    PathNormalization::None,
    PathNormalization::Base,
    PathNormalization::MergeSlashes,
    PathNormalization::DecodeAndMergeSlashes,
];

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let Ok(path) = std::str::from_utf8(rest) else {
        return;
    };
    let mode = MODES[usize::from(mode) % MODES.len()];
    let Ok(once) = normalize_path(path, mode) else {
        return;
    };
    if mode == PathNormalization::None || !path.starts_with('/') {
        assert_eq!(once, path);
        return;
    }
    assert!(!once.split('/').any(|s| s == "." || s == ".."), "{path:?} -> {once:?}");
    if mode != PathNormalization::Base {
        assert!(!once.contains("//"), "{path:?} -> {once:?}");
    }
    let twice = normalize_path(&once, mode).expect("a normalised path is accepted");
    assert_eq!(twice, once, "not idempotent for {path:?}");
});
