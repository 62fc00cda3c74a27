//! `/config_dump`: a JSON view of what was loaded and what it compiled to.

use rampart_config::ConfigSet;
use rampart_model::authn::{JwksSource, JwtRule};
use rampart_model::authz::Authorization;
use rampart_model::route::{Action, RouteTable};
use rampart_model::tcp::TcpRoutes;
use rampart_model::{ChainApp, ClusterSpec, Listener, ServerName, TlsChain, Transport};
use serde_json::{json, Value};

/// The security policies this proxy enforces: JWT rules (issuer and key source, never the keys)
/// and AuthorizationPolicies by action.
pub fn security(jwt_rules: &[JwtRule], authz: &Authorization) -> Value {
    let names = |ps: &[rampart_model::authz::Policy]| -> Vec<String> {
        ps.iter().map(|p| p.name.to_string()).collect()
    };
    json!({
        "jwtRules": jwt_rules.iter().map(|r| json!({
            "origin": &*r.origin,
            "issuer": &*r.issuer,
            "jwks": match &r.jwks {
                JwksSource::Inline(_) => "inline".to_string(),
                JwksSource::Uri(uri) => uri.to_string(),
            },
        })).collect::<Vec<_>>(),
        "authorization": {
            "custom": authz.custom.iter().map(|(p, provider)| json!({"policy": &*p.name, "provider": &*provider.name})).collect::<Vec<_>>(),
            "deny": names(&authz.deny),
            "allow": names(&authz.allow),
            "audit": names(&authz.audit),
        },
    })
}

/// The `tcp`/`tls` rules of a listener: a TCP listener's list, or a TLS listener's lists by
/// chain name (chains that serve HTTP are left out); `None` for HTTP listeners.
fn layer4(transport: &Transport, clusters: &[ClusterSpec]) -> Option<Value> {
    let rules = |routes: &TcpRoutes| -> Value {
        routes
            .rules
            .iter()
            .map(|r| {
                json!({
                    "name": &*r.name,
                    "virtualService": &*r.virtual_service,
                    "matches": r.matches.len(),
                    "forward": r.forward.destinations.iter().map(|d| {
                        let cluster = d.cluster.map(|c| &clusters[c.0 as usize]);
                        json!({
                            "destination": &*d.name,
                            "cluster": cluster.map(|c| c.key.to_string()),
                            "weight": d.weight,
                            "idleTimeoutMs": cluster.and_then(|c| c.pool.tcp_idle_timeout).map(|t| t.as_millis() as u64),
                        })
                    }).collect::<Vec<_>>(),
                })
            })
            .collect()
    };
    match transport {
        Transport::Http => None,
        Transport::Tcp(routes) => Some(rules(routes)),
        Transport::Tls(chains) => Some(Value::Object(
            chains
                .chains
                .iter()
                .filter_map(|c| match &c.app {
                    ChainApp::Tcp(routes) => Some((c.name.to_string(), rules(routes))),
                    ChainApp::Http(_) => None,
                })
                .collect(),
        )),
    }
}

/// A TLS chain: the names it serves, how it treats TLS (never key material), and its HTTP
/// routes when it serves HTTP.
fn tls_chain(chain: &TlsChain, clusters: &[ClusterSpec]) -> Value {
    let names: Vec<String> = chain
        .server_names
        .iter()
        .map(|n| match n {
            ServerName::Exact(h) => h.to_string(),
            ServerName::Suffix(s) => format!("*{s}"),
            ServerName::Any => "*".to_string(),
        })
        .collect();
    let mut out = json!({
        "name": &*chain.name,
        "serverNames": names,
        "tls": match &chain.tls {
            None => json!({"mode": "PASSTHROUGH"}),
            Some(t) => json!({
                "mode": "TERMINATE",
                "clientCertificates": format!("{:?}", t.client_auth),
                "certificate": &*t.source,
                "alpn": t.config.alpn_protocols.iter().map(|p| String::from_utf8_lossy(p).into_owned()).collect::<Vec<_>>(),
            }),
        },
    });
    if let ChainApp::Http(routes) = &chain.app {
        out["virtualHosts"] = virtual_hosts(routes, clusters);
    }
    out
}

