//! Value rules shared by every kind: durations, ports, percentages, regexes, DNS names, hosts,
//! IPs and CIDRs, label selectors, header names and `exportTo`.
//!
//! Receives: single field values. Hands on: `Result<(), String>` with Istio's wording, or
//! diagnostics pushed through [`super::Check`].

use std::collections::{BTreeMap, HashSet};
use std::net::IpAddr;
use std::time::Duration;

use super::Check;
use crate::duration::parse_duration;
use crate::path;

/// A duration that Istio accepts: parses, ≥ 1ms, whole milliseconds.
pub fn duration(s: &str) -> Result<Duration, String> {
    let d = parse_duration(s)?;
    if d < Duration::from_millis(1) {
        return Err("duration must be greater than 1ms".into());
    }
    if d.subsec_nanos() % 1_000_000 != 0 {
        return Err("only durations to ms precision are supported".into());
    }
    Ok(d)
}

/// Port numbers 1..65535.
pub fn port(n: u32) -> Result<(), String> {
    if (1..=65535).contains(&n) {
        Ok(())
    } else {
        Err(format!("port number {n} must be in the range 1..65535"))
    }
}

/// `Percent.value` ∈ {0} ∪ [0.0001, 100].
pub fn percentage(v: f64) -> Result<(), String> {
    if !(0.0..=100.0).contains(&v) || (v > 0.0 && v < 0.0001) {
        return Err(format!(
            "percentage {v} is neither 0.0, nor in range [0.0001, 100.0]"
        ));
    }
    Ok(())
}

/// Integer percentages 0..100.
pub fn percent_int(v: i32) -> Result<(), String> {
    if (0..=100).contains(&v) {
        Ok(())
    } else {
        Err(format!("percentage {v} is not in range 0..100"))
    }
}

/// An RE2 regex as Istio accepts it: ≤ 1024 chars and compiles.
pub fn regex(re: &str, what: &str) -> Result<(), String> {
    if re.len() > 1024 {
        return Err(format!(
            "{what:?}: regex is too large, max length allowed is 1024"
        ));
    }
    match regex::Regex::new(re) {
        Ok(_) => Ok(()),
        Err(e) => Err(format!(
            "{what:?}: {}; Istio uses RE2 style regex-based match (https://github.com/google/re2/wiki/Syntax)",
            e.to_string().lines().last().unwrap_or("invalid regex").trim()
        )),
    }
}

fn label_chars(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// DNS-1123 label: `[a-z0-9]([-a-z0-9]*[a-z0-9])?`, ≤ 63 chars.
pub fn dns1123_label(s: &str) -> bool {
    s.len() <= 63 && label_chars(s)
}

/// DNS-1123 subdomain: dot-separated labels, ≤ 253 chars.
pub fn dns1123_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(dns1123_label)
}

/// A label that may start with `*` (`*`, `*foo`, `*-foo`).
fn wildcard_label(s: &str) -> bool {
    if s.len() > 63 {
        return false;
    }
    match s.strip_prefix('*') {
        Some("") => true,
        Some(rest) => label_chars(rest.strip_prefix('-').unwrap_or(rest)),
        None => label_chars(s),
    }
}

fn dns_preconditions(name: &str) -> Result<(), String> {
    if name.len() > 255 {
        return Err(format!("domain name {name:?} too long (max 255)"));
    }
    if name.is_empty() {
        return Err("empty domain name not allowed".into());
    }
    Ok(())
}

fn dns1123_labels(domain: &str) -> Result<(), String> {
    let parts: Vec<&str> = domain.split('.').collect();
    let tld = parts.last().copied().unwrap_or_default();
    if !tld.is_empty() && tld.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "domain name {domain:?} invalid (top level domain {tld:?} cannot be all-numeric)"
        ));
    }
    for (i, label) in parts.iter().enumerate() {
        if i == parts.len() - 1 && label.is_empty() {
            return Ok(());
        }
        if !dns1123_label(label) {
            return Err(format!(
                "domain name {domain:?} invalid (label {label:?} invalid)"
            ));
        }
    }
    Ok(())
}

/// A fully qualified domain name (dot-separated DNS-1123 labels).
pub fn fqdn(name: &str) -> Result<(), String> {
    dns_preconditions(name)?;
    dns1123_labels(name)
}

/// A domain whose first label may be a wildcard (`*.example.com`, `*`).
pub fn wildcard_domain(domain: &str) -> Result<(), String> {
    dns_preconditions(domain)?;
    let (first, rest) = match domain.split_once('.') {
        Some((a, b)) => (a, Some(b)),
        None => (domain, None),
    };
    if !wildcard_label(first) {
        return Err(format!(
            "domain name {domain:?} invalid (label {first:?} invalid)"
        ));
    }
    match rest {
        Some(r) => dns1123_labels(r),
        None => Ok(()),
    }
}

