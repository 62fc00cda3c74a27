//! Listeners: the Gateway servers that apply to this proxy, grouped by bind address and port,
//! each with the VirtualServices bound to it merged into one route table.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use rampart_config::networking::{Gateway, Server, ServerTlsMode, VirtualService};
use rampart_config::{ConfigSet, Diagnostic, Resource, Severity};
use rampart_model::route::{Route, RouteTable, VirtualHost};
use rampart_model::{ChainApp, Listener, ServerName, TlsChain, TlsChains, Transport};

use crate::clusters::Builder;
use crate::hosts::{gateway_ref, intersect, resolve_short, ServerHost};
use crate::l4_routes::{self, L4Kind};
use crate::routes::{self, RouteCx};
use crate::stats::StatTable;
use crate::ProxyIdentity;

/// One Gateway server bound on a listener.
pub(crate) struct BoundServer<'a> {
    pub gateway: &'a Resource<Gateway>,
    /// The server itself, and its index in `spec.servers` (for diagnostic paths).
    pub server: &'a Server,
    pub index: usize,
    /// `namespace/name` of the gateway.
    pub gateway_ref: String,
    pub hosts: Vec<ServerHost>,
    pub https_redirect: bool,
    kind: ServerKind,
}

/// What a server does with its connections, from its port protocol and TLS mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ServerKind {
    /// Plain-text HTTP.
    Http,
    /// Plain TCP (`tcp` routes).
    Tcp,
    /// TLS terminated, then HTTP (`protocol: HTTPS`, SIMPLE/MUTUAL/OPTIONAL_MUTUAL).
    Https,
    /// TLS terminated, then TCP (`protocol: TLS`, SIMPLE/MUTUAL/OPTIONAL_MUTUAL).
    TlsTcp,
    /// TLS passed through unterminated, routed by SNI (`tls` routes).
    Passthrough,
}

impl ServerKind {
    fn of(server: &Server) -> Option<Self> {
        let protocol = server.port.as_ref()?.protocol.to_ascii_uppercase();
        let mode = server.tls.as_ref().and_then(|t| t.mode).unwrap_or_default();
        let terminates = matches!(
            mode,
            ServerTlsMode::Simple | ServerTlsMode::Mutual | ServerTlsMode::OptionalMutual
        );
        Some(match protocol.as_str() {
            "HTTP" | "HTTP2" | "GRPC" | "GRPC-WEB" => Self::Http,
            "HTTPS" | "TLS" if mode == ServerTlsMode::Passthrough => Self::Passthrough,
            "HTTPS" if terminates => Self::Https,
            "TLS" if terminates => Self::TlsTcp,
            "TCP" | "MONGO" | "MYSQL" | "REDIS" => Self::Tcp,
            // AUTO_PASSTHROUGH and ISTIO_MUTUAL are reported by `unsupported`.
            _ => return None,
        })
    }

    fn is_tls(self) -> bool {
        matches!(self, Self::Https | Self::TlsTcp | Self::Passthrough)
    }
}

/// What `l4_routes` needs to compile a listener's `tcp`/`tls` routes.
pub(crate) struct L4Cx<'a, 'b> {
    pub set: &'a ConfigSet,
    pub me: &'b ProxyIdentity,
    pub clusters: &'b mut Builder<'a>,
    pub stats: &'b mut StatTable,
    pub diags: &'b mut Vec<Diagnostic>,
    /// The listener port.
    pub port: u16,
}

