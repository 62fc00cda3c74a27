//! VirtualService `tcp` and `tls` routes bound to a listener's TCP/TLS servers → [`TcpRoutes`].
//!
//! A VirtualService applies to a server when it names the server's gateway, is exported to it
//! and one of its hosts meets one of the server's hosts (Istio's gateway binding). Its rules keep
//! their order; VirtualServices keep their load order. The match conditions that depend on the
//! proxy and the listener (`gateways`, `port`, `sourceLabels`, `sourceNamespace`) are decided
//! here, once: an entry that fails them is dropped, and a rule whose entries are all dropped is
//! absent. `tls` entries keep only the `sniHosts` under the server's hosts. Destinations resolve
//! to clusters as HTTP ones do (each cluster carries its `connectionPool.tcp.idleTimeout`).

use std::collections::BTreeMap;

use rampart_config::networking::{
    L4MatchAttributes, RouteDestination, TlsMatchAttributes, VirtualService,
};
use rampart_config::{Resource, Severity};
use rampart_model::cidr::Cidr;
use rampart_model::route::{Forward, HeaderOps, WeightedDestination};
use rampart_model::tcp::{TcpMatch, TcpRoutes, TcpRule};
use rampart_model::ServerName;

use crate::gateways::{binds, BoundServer, L4Cx};
use crate::hosts::{gateway_ref, intersect, resolve_short};

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
    let forward = destinations(cx, vs, &path, &name, route)?;
    Some(TcpRule {
        virtual_service: format!("{}/{}", vs.meta.namespace, vs.meta.name).into(),
        name: name.into(),
        matches: kept,
        forward,
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

/// The weighted destinations of a rule; `None` (rule absent) when no destination has weight
/// (validation reports it).
fn destinations(
    cx: &mut L4Cx<'_, '_>,
    vs: &Resource<VirtualService>,
    path: &str,
    rule_name: &str,
    route: &[RouteDestination],
) -> Option<Forward> {
    let single = route.len() == 1;
    let mut destinations = Vec::with_capacity(route.len());
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
    Some(Forward {
        destinations,
        total_weight,
    })
}

#[cfg(test)]
mod tests;
