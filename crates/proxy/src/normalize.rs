//! Request path normalisation, before routing and authorization, with Istio's
//! `meshConfig.pathNormalization` options. The normalised path is the one routed, authorized and
//! forwarded, so what the backend resolves is what the policy saw.
//!
//! - `BASE`: percent-decode unreserved characters (`%61` → `a`; other escapes kept, hex
//!   upper-cased; a `%` that starts no escape becomes `%25`), `\` → `/`, resolve `.` and `..`
//!   segments (RFC 3986 §5.2.4).
//! - `MERGE_SLASHES`: `BASE`, and `//` → `/` (merged before dot segments are resolved, so
//!   `/public//..//admin` is `/admin`, as a backend that merges slashes would read it).
//! - `DECODE_AND_MERGE_SLASHES`: also decodes `%2F` → `/` and `%5C` → `\`.
//! - `NONE`: the path is left as received.
//!
//! Under every option but `NONE`, `%00` is refused, and so are `%2F` / `%5C` unless they are
//! decoded (Envoy's `path_with_escaped_slashes_action: REJECT_REQUEST`).

use std::borrow::Cow;

/// Istio's `pathNormalization.normalization`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PathNormalization {
    /// Leave paths unchanged.
    None,
    /// RFC 3986 normalisation plus `\` → `/`.
    Base,
    /// `Base` and merged slashes (Rampart's default).
    #[default]
    MergeSlashes,
    /// `MergeSlashes` and decoded `%2F` / `%5C`.
    DecodeAndMergeSlashes,
}

impl PathNormalization {
    /// Parses Istio's option names.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "NONE" => Self::None,
            "BASE" | "DEFAULT" => Self::Base,
            "MERGE_SLASHES" => Self::MergeSlashes,
            "DECODE_AND_MERGE_SLASHES" => Self::DecodeAndMergeSlashes,
            _ => return None,
        })
    }
}

/// Why a path was refused (answered 400).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadPath {
    /// `%00`.
    EncodedNul,
    /// `%2F` or `%5C` without `DECODE_AND_MERGE_SLASHES`.
    EscapedSlash,
}

/// Normalises `path` (without the query). Borrows when nothing changes, which is the common case.
pub fn normalize_path(path: &str, mode: PathNormalization) -> Result<Cow<'_, str>, BadPath> {
    if mode == PathNormalization::None || !path.starts_with('/') {
        return Ok(Cow::Borrowed(path));
    }
    let merge = mode != PathNormalization::Base;
    if is_normal(path.as_bytes(), merge) {
        return Ok(Cow::Borrowed(path));
    }
    let decoded = decode(path, mode == PathNormalization::DecodeAndMergeSlashes)?;
    let slashed: String = decoded
        .chars()
        .map(|c| if c == '\\' { '/' } else { c })
        .collect();
    let merged = if merge {
        merge_slashes(&slashed)
    } else {
        slashed
    };
    Ok(Cow::Owned(remove_dot_segments(&merged)))
}

/// Whether normalisation would leave the path as it is: no escapes, no backslashes, no dot
/// segments and (when merging) no empty segments.
fn is_normal(path: &[u8], merge: bool) -> bool {
    let mut prev = 0u8;
    for (i, &b) in path.iter().enumerate() {
        match b {
            b'%' | b'\\' => return false,
            b'/' if merge && prev == b'/' => return false,
            b'.' if prev == b'/' => {
                let rest = &path[i + 1..];
                if rest.is_empty()
                    || rest[0] == b'/'
                    || (rest[0] == b'.' && (rest.len() == 1 || rest[1] == b'/'))
                {
                    return false;
                }
            }
            _ => {}
        }
        prev = b;
    }
    true
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// Decodes unreserved escapes (and slashes when asked), upper-cases the hex of the rest.
fn decode(path: &str, slashes: bool) -> Result<String, BadPath> {
    let b = path.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(hi), Some(lo)) = (hex(b[i + 1]), hex(b[i + 2])) {
                let v = hi * 16 + lo;
                match v {
                    0 => return Err(BadPath::EncodedNul),
                    b'/' | b'\\' if !slashes => return Err(BadPath::EscapedSlash),
                    b'/' | b'\\' => out.push(v),
                    v if unreserved(v) => out.push(v),
                    _ => {
                        out.push(b'%');
                        out.push(b[i + 1].to_ascii_uppercase());
                        out.push(b[i + 2].to_ascii_uppercase());
                    }
                }
                i += 3;
                continue;
            }
        }
        if b[i] == b'%' {
            // A `%` that starts no escape is escaped itself, so decoding what follows cannot
            // make a new escape (`%%61` must not become `%a`, nor `%%32F` an escaped slash).
            out.extend_from_slice(b"%25");
        } else {
            out.push(b[i]);
        }
        i += 1;
    }
    // Only ASCII bytes were decoded, so UTF-8 validity is unchanged.
    Ok(String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into()))
}

fn merge_slashes(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for c in path.chars() {
        if !(c == '/' && out.ends_with('/')) {
            out.push(c);
        }
    }
    out
}

/// RFC 3986 §5.2.4 for an absolute path: `.` segments dropped, `..` removes the segment before
/// it (never above the root); a trailing `.` or `..` leaves a trailing slash.
fn remove_dot_segments(path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    let parts: Vec<&str> = path[1..].split('/').collect();
    let last = parts.len() - 1;
    for (i, seg) in parts.iter().enumerate() {
        match *seg {
            "." | ".." => {
                if *seg == ".." {
                    segments.pop();
                }
                if i == last {
                    segments.push("");
                }
            }
            s => segments.push(s),
        }
    }
    let mut out = String::with_capacity(path.len());
    for s in &segments {
        out.push('/');
        out.push_str(s);
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

#[cfg(test)]
mod tests;