/// `*` anywhere but as a whole left-most label.
pub fn partial_wildcard(host: &str) -> Result<(), String> {
    if host.contains('*') && host.len() != 1 && !host.starts_with("*.") {
        return Err(format!("partial wildcard {host:?} not allowed"));
    }
    Ok(())
}

/// An IP address.
pub fn is_ip(s: &str) -> bool {
    s.parse::<IpAddr>().is_ok()
}

/// An IP address or a CIDR block.
pub fn ip_subnet(s: &str) -> Result<(), String> {
    if s.matches('/').count() == 1 {
        let (ip, bits) = s.split_once('/').unwrap_or_default();
        let max = match ip.parse::<IpAddr>() {
            Ok(IpAddr::V4(_)) => 32,
            Ok(IpAddr::V6(_)) => 128,
            Err(_) => return Err(format!("{s} is not a valid CIDR block")),
        };
        let ok = !bits.is_empty()
            && bits.bytes().all(|b| b.is_ascii_digit())
            && bits.parse::<u32>().is_ok_and(|b| b <= max);
        return if ok {
            Ok(())
        } else {
            Err(format!("{s} is not a valid CIDR block"))
        };
    }
    if is_ip(s) {
        Ok(())
    } else {
        Err(format!("{s} is not a valid IP"))
    }
}

/// A `unix://` socket path (absolute file path or `@abstract`).
pub fn unix_address(addr: &str) -> Result<(), String> {
    if addr.is_empty() {
        return Err("unix address must not be empty".into());
    }
    if addr.starts_with('@') {
        return Ok(());
    }
    if !addr.starts_with('/') || addr.ends_with('/') {
        return Err(format!("{addr} is not an absolute path to a file"));
    }
    Ok(())
}

fn qualified_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

/// Kubernetes label key: `[prefix/]name`.
fn label_key(k: &str) -> bool {
    match k.split_once('/') {
        Some((prefix, name)) => dns1123_subdomain(prefix) && qualified_name(name),
        None => qualified_name(k),
    }
}

/// Label selector or label set: keys are qualified names, values empty or qualified names.
pub fn labels<T>(c: &mut Check<'_, T>, at: &str, labels: &BTreeMap<String, String>) {
    for (k, v) in labels {
        let p = path::key(at, k);
        if !label_key(k) {
            c.err(&p, format!("invalid tag key: {k:?}"));
        }
        if !(v.is_empty() || qualified_name(v)) {
            c.err(&p, format!("invalid tag value: {v:?}"));
        }
    }
}

/// RFC 7230 token characters.
fn tchar(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

/// A header name (token), or the empty-name error.
pub fn header_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("header name cannot be empty".into());
    }
    if !name.chars().all(tchar) {
        return Err(format!("header name {name} is not a valid header name"));
    }
    Ok(())
}

/// JWT claim routing key `@request.auth.claims.<claim>` / `@request.auth.claims[a][b]`.
pub fn is_jwt_claim_route(name: &str) -> bool {
    name.strip_prefix("@request.auth.claims").is_some_and(|r| {
        (r.starts_with('.') && r.len() > 1) || (r.starts_with('[') && r.ends_with(']'))
    })
}

/// Header name in a match: token, pseudo-header, or JWT-claim form.
pub fn match_header_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("header name cannot be empty".into());
    }
    if is_jwt_claim_route(name)
        || matches!(
            name,
            ":method" | ":scheme" | ":authority" | ":path" | ":status"
        )
    {
        return Ok(());
    }
    header_name(name)
}

/// Header value: no control characters, `%` only in `%VAR%` pairs or `%%`.
pub fn header_value(value: &str) -> Result<(), String> {
    if value
        .chars()
        .any(|c| matches!(c, '\u{0}'..='\u{8}' | '\u{a}'..='\u{1f}' | '\u{7f}'))
    {
        return Err(format!("header value configuration {value} is invalid"));
    }
    // Envoy format: `%%` is a literal percent, `%NAME%` a variable; a lone `%` is invalid.
    let mut rest = value;
    while let Some(i) = rest.find('%') {
        let after = &rest[i + 1..];
        match after.find('%') {
            Some(0) => rest = &after[1..],
            Some(j) => {
                let var = &after[..j];
                let name = var.split('(').next().unwrap_or_default();
                if name.is_empty()
                    || !name
                        .chars()
                        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
                {
                    return Err(format!(
                        "header value configuration: invalid header configuration: {value}"
                    ));
                }
                rest = &after[j + 1..];
            }
            None => {
                return Err(format!(
                    "header value configuration: invalid header configuration: {value}"
                ))
            }
        }
    }
    Ok(())
}

