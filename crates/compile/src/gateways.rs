//! Listeners: the Gateway servers that apply to this proxy, grouped by bind address and port,
//! each with the VirtualServices bound to it merged into one route table.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use rampart_config::networking::{Gateway, VirtualService};
use rampart_config::{ConfigSet, Diagnostic, Resource};
use rampart_model::route::{Route, RouteTable, VirtualHost};
use rampart_model::Listener;

use crate::clusters::Builder;
use crate::hosts::{gateway_ref, intersect, resolve_short, ServerHost};
use crate::routes::{self, RouteCx};
use crate::stats::StatTable;
use crate::ProxyIdentity;

/// One Gateway server bound on a listener.
struct BoundServer<'a> {
    gateway: &'a Resource<Gateway>,
    /// `namespace/name` of the gateway.
    gateway_ref: String,
    hosts: Vec<ServerHost>,
    https_redirect: bool,
}

/// Builds every listener of this proxy. Servers with protocols other than HTTP are reported by
/// `unsupported` and skipped here.
pub fn build<'a>(
    set: &'a ConfigSet,
    me: &ProxyIdentity,
    clusters: &mut Builder<'a>,
    stats: &mut StatTable,
    diags: &mut Vec<Diagnostic>,
) -> Vec<Listener> {
    let rate_limits = crate::rate_limits::RateLimits::build(set, diags);
    let mut by_addr: Vec<(SocketAddr, Vec<BoundServer<'a>>)> = Vec::new();
    for gw in set.gateways.iter().filter(|g| applies(g, me)) {
        for server in &gw.spec.servers {
            let Some(port) = server.port.as_ref() else {
                continue;
            };
            if !is_http(&port.protocol) {
                continue;
            }
            let ip = server
                .bind
                .as_deref()
                .and_then(|b| b.parse::<IpAddr>().ok())
                .unwrap_or(me.bind);
            let addr = SocketAddr::new(ip, port.number as u16);
            let bound = BoundServer {
                gateway: gw,
                gateway_ref: format!("{}/{}", gw.meta.namespace, gw.meta.name),
                hosts: server
                    .hosts
                    .iter()
                    .map(|h| ServerHost::parse(h, &gw.meta.namespace))
                    .collect(),
                https_redirect: server.tls.as_ref().is_some_and(|t| t.https_redirect),
            };
            match by_addr.iter_mut().find(|(a, _)| *a == addr) {
                Some((_, servers)) => servers.push(bound),
                None => by_addr.push((addr, vec![bound])),
            }
        }
    }
    by_addr
        .into_iter()
        .map(|(addr, servers)| Listener {
            name: format!("{}_{}", addr.ip(), addr.port()),
            address: addr,
            routes: Arc::new(route_table(
                set,
                me,
                clusters,
                stats,
                diags,
                addr.port(),
                &servers,
                &rate_limits,
            )),
            transport: rampart_model::Transport::Http,
        })
        .collect()
}

/// A Gateway applies when every label of its selector is one of this proxy's labels.
pub(crate) fn applies(gw: &Resource<Gateway>, me: &ProxyIdentity) -> bool {
    gw.spec
        .selector
        .iter()
        .all(|(k, v)| me.labels.get(k) == Some(v))
}

/// Server protocols served by the HTTP listener (HTTP/1.1 and cleartext HTTP/2).
pub fn is_http(protocol: &str) -> bool {
    matches!(
        protocol.to_ascii_uppercase().as_str(),
        "HTTP" | "HTTP2" | "GRPC" | "GRPC-WEB"
    )
}

// One argument per thing a route table is built from; a context struct would only rename them.
#[allow(clippy::too_many_arguments)]
fn route_table<'a>(
    set: &'a ConfigSet,
    me: &ProxyIdentity,
    clusters: &mut Builder<'a>,
    stats: &mut StatTable,
    diags: &mut Vec<Diagnostic>,
    port: u16,
    servers: &[BoundServer<'a>],
    rate_limits: &crate::rate_limits::RateLimits,
) -> RouteTable {
    // Domains in first-seen order, each with its merged routes.
    let mut domains: Vec<(String, Vec<Route>, bool)> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for vs in &set.virtual_services {
        for server in servers {
            if !binds(vs, server) {
                continue;
            }
            let mut bound_domains: Vec<String> = Vec::new();
            for vs_host in &vs.spec.hosts {
                let vs_host = resolve_short(vs_host, &vs.meta.namespace);
                for server_host in server.hosts.iter().filter(|h| h.admits(&vs.meta.namespace)) {
                    if let Some(domain) = intersect(&server_host.host, &vs_host) {
                        if !bound_domains.contains(&domain) {
                            bound_domains.push(domain);
                        }
                    }
                }
            }
            for domain in bound_domains {
                let mut cx = RouteCx {
                    set,
                    clusters,
                    stats,
                    diags,
                    me,
                    gateway: &server.gateway_ref,
                    port,
                };
                let mut routes = routes::compile(&mut cx, vs);
                rate_limits.attach(&mut routes, vs, &server.gateway_ref);
                let slot = *index.entry(domain.clone()).or_insert_with(|| {
                    domains.push((domain, Vec::new(), false));
                    domains.len() - 1
                });
                domains[slot].1.extend(routes);
                domains[slot].2 |= server.https_redirect;
            }
        }
    }
    // An httpsRedirect server redirects its hosts even when no VirtualService binds to them.
    for server in servers.iter().filter(|s| s.https_redirect) {
        for h in &server.hosts {
            if !index.contains_key(&h.host) {
                index.insert(h.host.clone(), domains.len());
                domains.push((h.host.clone(), Vec::new(), true));
            }
        }
    }
    RouteTable::new(
        domains
            .into_iter()
            .map(|(domain, routes, redirect)| VirtualHost::new(domain.into(), routes, redirect))
            .collect(),
    )
}

/// Whether `vs` names this server's gateway and is visible in the gateway's namespace.
fn binds(vs: &Resource<VirtualService>, server: &BoundServer<'_>) -> bool {
    let named = vs
        .spec
        .gateways
        .iter()
        .any(|g| g != "mesh" && gateway_ref(g, &vs.meta.namespace) == server.gateway_ref);
    let gw_ns = &server.gateway.meta.namespace;
    let exported = vs.spec.export_to.is_empty()
        || vs
            .spec
            .export_to
            .iter()
            .any(|e| e == "*" || e == gw_ns || (e == "." && &vs.meta.namespace == gw_ns));
    named && exported
}
