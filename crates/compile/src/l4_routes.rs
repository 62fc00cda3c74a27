//! VirtualService `tcp` and `tls` routes bound to a listener's TCP/TLS servers → [`TcpRoutes`].
//!
//! A VirtualService applies to a server when it names the server's gateway, is exported to it
//! and one of its hosts meets one of the server's hosts (Istio's gateway binding). Its rules keep
//! their order; VirtualServices keep their load order. The match conditions that depend on the
//! proxy and the listener (`gateways`, `port`, `sourceLabels`, `sourceNamespace`) are decided
//! here, once: an entry that fails them is dropped, and a rule whose entries are all dropped is
//! absent. `tls` entries keep only the `sniHosts` under the server's hosts. Destinations resolve
//! to clusters as HTTP ones do, each with its cluster's `connectionPool.tcp.idleTimeout`.

use std::collections::BTreeMap;
use std::time::Duration;

use rampart_config::networking::{
    Destination, DestinationRule, L4MatchAttributes, RouteDestination, TlsMatchAttributes,
    VirtualService,
};
use rampart_config::{parse_duration, ConfigSet, Resource, Severity};
use rampart_model::cidr::Cidr;
use rampart_model::route::{Forward, HeaderOps, WeightedDestination};
use rampart_model::tcp::{TcpMatch, TcpRoutes, TcpRule, DEFAULT_IDLE_TIMEOUT};
use rampart_model::ServerName;

use crate::gateways::{binds, BoundServer, L4Cx};
use crate::hosts::{covered_by, exported_to, gateway_ref, intersect, resolve_short};

/// Which of a VirtualService's layer-4 route lists a server serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum L4Kind {
    /// `tcp` routes: a TCP server, or a TLS server that terminates (SIMPLE/MUTUAL).
    Tcp,
    /// `tls` routes: a TLS/HTTPS server in PASSTHROUGH mode (routed by SNI).
    Tls,
}

/// The layer-4 rules of every VirtualService bound to `servers`, in load order.
pub(crate) fn build(cx: &mut L4Cx<'_, '_>, servers: &[BoundServer<'_>], kind: L4Kind) -> TcpRoutes {
    let mut rules = Vec::new();
    for vs in &cx.set.virtual_services {
        let bound: Vec<&BoundServer<'_>> = servers
            .iter()
            .filter(|s| binds(vs, s) && meets_hosts(vs, s))
            .collect();
        if bound.is_empty() {
            continue;
        }
        let at = Binding {
            vs,
            servers: &bound,
        };
        match kind {
            L4Kind::Tcp => {
                for (i, rule) in vs.spec.tcp.iter().enumerate() {
                    let matches = rule.matches.iter().map(L4Fields::tcp).collect();
                    rules.extend(compile_rule(cx, &at, ("tcp", i), matches, &rule.route));
                }
            }
            L4Kind::Tls => {
                for (i, rule) in vs.spec.tls.iter().enumerate() {
                    let matches = rule.matches.iter().map(L4Fields::tls).collect();
                    rules.extend(compile_rule(cx, &at, ("tls", i), matches, &rule.route));
                }
            }
        }
    }
    TcpRoutes { rules }
}

/// A VirtualService and the servers (of one listener) it binds to.
struct Binding<'v, 's, 'a> {
    vs: &'v Resource<VirtualService>,
    servers: &'s [&'s BoundServer<'a>],
}

/// The fields `L4MatchAttributes` and `TLSMatchAttributes` share (TLS has no `sourceSubnet`,
/// TCP no `sniHosts`).
struct L4Fields<'m> {
    port: Option<u32>,
    gateways: &'m [String],
    source_labels: &'m BTreeMap<String, String>,
    source_namespace: Option<&'m str>,
    destination_subnets: &'m [String],
    source_subnet: Option<&'m str>,
    sni_hosts: &'m [String],
}

impl<'m> L4Fields<'m> {
    fn tcp(m: &'m L4MatchAttributes) -> Self {
        Self {
            port: m.port,
            gateways: &m.gateways,
            source_labels: &m.source_labels,
            source_namespace: m.source_namespace.as_deref(),
            destination_subnets: &m.destination_subnets,
            source_subnet: m.source_subnet.as_deref(),
            sni_hosts: &[],
        }
    }

    fn tls(m: &'m TlsMatchAttributes) -> Self {
        Self {
            port: m.port,
            gateways: &m.gateways,
            source_labels: &m.source_labels,
            source_namespace: m.source_namespace.as_deref(),
            destination_subnets: &m.destination_subnets,
            source_subnet: None,
            sni_hosts: &m.sni_hosts,
        }
    }
}