/// `exportTo` rules: no duplicates (`.` = own namespace), `*` alone, `~` only for
/// ServiceEntry and alone, entries valid namespace names; DestinationRules with a
/// workloadSelector may only export to their own namespace.
pub fn export_to<T>(
    c: &mut Check<'_, T>,
    at: &str,
    list: &[String],
    service_entry: bool,
    dr_with_selector: bool,
) {
    if list.is_empty() {
        return;
    }
    let ns = c.res.meta.namespace.clone();
    let mut set: HashSet<String> = HashSet::new();
    for (i, e) in list.iter().enumerate() {
        let p = path::index(at, i);
        let key = if e == "." { ns.clone() } else { e.clone() };
        if set.contains(&key) {
            if key != *e {
                c.err(
                    &p,
                    format!("duplicate entries in exportTo: . and current namespace {ns}"),
                );
            } else {
                c.err(&p, format!("duplicate entries in exportTo for entry {e}"));
            }
            continue;
        }
        if e == "~" && !service_entry {
            c.err(&p, "exportTo ~ (none) is only allowed for ServiceEntry");
            continue;
        }
        if e != "*" && e != "~" && !dns1123_label(&key) {
            c.err(&p, format!("invalid namespace {e:?} in exportTo"));
            continue;
        }
        set.insert(key);
    }
    if dr_with_selector && !set.is_empty() {
        if set.contains(&ns) {
            if set.len() > 1 {
                c.err(
                    at,
                    "destination rule with workload selector cannot have multiple entries in exportTo",
                );
            }
        } else {
            c.err(
                at,
                "destination rule with workload selector cannot have exportTo beyond current namespace",
            );
        }
    }
    if set.contains("*") && list.len() > 1 {
        c.err(
            at,
            "cannot have both public (*) and non-public exportTo values for a resource",
        );
    }
    if set.contains("~") && list.len() > 1 {
        c.err(at, "cannot export service entry to no one (~) and someone");
    }
}

/// Optional string that is set and non-empty (proto3: empty = unset).
pub fn set(s: &Option<String>) -> bool {
    s.as_deref().is_some_and(|s| !s.is_empty())
}

/// Istio protocol names (case-insensitive); `None` when unsupported.
pub fn protocol(p: &str) -> Option<&'static str> {
    const KNOWN: [&str; 13] = [
        "HTTP",
        "HTTPS",
        "GRPC",
        "GRPC-WEB",
        "HTTP2",
        "MONGO",
        "TCP",
        "TLS",
        "UDP",
        "REDIS",
        "MYSQL",
        "HBONE",
        "HTTP_PROXY",
    ];
    KNOWN.into_iter().find(|k| k.eq_ignore_ascii_case(p))
}

/// HTTP-family protocols.
pub fn is_http(p: &str) -> bool {
    matches!(
        protocol(p),
        Some("HTTP" | "HTTP2" | "GRPC" | "GRPC-WEB" | "HTTP_PROXY")
    )
}

/// Protocols that carry TLS on the wire.
pub fn is_tls(p: &str) -> bool {
    matches!(protocol(p), Some("HTTPS" | "TLS"))
}

/// Port names must be DNS-1123 labels.
pub fn port_name(name: &str) -> Result<(), String> {
    if name.is_empty() || !dns1123_label(name) {
        return Err(format!(
            "invalid port name: {name}, must be a valid DNS-1123 label"
        ));
    }
    Ok(())
}

/// Does host `a` match `b`, or `b` match `a` (wildcard-aware)? Istio's `host.Name.Matches`.
pub fn hosts_overlap(a: &str, b: &str) -> bool {
    host_matches(a, b) || host_matches(b, a)
}

/// `pattern` covers `h`: equal, or `pattern` is `*`/`*.suffix` and `h` ends with the suffix.
fn host_matches(pattern: &str, h: &str) -> bool {
    if pattern == h || pattern == "*" {
        return true;
    }
    match pattern.strip_prefix('*') {
        Some(suffix) => {
            let hs = h.strip_prefix('*').unwrap_or(h);
            hs.ends_with(suffix) && (h.starts_with('*') || h.len() > suffix.len())
        }
        None => false,
    }
}

/// `sub` is within `of` (Istio's `host.Name.SubsetOf`).
pub fn host_subset_of(sub: &str, of: &str) -> bool {
    if sub == of || of == "*" {
        return true;
    }
    match (of.strip_prefix('*'), sub.strip_prefix('*')) {
        (Some(osuf), Some(ssuf)) => ssuf.ends_with(osuf),
        (Some(osuf), None) => sub.ends_with(osuf),
        _ => false,
    }
}
