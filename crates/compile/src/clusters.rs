//! Clusters: each (host, port, subset) that a route sends to, with its endpoints and the
//! DestinationRule policy that applies to it.

use crate::credentials::Loader;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use http::HeaderName;
use rampart_config::networking::{
    ClientTlsSettings, ConnectionPoolSettings, Destination, DestinationRule, H2UpgradePolicy,
    LoadBalancerSettings, OutlierDetection, Resolution, RetryBudget, ServiceEntry, SimpleLb,
    TrafficPolicy,
};
use rampart_config::{parse_duration, ConfigSet, Diagnostic, Resource, Severity};
use rampart_model::{
    ClusterId, ClusterKey, ClusterSpec, EndpointAddress, EndpointSpec, HashKey, LbPolicy,
    UpstreamProtocol,
};

use crate::hosts::{covered_by, exported_to, resolve_short};
use crate::pool_policy;
use crate::services::Registry;
use crate::upstream_tls::{Origination, Site};
use crate::{health_checks, locality, ProxyIdentity};

/// Envoy's (and Istio's mesh) default connect timeout.
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How often DNS endpoints are resolved again (Envoy's default `dns_refresh_rate` is 5s).
const DNS_REFRESH: Duration = Duration::from_secs(5);

/// A resolved route destination.
pub struct Resolved {
    /// The cluster, or `None` when the host or subset does not exist (503 `NC`).
    pub cluster: Option<ClusterId>,
    /// Fully qualified host.
    pub host: String,
    /// Subset name, if any.
    pub subset: Option<String>,
}

/// Collects the clusters routes refer to.
pub struct Builder<'a> {
    set: &'a ConfigSet,
    services: &'a Registry<'a>,
    /// The proxy's namespace: DestinationRules must be exported to it.
    viewer_ns: &'a str,
    /// The proxy, for locality-aware load balancing.
    me: &'a ProxyIdentity,
    specs: Vec<ClusterSpec>,
    ids: HashMap<ClusterKey, ClusterId>,
    /// Certificate files for TLS (servers and origination), and which were read.
    pub(crate) credentials: Loader,
    /// TLS origination settings, built once per DestinationRule `tls` block.
    origination: Origination,
}

impl<'a> Builder<'a> {
    pub fn new(set: &'a ConfigSet, services: &'a Registry<'a>, me: &'a ProxyIdentity) -> Self {
        Self {
            set,
            services,
            viewer_ns: &me.namespace,
            me,
            specs: Vec::new(),
            ids: HashMap::new(),
            credentials: Loader::new(me.credentials.clone()),
            origination: Origination::default(),
        }
    }

    /// Resolves a `destination` written in `vs` at field `path`.
    pub fn resolve<T>(
        &mut self,
        dest: &Destination,
        vs: &Resource<T>,
        path: &str,
        diags: &mut Vec<Diagnostic>,
    ) -> Resolved {
        let host = resolve_short(&dest.host, &vs.meta.namespace);
        let subset = dest.subset.clone().filter(|s| !s.is_empty());
        let mut resolved = Resolved {
            cluster: None,
            host: host.clone(),
            subset: subset.clone(),
        };
        let Some(se) = self.services.find(&host) else {
            let why = match self.services.hidden(&host) {
                Some(se) => format!(
                    "ServiceEntry {}/{} declares host {host} but its exportTo does not include namespace {}; requests to it get 503 (NC)",
                    se.meta.namespace, se.meta.name, self.viewer_ns
                ),
                None => format!("no ServiceEntry declares host {host}; requests to it get 503 (NC)"),
            };
            diags.push(vs.diag(Severity::Warning, &format!("{path}.host"), why));
            return resolved;
        };
        let port = match (
            dest.port.as_ref().map(|p| p.number),
            se.spec.ports.as_slice(),
        ) {
            (Some(n), ports) if ports.iter().any(|p| p.number == n) => n,
            (Some(n), _) => {
                diags.push(vs.diag(
                    Severity::Error,
                    &format!("{path}.port.number"),
                    format!(
                        "port {n} is not a port of ServiceEntry {}/{}",
                        se.meta.namespace, se.meta.name
                    ),
                ));
                return resolved;
            }
            (None, [only]) => only.number,
            (None, ports) => {
                diags.push(vs.diag(
                    Severity::Error,
                    &format!("{path}.port"),
                    format!(
                        "destination.port is required: {host} has {} ports",
                        ports.len()
                    ),
                ));
                return resolved;
            }
        };
        let dr = self.destination_rule(&host);
        let subset_labels = match &subset {
            None => None,
            Some(name) => {
                match dr.and_then(|dr| {
                    dr.spec
                        .subsets
                        .iter()
                        .enumerate()
                        .find(|(_, s)| &s.name == name)
                }) {
                    Some(s) => Some(s),
                    None => {
                        diags.push(vs.diag(
                        Severity::Warning,
                        &format!("{path}.subset"),
                        format!("no DestinationRule defines subset {name} for {host}; requests to it get 503 (NC)"),
                    ));
                        return resolved;
                    }
                }
            }
        };
        let key = ClusterKey {
            host: host.as_str().into(),
            port: port as u16,
            subset: subset.as_deref().map(Arc::from),
        };
        if let Some(&id) = self.ids.get(&key) {
            resolved.cluster = Some(id);
            return resolved;
        }
        let policy = Policy::effective(
            dr.map(|d| &d.spec),
            subset_labels.and_then(|(i, s)| Some((i, s.traffic_policy.as_ref()?))),
            port,
        );
        let mut endpoints = self.endpoints(se, port);
        if let Some((_, s)) = subset_labels {
            endpoints.retain(|e| s.labels.iter().all(|(k, v)| e.labels.get(k) == Some(v)));
        }
        locality::apply(
            policy.lb.and_then(|lb| lb.locality_lb_setting.as_ref()),
            policy.outlier.is_some(),
            self.me.locality.as_deref(),
            &self.me.labels,
            &mut endpoints,
        );
        let protocol = protocol(se, port, policy.pool);
        let tls = match (dr, &policy.tls) {
            (Some(dr), Some((settings, path))) => {
                let site = Site {
                    dr,
                    settings,
                    path,
                    host: &host,
                    service_sans: &se.spec.subject_alt_names,
                    protocol,
                };
                self.origination
                    .for_cluster(&site, &mut self.credentials, diags)
            }
            _ => None,
        };
        let spec = ClusterSpec {
            key: key.clone(),
            endpoints,
            lb: lb_policy(policy.lb),
            protocol,
            connect_timeout: policy
                .pool
                .and_then(|p| p.tcp.as_ref())
                .and_then(|t| t.connect_timeout.as_deref())
                .and_then(|d| parse_duration(d).ok())
                .unwrap_or(DEFAULT_CONNECT_TIMEOUT),
            dns_refresh: DNS_REFRESH,
            pool: pool_policy::pool_settings(policy.pool, policy.retry_budget),
            outlier: policy.outlier.map(pool_policy::outlier),
            health_check: health_checks::for_cluster(self.set, se, dr, &host),
            tls,
        };
        let id = ClusterId(self.specs.len() as u32);
        self.specs.push(spec);
        self.ids.insert(key, id);
        resolved.cluster = Some(id);
        resolved
    }

