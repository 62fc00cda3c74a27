//! Field paths as printed in diagnostics: `spec.http[2].route[0].destination.host`, map entries
//! as `.key` or `["odd key"]`.
//!
//! Receives: keys and indexes while the loader walks a document. Hands on: path strings shared
//! by the line table, serde errors and `validate`, so all three agree.

/// True when `key` can be written after a dot (letters, digits, `_`, `-`).
fn is_plain(key: &str) -> bool {
    !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// `parent.key`, or `parent["key"]` when the key is not identifier-like.
pub fn key(parent: &str, key: &str) -> String {
    if is_plain(key) {
        if parent.is_empty() {
            key.to_string()
        } else {
            format!("{parent}.{key}")
        }
    } else {
        format!("{parent}[{key:?}]")
    }
}

/// `parent[index]`.
pub fn index(parent: &str, index: usize) -> String {
    format!("{parent}[{index}]")
}

/// The path one level up, or `None` at the top.
pub fn parent(path: &str) -> Option<&str> {
    let start = last_segment_start(path)?;
    Some(&path[..start])
}

/// Byte offset where the last segment (`.x`, `[3]`, `["k"]`, or a leading `x`) begins.
fn last_segment_start(path: &str) -> Option<usize> {
    if path.is_empty() {
        return None;
    }
    let bytes = path.as_bytes();
    let mut last = 0;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'.' => {
                last = i;
                i += 1;
            }
            b'[' => {
                last = i;
                i += 1;
                if bytes.get(i) == Some(&b'"') {
                    i += 1;
                    while i < bytes.len() && bytes[i] != b'"' {
                        if bytes[i] == b'\\' {
                            i += 1;
                        }
                        i += 1;
                    }
                }
                while i < bytes.len() && bytes[i] != b']' {
                    i += 1;
                }
                i += 1;
            }
            _ => i += 1,
        }
    }
    Some(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_and_splits_paths() {
        let p = key(&index(&key("spec", "http"), 2), "route");
        assert_eq!(p, "spec.http[2].route");
        assert_eq!(parent(&p), Some("spec.http[2]"));
        assert_eq!(parent("spec.http[2]"), Some("spec.http"));
        assert_eq!(parent("spec"), Some(""));
        assert_eq!(parent(""), None);
        let odd = key("metadata.labels", "app.kubernetes.io/name");
        assert_eq!(odd, r#"metadata.labels["app.kubernetes.io/name"]"#);
        assert_eq!(parent(&odd), Some("metadata.labels"));
        let tricky = key("a", "x\"].[y");
        assert_eq!(parent(&tricky), Some("a"));
    }
}
