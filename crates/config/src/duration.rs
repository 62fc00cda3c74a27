//! Go / protobuf duration strings (`1h`, `1m30s`, `1.5s`, `500ms`, `10us`, `0s`).
//!
//! Receives: the duration text of a spec field. Hands on: a `std::time::Duration` for
//! validation and `compile`, or a message saying why the text is not a duration.

use std::time::Duration;

/// `google.protobuf.Duration`'s largest value (10 000 years), the bound Istio's API enforces.
const MAX_SECS: u128 = 315_576_000_000;

/// Parses a Go-style duration (`time.ParseDuration`): a sequence of decimal numbers with unit
/// suffixes `ns`, `us` (`µs`), `ms`, `s`, `m`, `h`. Negative durations are rejected.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("invalid duration {s:?}");
    let mut rest = s.trim();
    if rest.is_empty() {
        return Err("invalid duration \"\": empty".to_string());
    }
    if let Some(r) = rest.strip_prefix('+') {
        rest = r;
    } else if rest.starts_with('-') {
        return Err(format!(
            "invalid duration {s:?}: negative durations are not allowed"
        ));
    }
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let int_part = &rest[..int_len];
        rest = &rest[int_len..];
        let mut frac_part = "";
        if let Some(r) = rest.strip_prefix('.') {
            let frac_len = r.bytes().take_while(u8::is_ascii_digit).count();
            frac_part = &r[..frac_len];
            rest = &r[frac_len..];
        }
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(bad());
        }
        let unit_len = rest
            .char_indices()
            .find(|(_, c)| c.is_ascii_digit() || *c == '.')
            .map_or(rest.len(), |(i, _)| i);
        let unit: u128 = match &rest[..unit_len] {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "" => return Err(format!("invalid duration {s:?}: missing unit")),
            u => return Err(format!("invalid duration {s:?}: unknown unit {u:?}")),
        };
        rest = &rest[unit_len..];
        let mut whole: u128 = 0;
        for d in int_part.bytes() {
            whole = whole
                .checked_mul(10)
                .and_then(|w| w.checked_add(u128::from(d - b'0')))
                .ok_or_else(bad)?;
            if whole > u128::from(u64::MAX) {
                return Err(format!("invalid duration {s:?}: too large"));
            }
        }
        let (mut frac, mut scale) = (0u128, 1u128);
        for d in frac_part.bytes() {
            if scale >= 1_000_000_000_000_000_000 {
                break;
            }
            frac = frac * 10 + u128::from(d - b'0');
            scale *= 10;
        }
        total = total
            .checked_add(whole * unit + frac * unit / scale)
            .ok_or_else(bad)?;
        if total > MAX_SECS * 1_000_000_000 {
            return Err(format!(
                "invalid duration {s:?}: out of range (at most {MAX_SECS}s, protobuf's limit)"
            ));
        }
    }
    let secs = u64::try_from(total / 1_000_000_000).map_err(|_| bad())?;
    // The remainder is < 1e9 so it always fits.
    let nanos = u32::try_from(total % 1_000_000_000).map_err(|_| bad())?;
    Ok(Duration::new(secs, nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_durations() {
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("10us"), Ok(Duration::from_micros(10)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert_eq!(
            parse_duration("1h2m3.004s"),
            Ok(Duration::from_millis(3_723_004))
        );
        assert_eq!(parse_duration(".5s"), Ok(Duration::from_millis(500)));
    }

    #[test]
    fn rejects_bad_durations() {
        for s in [
            "",
            "1",
            "s",
            "1x",
            "-1s",
            "1.s.",
            "abc",
            "1 s",
            "99999999999999999999999h",
        ] {
            assert!(parse_duration(s).is_err(), "{s} should fail");
        }
    }
}