    /// The DestinationRule for `host`: exact host first, then the most specific wildcard.
    fn destination_rule(&self, host: &str) -> Option<&'a Resource<DestinationRule>> {
        let rules = &self.set.destination_rules;
        let named =
            |dr: &Resource<DestinationRule>| resolve_short(&dr.spec.host, &dr.meta.namespace);
        let visible = |dr: &&Resource<DestinationRule>| {
            exported_to(&dr.spec.export_to, &dr.meta.namespace, self.viewer_ns)
        };
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

    fn endpoints(&self, se: &Resource<ServiceEntry>, port: u32) -> Vec<EndpointSpec> {
        let Some(sp) = se.spec.ports.iter().find(|p| p.number == port) else {
            return Vec::new();
        };
        let default_port = sp.target_port.filter(|&p| p != 0).unwrap_or(sp.number) as u16;
        let dns = matches!(
            se.spec.resolution,
            Some(Resolution::Dns | Resolution::DnsRoundRobin)
        );
        let mut workloads: Vec<&rampart_config::networking::WorkloadEntry> =
            se.spec.endpoints.iter().collect();
        workloads.extend(self.services.selected_workloads(se));
        if workloads.is_empty() && dns {
            return se
                .spec
                .hosts
                .iter()
                .filter(|h| !h.starts_with('*'))
                .map(|h| EndpointSpec {
                    address: EndpointAddress::Dns {
                        host: h.to_ascii_lowercase().into(),
                        port: default_port,
                    },
                    weight: 1,
                    labels: Default::default(),
                    locality: None,
                    priority: 0,
                })
                .collect();
        }
        workloads
            .into_iter()
            .filter_map(|we| {
                let address = we.address.as_deref()?;
                let port = we
                    .ports
                    .get(&sp.name)
                    .map(|&p| p as u16)
                    .unwrap_or(default_port);
                let address = match address.parse::<IpAddr>() {
                    Ok(ip) => EndpointAddress::Socket(SocketAddr::new(ip, port)),
                    Err(_) => EndpointAddress::Dns {
                        host: address.to_ascii_lowercase().into(),
                        port,
                    },
                };
                Some(EndpointSpec {
                    address,
                    weight: we.weight.unwrap_or(1).max(1),
                    labels: we.labels.clone(),
                    locality: we
                        .locality
                        .as_deref()
                        .filter(|l| !l.is_empty())
                        .map(Arc::from),
                    priority: 0,
                })
            })
            .collect()
    }

    /// The clusters, indexed by the ids handed out.
    /// The clusters, and every certificate file read while building them and the listeners.
    pub fn finish(self, _diags: &mut [Diagnostic]) -> (Vec<ClusterSpec>, Vec<PathBuf>) {
        (self.specs, self.credentials.into_files())
    }
}

