//! ServiceEntry validation (Istio `ValidateServiceEntry`): hosts, addresses, ports,
//! resolution-specific endpoint rules, workloadSelector and exportTo.
//!
//! Receives: a typed `Resource<ServiceEntry>`. Hands on: diagnostics.

use std::collections::{BTreeSet, HashSet};

use super::workload_entry::entry;
use super::{
    export_to, fqdn, ip_subnet, is_ip, partial_wildcard, port, port_name, protocol,
    wildcard_domain, Check,
};
use crate::diag::Diagnostic;
use crate::networking::{Resolution, ServiceEntry};
use crate::path;
use crate::resource::Resource;

/// Checks one ServiceEntry.
pub fn validate(res: &Resource<ServiceEntry>, out: &mut Vec<Diagnostic>) {
    let mut c = Check::new(res, out);
    let se = &res.spec;
    let resolution = se.resolution.unwrap_or_default();
    let res_name = resolution_name(resolution);
    if let Some(ws) = &se.workload_selector {
        let at = "spec.workloadSelector.labels";
        if ws.labels.is_empty() {
            c.warn(
                "spec.workloadSelector",
                "service entry: workload selector specified without labels, will be applied to all services in namespace",
            );
        }
        for (k, v) in &ws.labels {
            let p = path::key(at, k);
            if k.is_empty() {
                c.err(&p, "empty key is not supported in selector");
            }
            if k.contains('*') || v.contains('*') {
                c.err(
                    &p,
                    format!("wildcard is not supported in selector: {k}={v}"),
                );
            }
        }
        super::labels(&mut c, at, &ws.labels);
        if !se.endpoints.is_empty() {
            c.err(
                "spec.workloadSelector",
                "only one of WorkloadSelector or Endpoints is allowed in Service Entry",
            );
        }
    }
    if se.hosts.is_empty() {
        c.err("spec.hosts", "service entry must have at least one host");
    }
    for (i, h) in se.hosts.iter().enumerate() {
        let p = path::index("spec.hosts", i);
        if h == "*" {
            c.err(&p, format!("invalid host {h}"));
        } else {
            c.check(&p, wildcard_domain(h));
            if resolution != Resolution::DynamicDns {
                if let Err(e) = partial_wildcard(h) {
                    c.warn(&p, e);
                }
            }
        }
    }
    let mut cidr = false;
    for (i, a) in se.addresses.iter().enumerate() {
        cidr |= a.contains('/');
        c.check(&path::index("spec.addresses", i), ip_subnet(a));
    }
    if cidr && !matches!(resolution, Resolution::None | Resolution::Static) {
        c.err(
            "spec.addresses",
            "CIDR addresses are allowed only for NONE/STATIC resolution types",
        );
    }
    let mut names = BTreeSet::new();
    let mut numbers = HashSet::new();
    for (i, p) in se.ports.iter().enumerate() {
        let at = path::index("spec.ports", i);
        if !names.insert(p.name.as_str()) {
            c.err(
                &format!("{at}.name"),
                format!("service entry port name {:?} already defined", p.name),
            );
        }
        if !numbers.insert(p.number) {
            c.err(
                &format!("{at}.number"),
                format!("service entry port {} already defined", p.number),
            );
        }
        if let Some(t) = p.target_port.filter(|t| *t != 0) {
            c.check(&format!("{at}.targetPort"), port(t));
        }
        let proto = p.protocol.as_deref().unwrap_or_default();
        if se.addresses.is_empty() && (proto.is_empty() || proto.eq_ignore_ascii_case("TCP")) {
            c.warn(
                &at,
                "addresses are required for ports serving TCP (or unset) protocol when IP Autoallocation is not enabled",
            );
        }
        c.check(&format!("{at}.name"), port_name(&p.name));
        if !proto.is_empty() && protocol(proto).is_none() {
            c.err(
                &format!("{at}.protocol"),
                format!("unrecognized protocol {proto:?}"),
            );
        }
        c.check(&format!("{at}.number"), port(p.number));
    }
    match resolution {
        Resolution::None => {
            if !se.endpoints.is_empty() {
                c.err(
                    "spec.endpoints",
                    "no endpoints should be provided for resolution type none",
                );
            }
            if se.workload_selector.is_some() {
                c.warn(
                    "spec.workloadSelector",
                    "workloadSelector should not be set when resolution mode is NONE",
                );
            }
        }
        Resolution::Static => {
            for (i, e) in se.endpoints.iter().enumerate() {
                entry(
                    &mut c,
                    &path::index("spec.endpoints", i),
                    e,
                    Some(&names),
                    false,
                );
            }
        }
        Resolution::Dns | Resolution::DnsRoundRobin => {
            if se.endpoints.is_empty() {
                if let Some((i, e)) = se
                    .hosts
                    .iter()
                    .enumerate()
                    .find_map(|(i, h)| fqdn(h).err().map(|e| (i, e)))
                {
                    c.err(
                        &path::index("spec.hosts", i),
                        format!("hosts must be FQDN or contain only prefix wildcards if no endpoints are provided for resolution mode {res_name}, {e}"),
                    );
                }
            }
            if resolution == Resolution::DnsRoundRobin && se.endpoints.len() > 1 {
                c.err(
                    "spec.endpoints",
                    format!("there must only be 0 or 1 endpoint for resolution mode {res_name}"),
                );
            }
            for (i, e) in se.endpoints.iter().enumerate() {
                let at = path::index("spec.endpoints", i);
                let addr = e.address.as_deref().unwrap_or_default();
                if !is_ip(addr) && fqdn(addr).is_err() {
                    c.err(
                        &format!("{at}.address"),
                        format!("endpoint address {addr:?} is not a valid FQDN or an IP address"),
                    );
                }
                super::labels(&mut c, &format!("{at}.labels"), &e.labels);
                for (name, p) in &e.ports {
                    let pp = path::key(&format!("{at}.ports"), name);
                    if !names.contains(name.as_str()) {
                        c.err(
                            &pp,
                            format!("endpoint port {p} is not defined by the service entry"),
                        );
                    }
                    c.check(&pp, port_name(name));
                    c.check(&pp, port(*p));
                }
            }
        }
        Resolution::DynamicDns => {
            for (i, h) in se.hosts.iter().enumerate() {
                if !h.starts_with('*') {
                    c.err(
                        &path::index("spec.hosts", i),
                        format!("host must be wildcarded for resolution mode {res_name}"),
                    );
                }
            }
            if !se.addresses.is_empty() {
                c.err(
                    "spec.addresses",
                    format!("addresses cannot be set for resolution type {res_name}. HTTP route domains will only be generatedfrom the hosts field values"),
                );
            }
            if !se.endpoints.is_empty() {
                c.err(
                    "spec.endpoints",
                    format!("endpoints cannot be set for resolution type {res_name}. Destination IP address determined from hostsfield values"),
                );
            }
            for (i, p) in se.ports.iter().enumerate() {
                let proto = protocol(p.protocol.as_deref().unwrap_or_default());
                if !matches!(proto, Some("HTTP" | "TLS" | "GRPC" | "HTTP2")) {
                    c.err(
                        &format!("spec.ports[{i}].protocol"),
                        format!("only HTTP, TLS, GRPC, and HTTP2 protocols are supported for resolution type {res_name}"),
                    );
                }
            }
        }
    }
    if resolution != Resolution::None && se.hosts.len() > 1 {
        for (i, p) in se.ports.iter().enumerate() {
            let proto = p.protocol.as_deref().unwrap_or_default();
            if !(super::is_http(proto) || super::is_tls(proto)) {
                c.err(
                    &format!("spec.ports[{i}].protocol"),
                    "multiple hosts provided with non-HTTP, non-TLS ports",
                );
            }
        }
    }
    export_to(&mut c, "spec.exportTo", &se.export_to, true, false);
}

fn resolution_name(r: Resolution) -> &'static str {
    match r {
        Resolution::None => "NONE",
        Resolution::Static => "STATIC",
        Resolution::Dns => "DNS",
        Resolution::DnsRoundRobin => "DNS_ROUND_ROBIN",
        Resolution::DynamicDns => "DYNAMIC_DNS",
    }
}