/// The virtual hosts of a route table with their routes.
fn virtual_hosts(table: &RouteTable, clusters: &[ClusterSpec]) -> Value {
    table
        .vhosts
        .iter()
        .map(|vh| {
            let routes: Vec<Value> = vh
                .routes
                .iter()
                .map(|r| {
                    let action = match &r.action {
                        Action::Forward(f) => {
                            json!({"forward": f.destinations.iter().map(|d| json!({
                            "destination": &*d.name,
                            "cluster": d.cluster.map(|c| clusters[c.0 as usize].key.to_string()),
                            "weight": d.weight,
                        })).collect::<Vec<_>>()})
                        }
                        Action::Redirect(rd) => json!({"redirect": {"status": rd.status.as_u16()}}),
                        Action::Direct(d) => {
                            json!({"directResponse": {"status": d.status.as_u16()}})
                        }
                    };
                    json!({
                        "name": &*r.name,
                        "virtualService": &*r.origin.virtual_service,
                        "rule": r.origin.rule,
                        "source": &*r.origin.location,
                        "matches": r.matches.len(),
                        "timeout": r.timeout.map(|t| format!("{}ms", t.as_millis())),
                        "action": action,
                    })
                })
                .collect();
            json!({"domain": &*vh.domain, "httpsRedirect": vh.https_redirect, "routes": routes})
        })
        .collect()
}

/// Renders resources, listeners (with virtual hosts and routes) and clusters.
pub fn render(set: &ConfigSet, listeners: &[Listener], clusters: &[ClusterSpec]) -> Value {
    let mut resources = Vec::new();
    macro_rules! list {
        ($items:expr) => {
            for r in $items {
                resources.push(json!({
                    "kind": r.kind.to_string(),
                    "namespace": r.meta.namespace,
                    "name": r.meta.name,
                    "apiVersion": r.api_version,
                    "source": format!("{}:{}", r.source.file, r.source.line),
                }));
            }
        };
    }
    list!(&set.gateways);
    list!(&set.virtual_services);
    list!(&set.destination_rules);
    list!(&set.service_entries);
    list!(&set.workload_entries);
    list!(&set.backend_traffic_policies);
    list!(&set.request_authentications);
    list!(&set.authorization_policies);
    let listeners: Vec<Value> = listeners
        .iter()
        .map(|l| {
            let mut listener = json!({
                "name": l.name,
                "address": l.address.to_string(),
                "virtualHosts": virtual_hosts(&l.routes, clusters),
            });
            if let Transport::Tls(chains) = &l.transport {
                listener["tlsChains"] = chains
                    .chains
                    .iter()
                    .map(|c| tls_chain(c, clusters))
                    .collect();
            }
            if let Some(tcp) = layer4(&l.transport, clusters) {
                listener["tcpRoutes"] = tcp;
            }
            listener
        })
        .collect();
    let clusters: Vec<Value> = clusters
        .iter()
        .map(|c| {
            json!({
                "name": c.key.to_string(),
                "lb": format!("{:?}", c.lb),
                "protocol": format!("{:?}", c.protocol),
                "connectTimeoutMs": c.connect_timeout.as_millis() as u64,
                "tls": c.tls.as_ref().map(|t| json!({
                    "mode": t.mode.to_string(),
                    "sni": t.server_name_str(),
                    "verification": &*t.description,
                })),
                "endpoints": c.endpoints.iter().map(|e| json!({
                    "address": e.address.to_string(), "weight": e.weight, "labels": e.labels,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({"resources": resources, "listeners": listeners, "clusters": clusters})
}
