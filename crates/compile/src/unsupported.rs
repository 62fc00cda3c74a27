//! Fields Rampart does not implement yet. Each one present in the configuration is an error that
//! names it, so nothing is silently ignored. Entries leave this list as features land.

use rampart_config::networking::{
    ClientTlsMode, ConnectionPoolSettings, LoadBalancerSettings, Resolution, ServerTlsMode,
    SimpleLb, TrafficPolicy,
};
use rampart_config::{ConfigSet, Diagnostic, Resource, Severity};

const LATER: &str = "is not supported by Rampart yet";

fn reject<T>(res: &Resource<T>, diags: &mut Vec<Diagnostic>, path: &str, what: &str) {
    diags.push(res.diag(Severity::Error, path, format!("{what} {LATER}")));
}

/// Reports every unsupported field in `set`.
pub fn check(set: &ConfigSet, diags: &mut Vec<Diagnostic>) {
    for gw in &set.gateways {
        for (i, server) in gw.spec.servers.iter().enumerate() {
            let path = format!("spec.servers[{i}]");
            if let Some(tls) = &server.tls {
                match tls.mode.unwrap_or_default() {
                    ServerTlsMode::AutoPassthrough => reject(
                        gw,
                        diags,
                        &format!("{path}.tls.mode"),
                        "AUTO_PASSTHROUGH (SNI-encoded cluster routing for multi-network meshes)",
                    ),
                    ServerTlsMode::IstioMutual => reject(
                        gw,
                        diags,
                        &format!("{path}.tls.mode"),
                        "ISTIO_MUTUAL (needs the mesh CA)",
                    ),
                    _ => {}
                }
                if tls.insecure_skip_verify.is_some() {
                    reject(
                        gw,
                        diags,
                        &format!("{path}.tls.insecureSkipVerify"),
                        "insecureSkipVerify on a server",
                    );
                }
            }
            if server
                .bind
                .as_deref()
                .is_some_and(|b| b.starts_with("unix://"))
            {
                reject(gw, diags, &format!("{path}.bind"), "binding a unix socket");
            }
            if server.default_endpoint.is_some() {
                reject(
                    gw,
                    diags,
                    &format!("{path}.defaultEndpoint"),
                    "defaultEndpoint",
                );
            }
        }
    }
    for vs in &set.virtual_services {
        for (i, rule) in vs.spec.http.iter().enumerate() {
            let p = |f: &str| format!("spec.http[{i}].{f}");
            for (j, m) in rule.matches.iter().enumerate() {
                if m.stat_prefix.is_some() {
                    reject(
                        vs,
                        diags,
                        &p(&format!("match[{j}].statPrefix")),
                        "statPrefix",
                    );
                }
            }
            let mut header_sets = vec![(p("headers"), rule.headers.as_ref())];
            for (k, d) in rule.route.iter().enumerate() {
                header_sets.push((p(&format!("route[{k}].headers")), d.headers.as_ref()));
            }
            for (path, headers) in header_sets {
                let Some(h) = headers else { continue };
                for (dir, ops) in [("request", &h.request), ("response", &h.response)] {
                    let Some(ops) = ops else { continue };
                    for (name, value) in ops.set.iter().chain(ops.add.iter()) {
                        if value.contains('%') {
                            reject(
                                vs,
                                diags,
                                &format!("{path}.{dir}"),
                                &format!("the Envoy format variable in header {name} ({value:?})"),
                            );
                        }
                    }
                }
            }
        }
    }
    for dr in &set.destination_rules {
        if dr.spec.workload_selector.is_some() {
            reject(dr, diags, "spec.workloadSelector", "workloadSelector");
        }
        if let Some(tp) = &dr.spec.traffic_policy {
            traffic_policy(dr, diags, "spec.trafficPolicy", tp);
        }
        for (i, subset) in dr.spec.subsets.iter().enumerate() {
            if let Some(tp) = &subset.traffic_policy {
                traffic_policy(dr, diags, &format!("spec.subsets[{i}].trafficPolicy"), tp);
            }
        }
    }
    for se in &set.service_entries {
        match se.spec.resolution.unwrap_or_default() {
            Resolution::None => diags.push(se.diag(
                Severity::Error,
                "spec.resolution",
                "resolution NONE (forward to the original destination) cannot route gateway traffic: use STATIC or DNS",
            )),
            Resolution::DynamicDns => reject(se, diags, "spec.resolution", "resolution DYNAMIC_DNS"),
            Resolution::Static | Resolution::Dns | Resolution::DnsRoundRobin => {}
        }
        for (i, ep) in se.spec.endpoints.iter().enumerate() {
            if ep
                .address
                .as_deref()
                .is_some_and(|a| a.starts_with("unix://"))
            {
                reject(
                    se,
                    diags,
                    &format!("spec.endpoints[{i}].address"),
                    "a unix socket endpoint",
                );
            }
        }
    }
}

