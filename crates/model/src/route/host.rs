//! Host lookup: the request's authority → the virtual host that serves it.
//!
//! Envoy's domain order: an exact domain beats a wildcard suffix, a longer suffix beats a shorter
//! one, and `*` is last. Every step is a hash lookup, so lookup cost does not grow with the number
//! of hosts.

use super::{LookupMap, VirtualHost};
use std::borrow::Cow;

/// The virtual hosts of one listener port.
#[derive(Debug, Default)]
pub struct RouteTable {
    /// Virtual hosts, in the order they were built.
    pub vhosts: Vec<VirtualHost>,
    exact: LookupMap<u32>,
    /// Keyed by the suffix after `*`, dot included: `*.example.com` → `.example.com`.
    suffix: LookupMap<u32>,
    any: Option<u32>,
}

impl RouteTable {
    /// Indexes `vhosts` by domain. Domains must be unique and lowercase.
    pub fn new(vhosts: Vec<VirtualHost>) -> Self {
        let mut table = Self {
            vhosts: Vec::new(),
            ..Default::default()
        };
        for (i, vh) in vhosts.iter().enumerate() {
            let i = i as u32;
            if &*vh.domain == "*" {
                table.any = Some(i);
            } else if let Some(suffix) = vh.domain.strip_prefix('*') {
                table.suffix.insert(suffix.into(), i);
            } else {
                table.exact.insert(vh.domain.clone(), i);
            }
        }
        table.vhosts = vhosts;
        table
    }

    /// The virtual host for a Host header / `:authority` value.
    pub fn find_host(&self, authority: &str) -> Option<&VirtualHost> {
        if self.exact.is_empty() && self.suffix.is_empty() {
            // Only `*` (or nothing): the authority does not choose.
            return self.any.map(|i| &self.vhosts[i as usize]);
        }
        let host = normalize_host(authority);
        self.find_index(&host).map(|i| &self.vhosts[i as usize])
    }

    fn find_index(&self, host: &str) -> Option<u32> {
        if let Some(&i) = self.exact.get(host) {
            return Some(i);
        }
        if !self.suffix.is_empty() {
            // Leftmost dot first: the longest suffix wins.
            for (pos, _) in host.match_indices('.') {
                if pos == 0 {
                    continue;
                }
                if let Some(&i) = self.suffix.get(&host[pos..]) {
                    return Some(i);
                }
            }
        }
        self.any
    }
}

/// Host part of an authority, lowercased, without port or trailing dot.
pub fn normalize_host(authority: &str) -> Cow<'_, str> {
    let host = if authority.starts_with('[') {
        // IPv6 literal: keep the brackets, drop the port.
        match authority.find(']') {
            Some(end) => &authority[..=end],
            None => authority,
        }
    } else {
        match authority.rsplit_once(':') {
            Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
            _ => authority,
        }
    };
    let host = host.strip_suffix('.').unwrap_or(host);
    if host.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(host.to_ascii_lowercase())
    } else {
        Cow::Borrowed(host)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn table(domains: &[&str]) -> RouteTable {
        RouteTable::new(
            domains
                .iter()
                .map(|d| VirtualHost::new((*d).into(), Vec::new(), false))
                .collect(),
        )
    }

    fn found<'a>(t: &'a RouteTable, host: &str) -> Option<&'a str> {
        t.find_host(host).map(|v| &*v.domain)
    }

    #[test]
    fn exact_beats_wildcard_and_longer_suffix_wins() {
        let t = table(&["*", "*.example.com", "*.dev.example.com", "api.example.com"]);
        assert_eq!(found(&t, "api.example.com"), Some("api.example.com"));
        assert_eq!(found(&t, "API.Example.com:8080"), Some("api.example.com"));
        assert_eq!(found(&t, "x.dev.example.com"), Some("*.dev.example.com"));
        assert_eq!(found(&t, "x.example.com."), Some("*.example.com"));
        assert_eq!(found(&t, "example.com"), Some("*"));
        assert_eq!(found(&t, "newexample.com"), Some("*"));
    }

    #[test]
    fn no_catch_all_means_no_host() {
        let t = table(&["*.example.com"]);
        assert_eq!(found(&t, "example.com"), None);
        assert_eq!(found(&t, "a.b.example.com"), Some("*.example.com"));
    }

    #[test]
    fn strips_ports_and_ipv6_brackets() {
        assert_eq!(normalize_host("[::1]:8080"), "[::1]");
        assert_eq!(normalize_host("a.b:80"), "a.b");
        assert_eq!(normalize_host("a.b"), "a.b");
    }

    /// Linear reference: Envoy's domain order, checked one domain at a time.
    fn linear<'a>(domains: &'a [String], host: &str) -> Option<&'a str> {
        let host = normalize_host(host);
        if let Some(d) = domains.iter().find(|d| **d == *host) {
            return Some(d);
        }
        let best = domains
            .iter()
            .filter(|d| d.starts_with("*.") && host.ends_with(&d[1..]) && host.len() > d.len() - 1)
            .max_by_key(|d| d.len());
        best.map(|d| d.as_str())
            .or_else(|| domains.iter().find(|d| *d == "*").map(|d| d.as_str()))
    }

    proptest! {
        #[test]
        fn hashed_lookup_agrees_with_linear_scan(
            labels in proptest::collection::vec("[a-c]{1,2}", 1..4),
            domains in proptest::collection::btree_set(
                prop_oneof![Just("*".to_string()), "[a-c]{1,2}(\\.[a-c]{1,2}){0,2}", "\\*(\\.[a-c]{1,2}){1,2}"], 0..8),
        ) {
            let host = labels.join(".");
            let domains: Vec<String> = domains.into_iter().collect();
            let t = RouteTable::new(domains.iter().map(|d| VirtualHost::new(d.as_str().into(), Vec::new(), false)).collect());
            prop_assert_eq!(t.find_host(&host).map(|v| &*v.domain), linear(&domains, &host));
        }
    }
}