/// Whether a host of `vs` meets a host of `server` that admits the VirtualService's namespace.
fn meets_hosts(vs: &Resource<VirtualService>, server: &BoundServer<'_>) -> bool {
    vs.spec.hosts.iter().any(|h| {
        let h = resolve_short(h, &vs.meta.namespace);
        server
            .hosts
            .iter()
            .any(|sh| sh.admits(&vs.meta.namespace) && intersect(&sh.host, &h).is_some())
    })
}

/// Rule `spec.<list>[<index>]` of the binding's VirtualService, or `None` when it does not apply.
fn compile_rule(
    cx: &mut L4Cx<'_, '_>,
    at: &Binding<'_, '_, '_>,
    (list, index): (&str, usize),
    matches: Vec<L4Fields<'_>>,
    route: &[RouteDestination],
) -> Option<TcpRule> {
    let path = format!("spec.{list}[{index}]");
    let had_matches = !matches.is_empty();
    let mut kept = Vec::with_capacity(matches.len());
    for (j, m) in matches.iter().enumerate() {
        if let Some(compiled) = compile_match(cx, at, &format!("{path}.match[{j}]"), m) {
            kept.push(compiled);
        }
    }
    if had_matches && kept.is_empty() {
        return None;
    }
    let vs = at.vs;
    let name = format!("{}/{}.{list}.{index}", vs.meta.namespace, vs.meta.name);
    let (forward, idle_timeouts) = destinations(cx, vs, &path, &name, route)?;
    Some(TcpRule {
        virtual_service: format!("{}/{}", vs.meta.namespace, vs.meta.name).into(),
        name: name.into(),
        matches: kept,
        forward,
        idle_timeouts,
    })
}

/// One match entry, or `None` when it cannot apply to this listener (or is invalid: reported).
fn compile_match(
    cx: &mut L4Cx<'_, '_>,
    at: &Binding<'_, '_, '_>,
    path: &str,
    m: &L4Fields<'_>,
) -> Option<TcpMatch> {
    let vs = at.vs;
    let ns = &vs.meta.namespace;
    let on_gateway = m.gateways.is_empty()
        || m.gateways.iter().any(|g| {
            let g = gateway_ref(g, ns);
            at.servers.iter().any(|s| s.gateway_ref == g)
        });
    let on_port = m.port.is_none_or(|p| p == 0 || p == u32::from(cx.port));
    let from_me = m
        .source_labels
        .iter()
        .all(|(k, v)| cx.me.labels.get(k) == Some(v))
        && m.source_namespace
            .is_none_or(|s| s.is_empty() || s == cx.me.namespace);
    if !(on_gateway && on_port && from_me) {
        return None;
    }
    let mut out = TcpMatch::default();
    for (k, s) in m.destination_subnets.iter().enumerate() {
        out.destination_subnets
            .push(cidr(cx, vs, &format!("{path}.destinationSubnets[{k}]"), s)?);
    }
    if let Some(s) = m.source_subnet.filter(|s| !s.is_empty()) {
        out.source_subnet = Some(cidr(cx, vs, &format!("{path}.sourceSubnet"), s)?);
    }
    if !m.sni_hosts.is_empty() {
        out.sni_hosts = sni_hosts(at, m.sni_hosts);
        if out.sni_hosts.is_empty() {
            // None of its SNI names is served by this server.
            return None;
        }
    }
    Some(out)
}

fn cidr(cx: &mut L4Cx<'_, '_>, vs: &Resource<VirtualService>, path: &str, s: &str) -> Option<Cidr> {
    match Cidr::parse(s) {
        Ok(c) => Some(c),
        Err(e) => {
            cx.diags.push(vs.diag(Severity::Error, path, e));
            None
        }
    }
}

/// The `sniHosts` under the bound servers' hosts, each narrowed to the more specific of the two
/// (`*.example.com` under a server for `a.example.com` serves `a.example.com`).
fn sni_hosts(at: &Binding<'_, '_, '_>, sni_hosts: &[String]) -> Vec<ServerName> {
    let mut names: Vec<String> = Vec::new();
    for sni in sni_hosts {
        let sni = sni.to_ascii_lowercase();
        for server in at.servers {
            for sh in server
                .hosts
                .iter()
                .filter(|h| h.admits(&at.vs.meta.namespace))
            {
                if let Some(name) = intersect(&sh.host, &sni) {
                    if !names.contains(&name) {
                        names.push(name);
                    }
                }
            }
        }
    }
    names.iter().map(|n| ServerName::parse(n)).collect()
}

