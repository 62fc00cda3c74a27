use proptest::prelude::*;

use super::*;

fn n(path: &str) -> Result<String, BadPath> {
    normalize_path(path, PathNormalization::MergeSlashes).map(Cow::into_owned)
}

#[test]
fn normal_paths_are_borrowed() {
    for p in ["/", "/a/b", "/a.b/c..d/.e", "/a/b/", "/x?y"] {
        assert!(matches!(
            normalize_path(p, PathNormalization::MergeSlashes),
            Ok(Cow::Borrowed(_))
        ));
    }
}

#[test]
fn hostile_plan_paths() {
    assert_eq!(n("//admin").unwrap(), "/admin");
    assert_eq!(n("/public//..//admin").unwrap(), "/admin");
    assert_eq!(n("/public/../admin").unwrap(), "/admin");
    assert_eq!(n("/./admin").unwrap(), "/admin");
    assert_eq!(n("/public\\..\\admin").unwrap(), "/admin");
    assert_eq!(n("/%61dmin").unwrap(), "/admin");
    assert_eq!(n("/%41dmin").unwrap(), "/Admin");
    assert_eq!(n("/admin/x/../").unwrap(), "/admin/");
    assert_eq!(n("/public/%2e%2e/admin").unwrap(), "/admin");
    assert_eq!(n("/../../admin").unwrap(), "/admin");
    assert_eq!(n("/a/b/..").unwrap(), "/a/");
    assert_eq!(n("/a/%3f%zz").unwrap(), "/a/%3F%25zz");
    // Decoding never assembles a new escape out of a stray `%` (found by the fuzzer).
    assert_eq!(n("/%%61d").unwrap(), "/%25ad");
    assert_eq!(n("/%%32F..").unwrap(), "/%252F..");
    assert_eq!(
        n(&n("/%%61d61d\u{1}/min").unwrap()).unwrap(),
        n("/%%61d61d\u{1}/min").unwrap()
    );
    for bad in [
        "/admin%2Fx",
        "/public%2F..%2Fadmin",
        "/a%2fb",
        "/a%5Cb",
        "/a%5cb",
    ] {
        assert_eq!(n(bad), Err(BadPath::EscapedSlash), "{bad}");
    }
    assert_eq!(n("/admin%00"), Err(BadPath::EncodedNul));
    assert_eq!(n("/admin%00.png"), Err(BadPath::EncodedNul));
}

#[test]
fn options() {
    let base = |p| {
        normalize_path(p, PathNormalization::Base)
            .unwrap()
            .into_owned()
    };
    assert_eq!(base("//a/./b"), "//a/b");
    let decode = |p| {
        normalize_path(p, PathNormalization::DecodeAndMergeSlashes)
            .unwrap()
            .into_owned()
    };
    assert_eq!(decode("/public%2F..%2Fadmin"), "/admin");
    assert_eq!(decode("/a%5C..%5Cadmin"), "/admin");
    assert_eq!(
        normalize_path("/a/../%2F", PathNormalization::None).unwrap(),
        "/a/../%2F"
    );
}

/// What a backend that decodes once, resolves dot segments and merges slashes would make of a
/// path: the reference the normaliser must agree with.
fn backend_view(path: &str) -> String {
    let mut bytes = Vec::new();
    let b = path.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&path[i + 1..i + 3], 16) {
                bytes.push(v);
                i += 3;
                continue;
            }
        }
        bytes.push(b[i]);
        i += 1;
    }
    let s: String = String::from_utf8_lossy(&bytes)
        .chars()
        .map(|c| if c == '\\' { '/' } else { c })
        .collect();
    remove_dot_segments(&merge_slashes(&s))
}

proptest! {
    /// PN-17: whenever a backend would resolve the raw path to `/admin…`, the normalised path
    /// (the one authorization sees) starts with `/admin` too, or the request is refused.
    #[test]
    fn no_admin_bypass(path in "/[/.%2ef5c;admin\\\\]{0,24}") {
        if let Ok(norm) = n(&path) {
            if backend_view(&path).starts_with("/admin") {
                prop_assert!(norm.starts_with("/admin"), "{path} -> {norm}");
            }
            // Idempotent, and never leaves a dot segment.
            prop_assert_eq!(n(&norm).unwrap(), norm.to_string());
            prop_assert!(!norm.split('/').any(|s| s == "." || s == ".."));
        }
    }
}