fn traffic_policy<T>(
    res: &Resource<T>,
    diags: &mut Vec<Diagnostic>,
    path: &str,
    tp: &TrafficPolicy,
) {
    policy_parts(
        res,
        diags,
        path,
        tp.load_balancer.as_ref(),
        tp.connection_pool.as_ref(),
        tp.tls.as_ref().map(|t| t.mode),
    );
    if tp.tunnel.is_some() {
        reject(res, diags, &format!("{path}.tunnel"), "tunnel");
    }
    if tp.proxy_protocol.is_some() {
        reject(
            res,
            diags,
            &format!("{path}.proxyProtocol"),
            "proxyProtocol",
        );
    }
    for (i, pl) in tp.port_level_settings.iter().enumerate() {
        policy_parts(
            res,
            diags,
            &format!("{path}.portLevelSettings[{i}]"),
            pl.load_balancer.as_ref(),
            pl.connection_pool.as_ref(),
            pl.tls.as_ref().map(|t| t.mode),
        );
    }
}

fn policy_parts<T>(
    res: &Resource<T>,
    diags: &mut Vec<Diagnostic>,
    path: &str,
    lb: Option<&LoadBalancerSettings>,
    pool: Option<&ConnectionPoolSettings>,
    tls_mode: Option<Option<ClientTlsMode>>,
) {
    if let Some(lb) = lb {
        let lp = format!("{path}.loadBalancer");
        if lb.simple == Some(SimpleLb::Passthrough) {
            reject(
                res,
                diags,
                &format!("{lp}.simple"),
                "PASSTHROUGH load balancing",
            );
        }
        if lb.zone_aware_lb_setting.is_some() {
            reject(
                res,
                diags,
                &format!("{lp}.zoneAwareLbSetting"),
                "zoneAwareLbSetting",
            );
        }
        if lb.warmup.is_some() || lb.warmup_duration_secs.is_some() {
            reject(res, diags, &format!("{lp}.warmup"), "warmup (slow start)");
        }
        if let Some(cookie) = lb
            .consistent_hash
            .as_ref()
            .and_then(|h| h.http_cookie.as_ref())
        {
            if !cookie.attributes.is_empty() {
                reject(
                    res,
                    diags,
                    &format!("{lp}.consistentHash.httpCookie.attributes"),
                    "cookie attributes",
                );
            }
        }
    }
    if let Some(pool) = pool {
        let cp = format!("{path}.connectionPool");
        if let Some(http) = &pool.http {
            let fields = [(http.use_client_protocol, "useClientProtocol")];
            for (present, f) in fields {
                if present {
                    reject(res, diags, &format!("{cp}.http.{f}"), f);
                }
            }
        }
    }
    // SIMPLE and MUTUAL are originated (see `upstream_tls`); the mesh's own mode is not.
    if tls_mode == Some(Some(ClientTlsMode::IstioMutual)) {
        reject(
            res,
            diags,
            &format!("{path}.tls.mode"),
            "ISTIO_MUTUAL (needs the mesh CA)",
        );
    }
}