/// Builds every listener of this proxy. Servers whose protocol or TLS mode Rampart does not
/// serve are reported by `unsupported` and skipped here.
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
        for (index, server) in gw.spec.servers.iter().enumerate() {
            let (Some(port), Some(kind)) = (server.port.as_ref(), ServerKind::of(server)) else {
                continue;
            };
            let ip = server
                .bind
                .as_deref()
                .and_then(|b| b.parse::<IpAddr>().ok())
                .unwrap_or(me.bind);
            let addr = SocketAddr::new(ip, port.number as u16);
            let bound = BoundServer {
                gateway: gw,
                server,
                index,
                gateway_ref: format!("{}/{}", gw.meta.namespace, gw.meta.name),
                hosts: server
                    .hosts
                    .iter()
                    .map(|h| ServerHost::parse(h, &gw.meta.namespace))
                    .collect(),
                https_redirect: server.tls.as_ref().is_some_and(|t| t.https_redirect),
                kind,
            };
            match by_addr.iter_mut().find(|(a, _)| *a == addr) {
                Some((_, servers)) => {
                    let first = servers[0].kind;
                    let compatible = first == kind || (first.is_tls() && kind.is_tls());
                    if compatible {
                        servers.push(bound);
                    } else {
                        diags.push(gw.diag(
                            Severity::Error,
                            &format!("spec.servers[{index}].port"),
                            format!(
                                "port {} is already served as {first:?} by {} (spec.servers[{}]); one port cannot serve {kind:?} too",
                                port.number, servers[0].gateway_ref, servers[0].index
                            ),
                        ));
                    }
                }
                None => by_addr.push((addr, vec![bound])),
            }
        }
    }
    let mut built = Vec::new();
    for (addr, servers) in by_addr {
        let port = addr.port();
        let mut cx = L4Cx {
            set,
            me,
            clusters,
            stats,
            diags,
            port,
        };
        let (routes, transport) = match servers[0].kind {
            ServerKind::Http => (
                route_table(&mut cx, &servers, &rate_limits),
                Transport::Http,
            ),
            ServerKind::Tcp => (
                RouteTable::default(),
                Transport::Tcp(Arc::new(l4_routes::build(&mut cx, &servers, L4Kind::Tcp))),
            ),
            _ => (
                RouteTable::default(),
                Transport::Tls(Arc::new(tls_chains(&mut cx, &servers, &rate_limits))),
            ),
        };
        built.push(Listener {
            name: format!("{}_{}", addr.ip(), port),
            address: addr,
            routes: Arc::new(routes),
            transport,
        });
    }
    built
}

/// One chain per TLS server on the port, each with its own certificate and routes (Istio gives
/// every HTTPS server its own route configuration).
fn tls_chains<'a>(
    cx: &mut L4Cx<'a, '_>,
    servers: &[BoundServer<'a>],
    rate_limits: &crate::rate_limits::RateLimits,
) -> TlsChains {
    let mut chains = Vec::new();
    for (i, server) in servers.iter().enumerate() {
        let one = std::slice::from_ref(server);
        let tls = match server.kind {
            ServerKind::Passthrough => None,
            _ => match crate::server_tls::build(server, &mut cx.clusters.credentials) {
                Ok(tls) => Some(Arc::new(tls)),
                Err(diag) => {
                    cx.diags.push(*diag);
                    continue;
                }
            },
        };
        let app = match server.kind {
            ServerKind::Https => ChainApp::Http(Arc::new(route_table(cx, one, rate_limits))),
            ServerKind::TlsTcp => ChainApp::Tcp(Arc::new(l4_routes::build(cx, one, L4Kind::Tcp))),
            _ => ChainApp::Tcp(Arc::new(l4_routes::build(cx, one, L4Kind::Tls))),
        };
        let server_names = if server.hosts.iter().any(|h| h.host == "*") {
            Vec::new()
        } else {
            server
                .hosts
                .iter()
                .map(|h| ServerName::parse(&h.host))
                .collect()
        };
        let port_name = server.server.port.as_ref().map_or("", |p| p.name.as_str());
        chains.push(TlsChain {
            name: format!("{}/{port_name}#{i}", server.gateway_ref).into(),
            server_names,
            tls,
            app,
        });
    }
    TlsChains { chains }
}

/// A Gateway applies when every label of its selector is one of this proxy's labels.
pub(crate) fn applies(gw: &Resource<Gateway>, me: &ProxyIdentity) -> bool {
    gw.spec
        .selector
        .iter()
        .all(|(k, v)| me.labels.get(k) == Some(v))
}

fn route_table<'a>(
    cx: &mut L4Cx<'a, '_>,
    servers: &[BoundServer<'a>],
    rate_limits: &crate::rate_limits::RateLimits,
) -> RouteTable {
    let set = cx.set;
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
                let mut rcx = RouteCx {
                    set,
                    clusters: cx.clusters,
                    stats: cx.stats,
                    diags: cx.diags,
                    me: cx.me,
                    gateway: &server.gateway_ref,
                    port: cx.port,
                };
                let mut routes = routes::compile(&mut rcx, vs);
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
pub(crate) fn binds(vs: &Resource<VirtualService>, server: &BoundServer<'_>) -> bool {
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