/// The load-balancer, connection-pool and TLS settings in force for one (subset, port).
struct Policy<'a> {
    lb: Option<&'a LoadBalancerSettings>,
    pool: Option<&'a ConnectionPoolSettings>,
    outlier: Option<&'a OutlierDetection>,
    retry_budget: Option<&'a RetryBudget>,
    /// `tls`, with the field path it was written at (for diagnostics).
    tls: Option<(&'a ClientTlsSettings, String)>,
}

impl<'a> Policy<'a> {
    /// Istio's precedence: subset port-level > subset > port-level > top-level. `subset` is the
    /// subset's index in `spec.subsets` and its traffic policy.
    fn effective(
        dr: Option<&'a DestinationRule>,
        subset: Option<(usize, &'a TrafficPolicy)>,
        port: u32,
    ) -> Self {
        let top = dr.and_then(|d| d.traffic_policy.as_ref());
        let layers = [
            subset.map(|(i, p)| (p, format!("spec.subsets[{i}].trafficPolicy"))),
            top.map(|p| (p, "spec.trafficPolicy".to_string())),
        ];
        let mut lb = None;
        let mut pool = None;
        let mut outlier = None;
        let mut retry_budget = None;
        let mut tls = None;
        for (policy, path) in layers.into_iter().flatten() {
            let port_level = policy
                .port_level_settings
                .iter()
                .enumerate()
                .find(|(_, p)| p.port.as_ref().is_some_and(|p| p.number == port));
            if let Some((j, pl)) = port_level {
                lb = lb.or(pl.load_balancer.as_ref());
                pool = pool.or(pl.connection_pool.as_ref());
                outlier = outlier.or(pl.outlier_detection.as_ref());
                if tls.is_none() {
                    tls = pl
                        .tls
                        .as_ref()
                        .map(|t| (t, format!("{path}.portLevelSettings[{j}].tls")));
                }
            }
            lb = lb.or(policy.load_balancer.as_ref());
            pool = pool.or(policy.connection_pool.as_ref());
            outlier = outlier.or(policy.outlier_detection.as_ref());
            retry_budget = retry_budget.or(policy.retry_budget.as_ref());
            if tls.is_none() {
                tls = policy.tls.as_ref().map(|t| (t, format!("{path}.tls")));
            }
        }
        Self {
            lb,
            pool,
            outlier,
            retry_budget,
            tls,
        }
    }
}

fn protocol(
    se: &Resource<ServiceEntry>,
    port: u32,
    pool: Option<&ConnectionPoolSettings>,
) -> UpstreamProtocol {
    let upgrade = pool
        .and_then(|p| p.http.as_ref())
        .and_then(|h| h.h2_upgrade_policy)
        .is_some_and(|p| p == H2UpgradePolicy::Upgrade);
    let declared = se
        .spec
        .ports
        .iter()
        .find(|p| p.number == port)
        .and_then(|p| p.protocol.as_deref())
        .map(str::to_ascii_uppercase);
    match declared.as_deref() {
        Some("GRPC" | "HTTP2" | "GRPC-WEB") => UpstreamProtocol::Http2,
        _ if upgrade => UpstreamProtocol::Http2,
        _ => UpstreamProtocol::Http1,
    }
}

fn lb_policy(settings: Option<&LoadBalancerSettings>) -> LbPolicy {
    let Some(settings) = settings else {
        return LbPolicy::LeastRequest;
    };
    if let Some(hash) = &settings.consistent_hash {
        let key = if let Some(h) = &hash.http_header_name {
            // An invalid name is an error reported by `limits`; this snapshot is not served.
            HeaderName::from_bytes(h.to_ascii_lowercase().as_bytes())
                .map(HashKey::Header)
                .unwrap_or(HashKey::SourceIp)
        } else if let Some(cookie) = &hash.http_cookie {
            HashKey::Cookie {
                name: cookie.name.as_str().into(),
                path: cookie.path.as_deref().map(Arc::from),
                ttl: cookie.ttl.as_deref().and_then(|t| parse_duration(t).ok()),
            }
        } else if let Some(q) = &hash.http_query_parameter_name {
            HashKey::QueryParam(q.as_str().into())
        } else {
            HashKey::SourceIp
        };
        return match &hash.maglev {
            Some(m) => LbPolicy::Maglev {
                key,
                table_size: m.table_size.unwrap_or(65537) as u32,
            },
            None => LbPolicy::RingHash {
                key,
                min_ring_size: hash
                    .ring_hash
                    .as_ref()
                    .and_then(|r| r.minimum_ring_size)
                    .or(hash.minimum_ring_size)
                    // 0 is proto3's "unset": Envoy's default applies.
                    .filter(|&n| n != 0)
                    .unwrap_or(1024) as u32,
            },
        };
    }
    match settings.simple.unwrap_or_default() {
        SimpleLb::RoundRobin => LbPolicy::RoundRobin,
        SimpleLb::Random => LbPolicy::Random,
        // PASSTHROUGH is rejected by `unsupported`; the rest mean least request in Istio.
        SimpleLb::Unspecified
        | SimpleLb::LeastConn
        | SimpleLb::LeastRequest
        | SimpleLb::Passthrough => LbPolicy::LeastRequest,
    }
}
