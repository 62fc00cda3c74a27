//! Fields as they arrive in HTTP/1.1 heads: where they are in the head, and their names.

use http::header::{self, HeaderName, InvalidHeaderName};
use smallvec::SmallVec;

/// Where one field lies in a head: name start, name length, value start, value length.
pub type FieldSpan = (u32, u32, u32, u32);

/// Field spans of one head (on the stack for up to 24 fields).
pub type FieldSpans = SmallVec<[FieldSpan; 24]>;

/// Records where each of `fields` (parsed by `httparse` from `head`) lies in `head`, so that
/// values can later be cut from the head's bytes once it is frozen. Pushed in place: collecting
/// into a vector and moving it showed up as a copy of all its slots.
#[inline]
pub fn field_spans(head: &[u8], fields: &[httparse::Header<'_>], spans: &mut FieldSpans) {
    let base = head.as_ptr() as usize;
    let at = |s: &[u8]| (s.as_ptr() as usize - base) as u32;
    for field in fields {
        spans.push((
            at(field.name.as_bytes()),
            field.name.len() as u32,
            at(field.value),
            field.value.len() as u32,
        ));
    }
}

/// A `Content-Length` value (one of a comma-separated list): one or more digits, no sign or
/// spaces, within `u64`.
pub fn content_length(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &d| {
        d.is_ascii_digit()
            .then(|| n.checked_mul(10)?.checked_add(u64::from(d - b'0')))
            .flatten()
    })
}

/// The field name spelled by `bytes` (case-insensitive). The spellings most heads use
/// (`Content-Length`, `host`, …) are matched exactly first, which costs a fraction of
/// `HeaderName::from_bytes` (it lowercases into a scratch buffer before looking the name up);
/// every other spelling goes the general way, with the same result.
#[inline]
pub fn field_name(bytes: &[u8]) -> Result<HeaderName, InvalidHeaderName> {
    match common(bytes) {
        Some(name) => Ok(name),
        None => HeaderName::from_bytes(bytes),
    }
}

/// Exact matches for the names and spellings seen most often.
fn common(bytes: &[u8]) -> Option<HeaderName> {
    Some(match bytes {
        b"Host" | b"host" => header::HOST,
        b"Date" | b"date" => header::DATE,
        b"Server" | b"server" => header::SERVER,
        b"Accept" | b"accept" => header::ACCEPT,
        b"Cookie" | b"cookie" => header::COOKIE,
        b"Connection" | b"connection" => header::CONNECTION,
        b"User-Agent" | b"user-agent" => header::USER_AGENT,
        b"Set-Cookie" | b"set-cookie" => header::SET_COOKIE,
        b"Content-Type" | b"content-type" => header::CONTENT_TYPE,
        b"Content-Length" | b"content-length" => header::CONTENT_LENGTH,
        b"Cache-Control" | b"cache-control" => header::CACHE_CONTROL,
        b"Last-Modified" | b"last-modified" => header::LAST_MODIFIED,
        b"Authorization" | b"authorization" => header::AUTHORIZATION,
        b"Accept-Encoding" | b"accept-encoding" => header::ACCEPT_ENCODING,
        b"Accept-Language" | b"accept-language" => header::ACCEPT_LANGUAGE,
        b"Transfer-Encoding" | b"transfer-encoding" => header::TRANSFER_ENCODING,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_spellings_name_the_same_field_as_the_general_path() {
        let spellings = [
            "Host",
            "host",
            "Date",
            "Server",
            "server",
            "Accept",
            "Cookie",
            "Connection",
            "User-Agent",
            "Set-Cookie",
            "Content-Type",
            "content-length",
            "Content-Length",
            "Cache-Control",
            "Last-Modified",
            "Authorization",
            "Accept-Encoding",
            "accept-language",
            "Transfer-Encoding",
        ];
        for spelling in spellings {
            assert!(common(spelling.as_bytes()).is_some(), "{spelling}");
            assert_eq!(
                field_name(spelling.as_bytes()).unwrap(),
                HeaderName::from_bytes(spelling.as_bytes()).unwrap(),
                "{spelling}"
            );
        }
    }

    #[test]
    fn other_spellings_and_names_take_the_general_path() {
        for spelling in ["HOST", "Content-length", "x-request-id", "X-Custom"] {
            assert!(common(spelling.as_bytes()).is_none(), "{spelling}");
            assert_eq!(
                field_name(spelling.as_bytes()).unwrap(),
                HeaderName::from_bytes(spelling.as_bytes()).unwrap()
            );
        }
        assert!(field_name(b"bad name").is_err());
        assert!(field_name(b"").is_err());
    }
}
