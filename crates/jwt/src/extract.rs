//! Where tokens live in a request: `fromHeaders`, `fromParams`, `fromCookies`, or Istio's
//! defaults; finding them and removing them afterwards.
//!
//! Receives the request head; hands `authenticator` every token text found, tagged with the
//! location it came from (a location belongs to the rules that configured it).

use std::borrow::Cow;

use http::header::{AUTHORIZATION, COOKIE};
use http::request::Parts;
use http::uri::PathAndQuery;
use http::{HeaderName, Uri};

/// One place a token may be, compiled from a rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Location {
    /// A header whose value starts with `prefix`. `strict`: a value without the prefix is an
    /// invalid token (a configured `fromHeaders`, per Istio's API). Not strict: such a value
    /// is not a token at all (the default `Authorization: Bearer`, so `Basic` credentials for
    /// the application pass through untouched, as with Envoy).
    Header {
        name: HeaderName,
        prefix: Box<str>,
        strict: bool,
    },
    /// A query parameter.
    Param(Box<str>),
    /// A cookie.
    Cookie(Box<str>),
}

impl Location {
    /// Istio's locations when a rule names none: `Authorization: Bearer <token>`, then the
    /// `access_token` query parameter.
    pub(crate) fn defaults() -> [Location; 2] {
        [
            Location::Header {
                name: AUTHORIZATION,
                prefix: "Bearer ".into(),
                strict: false,
            },
            Location::Param("access_token".into()),
        ]
    }

    /// Every token at this location in `parts`, in order; `Err(())` for a value that is there
    /// but cannot hold a token (wrong prefix on a strict header, not text).
    pub(crate) fn find<'r>(&self, parts: &'r Parts, out: &mut Vec<Result<Cow<'r, str>, ()>>) {
        match self {
            Location::Header {
                name,
                prefix,
                strict,
            } => {
                for value in parts.headers.get_all(name) {
                    let Ok(value) = value.to_str() else {
                        out.push(Err(()));
                        continue;
                    };
                    match strip_prefix(value, prefix, *strict) {
                        Some(token) => out.push(Ok(Cow::Borrowed(token.trim()))),
                        None if *strict => out.push(Err(())),
                        None => {}
                    }
                }
            }
            Location::Param(param) => {
                for (name, value) in query_pairs(parts.uri.query().unwrap_or("")) {
                    if percent_decode(name).as_deref() == Some(&**param) {
                        out.push(percent_decode(value).ok_or(()));
                    }
                }
            }
            Location::Cookie(cookie) => {
                for header in parts.headers.get_all(COOKIE) {
                    let Ok(header) = header.to_str() else {
                        continue;
                    };
                    for pair in header.split(';') {
                        let Some((name, value)) = pair.trim().split_once('=') else {
                            continue;
                        };
                        if name == &**cookie {
                            let value = value.strip_prefix('"').unwrap_or(value);
                            let value = value.strip_suffix('"').unwrap_or(value);
                            out.push(Ok(Cow::Borrowed(value)));
                        }
                    }
                }
            }
        }
    }

    /// Removes the token from the request (`forwardOriginalToken: false`): the whole header,
    /// or every occurrence of the parameter. Cookies are left alone, as Envoy does.
    pub(crate) fn remove(&self, parts: &mut Parts) {
        match self {
            Location::Header { name, .. } => {
                parts.headers.remove(name);
            }
            Location::Param(param) => remove_param(parts, param),
            Location::Cookie(_) => {}
        }
    }
}

fn strip_prefix<'v>(value: &'v str, prefix: &str, strict: bool) -> Option<&'v str> {
    if strict {
        return value.strip_prefix(prefix);
    }
    // The auth scheme is case-insensitive (RFC 9110 §11.1).
    let head = value.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &value[prefix.len()..])
}

fn query_pairs(query: &str) -> impl Iterator<Item = (&str, &str)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').unwrap_or((p, "")))
}

/// `%XX` decoding (and `+` as space, as forms encode it); `None` when the result is not UTF-8
/// or an escape is broken.
fn percent_decode(text: &str) -> Option<Cow<'_, str>> {
    if !text.contains(['%', '+']) {
        return Some(Cow::Borrowed(text));
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = text.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok().map(Cow::Owned)
}

fn remove_param(parts: &mut Parts, param: &str) {
    let Some(query) = parts.uri.query() else {
        return;
    };
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| {
            let name = pair.split_once('=').map_or(*pair, |(n, _)| n);
            percent_decode(name).as_deref() != Some(param)
        })
        .collect();
    let path = parts.uri.path();
    let rebuilt = if kept.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{}", kept.join("&"))
    };
    // The pieces come from a valid URI, so rebuilding cannot fail; if it somehow did, the
    // request keeps its URI (the token then reaches upstream, never a broken request line).
    let mut uri = parts.uri.clone().into_parts();
    if let Ok(pq) = PathAndQuery::try_from(rebuilt) {
        uri.path_and_query = Some(pq);
        if let Ok(uri) = Uri::from_parts(uri) {
            parts.uri = uri;
        }
    }
}

#[cfg(test)]
mod tests;
