//! Host names as Istio resolves them: short names, wildcards, `namespace/host` forms.

/// Expands a short name (no dot) to `<name>.<namespace>.svc.cluster.local`, as Istio does for
/// hosts in VirtualServices and DestinationRules. `*` and names with dots are kept (lowercased).
pub fn resolve_short(host: &str, namespace: &str) -> String {
    let host = host.to_ascii_lowercase();
    if host == "*" || host.contains('.') || host.parse::<std::net::IpAddr>().is_ok() {
        host
    } else {
        format!("{host}.{namespace}.svc.cluster.local")
    }
}

/// Whether `host` (which may itself be a wildcard) falls under `pattern` (`*`, `*.suffix` or a
/// name).
pub fn covered_by(host: &str, pattern: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    match pattern.strip_prefix('*') {
        Some(suffix) => host.len() > suffix.len() && host.ends_with(suffix),
        None => host == pattern,
    }
}

/// The domain a VirtualService host serves under a Gateway server host: the more specific of
/// the two, when one covers the other.
pub fn intersect(server_host: &str, vs_host: &str) -> Option<String> {
    if covered_by(vs_host, server_host) {
        Some(vs_host.to_string())
    } else if covered_by(server_host, vs_host) {
        Some(server_host.to_string())
    } else {
        None
    }
}

/// A Gateway server host `[namespace/]host`: which VirtualService namespaces may bind to it.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerHost {
    /// `None` = any namespace (`*/` or no prefix).
    pub namespace: Option<String>,
    /// Lowercased DNS name or wildcard.
    pub host: String,
}

impl ServerHost {
    /// Parses a server host; `.` means the Gateway's own namespace.
    pub fn parse(raw: &str, gateway_namespace: &str) -> Self {
        match raw.split_once('/') {
            Some(("*", host)) => Self {
                namespace: None,
                host: host.to_ascii_lowercase(),
            },
            Some((".", host)) => Self {
                namespace: Some(gateway_namespace.to_string()),
                host: host.to_ascii_lowercase(),
            },
            Some((ns, host)) => Self {
                namespace: Some(ns.to_string()),
                host: host.to_ascii_lowercase(),
            },
            None => Self {
                namespace: None,
                host: raw.to_ascii_lowercase(),
            },
        }
    }

    /// Whether a VirtualService in `namespace` may bind.
    pub fn admits(&self, namespace: &str) -> bool {
        self.namespace.as_deref().is_none_or(|ns| ns == namespace)
    }
}

/// Whether a resource in `own_ns` with this `exportTo` is visible from `viewer_ns` (empty or
/// `*`: everywhere; `.`: its own namespace; `~`: nowhere; otherwise the listed namespaces).
pub fn exported_to(export_to: &[String], own_ns: &str, viewer_ns: &str) -> bool {
    export_to.is_empty()
        || export_to
            .iter()
            .any(|e| e == "*" || e == viewer_ns || (e == "." && own_ns == viewer_ns))
}

/// `ns/name` of a gateway reference in a VirtualService (bare names are in the VS's namespace;
/// the legacy `name.namespace` form is accepted too).
pub fn gateway_ref(reference: &str, vs_namespace: &str) -> String {
    match reference.split_once('/') {
        Some((ns, name)) => format!("{ns}/{name}"),
        None => match reference.split_once('.') {
            Some((name, ns)) => format!("{}/{name}", ns.split('.').next().unwrap_or(ns)),
            None => format!("{vs_namespace}/{reference}"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names_expand_by_namespace() {
        assert_eq!(
            resolve_short("reviews", "default"),
            "reviews.default.svc.cluster.local"
        );
        assert_eq!(
            resolve_short("Reviews.Example.com", "x"),
            "reviews.example.com"
        );
        assert_eq!(resolve_short("*", "x"), "*");
    }

    #[test]
    fn intersection_takes_the_more_specific_host() {
        assert_eq!(
            intersect("*", "a.example.com").as_deref(),
            Some("a.example.com")
        );
        assert_eq!(
            intersect("*.example.com", "a.example.com").as_deref(),
            Some("a.example.com")
        );
        assert_eq!(
            intersect("a.example.com", "*").as_deref(),
            Some("a.example.com")
        );
        assert_eq!(
            intersect("a.example.com", "*.example.com").as_deref(),
            Some("a.example.com")
        );
        assert_eq!(intersect("*.example.com", "example.com"), None);
        assert_eq!(intersect("*.example.com", "newexample.com"), None);
        assert_eq!(
            intersect("*.example.com", "*.a.example.com").as_deref(),
            Some("*.a.example.com")
        );
    }

    #[test]
    fn server_hosts_restrict_namespaces() {
        let h = ServerHost::parse("prod/*.example.com", "gw");
        assert!(h.admits("prod") && !h.admits("dev"));
        assert!(ServerHost::parse("./a.com", "gw").admits("gw"));
        assert!(ServerHost::parse("*/a.com", "gw").admits("any"));
        assert_eq!(gateway_ref("edge", "default"), "default/edge");
        assert_eq!(
            gateway_ref("istio-system/edge", "default"),
            "istio-system/edge"
        );
    }
}