/// The weighted destinations of a rule and their idle timeouts; `None` (rule absent) when no
/// destination has weight (validation reports it).
fn destinations(
    cx: &mut L4Cx<'_, '_>,
    vs: &Resource<VirtualService>,
    path: &str,
    rule_name: &str,
    route: &[RouteDestination],
) -> Option<(Forward, Box<[Option<Duration>]>)> {
    let single = route.len() == 1;
    let mut destinations = Vec::with_capacity(route.len());
    let mut idle_timeouts = Vec::with_capacity(route.len());
    for (k, d) in route.iter().enumerate() {
        let weight = match single {
            true => 1,
            false => d.weight.unwrap_or(0).max(0) as u32,
        };
        if weight == 0 {
            continue;
        }
        let at = format!("{path}.route[{k}].destination");
        let resolved = cx.clusters.resolve(&d.destination, vs, &at, cx.diags);
        let version = resolved.subset.as_deref().unwrap_or("unknown");
        let stat = cx.stats.id(rule_name, &resolved.host, version);
        idle_timeouts.push(idle_timeout(cx, &d.destination, &resolved.host));
        destinations.push(WeightedDestination {
            cluster: resolved.cluster,
            weight,
            name: match &resolved.subset {
                Some(s) => format!("{}|{s}", resolved.host).into(),
                None => resolved.host.as_str().into(),
            },
            stat,
            request_headers: HeaderOps::default(),
            response_headers: HeaderOps::default(),
        });
    }
    let total_weight = destinations.iter().map(|d| d.weight).sum();
    if total_weight == 0 {
        return None;
    }
    let forward = Forward {
        destinations,
        total_weight,
    };
    Some((forward, idle_timeouts.into()))
}

/// `connectionPool.tcp.idleTimeout` for a destination, with Istio's precedence (subset
/// port-level, subset, port-level, top-level: the first `connectionPool` found decides) and
/// default (1h; `0s` disables).
fn idle_timeout(cx: &L4Cx<'_, '_>, dest: &Destination, host: &str) -> Option<Duration> {
    let default = Some(DEFAULT_IDLE_TIMEOUT);
    let Some(dr) = destination_rule(cx.set, &cx.me.namespace, host) else {
        return default;
    };
    let port = dest
        .port
        .as_ref()
        .map(|p| p.number)
        .or_else(|| only_port(cx.set, &cx.me.namespace, host));
    let subset = dest.subset.as_deref().filter(|s| !s.is_empty());
    let subset_policy = subset
        .and_then(|name| dr.spec.subsets.iter().find(|s| s.name == name))
        .and_then(|s| s.traffic_policy.as_ref());
    let layers = [subset_policy, dr.spec.traffic_policy.as_ref()];
    let pool = layers.into_iter().flatten().find_map(|tp| {
        let port_level = tp
            .port_level_settings
            .iter()
            .find(|pl| port.is_some() && pl.port.as_ref().map(|p| p.number) == port);
        port_level
            .and_then(|pl| pl.connection_pool.as_ref())
            .or(tp.connection_pool.as_ref())
    });
    let configured = pool
        .and_then(|p| p.tcp.as_ref())
        .and_then(|t| t.idle_timeout.as_deref())
        .and_then(|d| parse_duration(d).ok());
    match configured {
        Some(d) if d.is_zero() => None,
        Some(d) => Some(d),
        None => default,
    }
}

/// The DestinationRule for `host` visible from `viewer_ns`: exact host first, then the most
/// specific wildcard (as the cluster builder chooses it).
fn destination_rule<'a>(
    set: &'a ConfigSet,
    viewer_ns: &str,
    host: &str,
) -> Option<&'a Resource<DestinationRule>> {
    let named = |dr: &Resource<DestinationRule>| resolve_short(&dr.spec.host, &dr.meta.namespace);
    let visible = |dr: &&'a Resource<DestinationRule>| {
        exported_to(&dr.spec.export_to, &dr.meta.namespace, viewer_ns)
    };
    let rules = &set.destination_rules;
    rules
        .iter()
        .filter(visible)
        .find(|dr| named(dr) == host)
        .or_else(|| {
            rules
                .iter()
                .filter(visible)
                .filter(|dr| covered_by(host, &named(dr)))
                .max_by_key(|dr| named(dr).len())
        })
}

/// The port of a single-port service (a destination may then leave `port` out).
fn only_port(set: &ConfigSet, viewer_ns: &str, host: &str) -> Option<u32> {
    let se = set.service_entries.iter().find(|se| {
        exported_to(&se.spec.export_to, &se.meta.namespace, viewer_ns)
            && se
                .spec
                .hosts
                .iter()
                .any(|h| resolve_short(h, &se.meta.namespace) == host)
    })?;
    match se.spec.ports.as_slice() {
        [only] => Some(only.number),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
