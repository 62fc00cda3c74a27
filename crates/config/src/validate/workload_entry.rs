//! WorkloadEntry validation (Istio `validateWorkloadEntry`), also used for ServiceEntry
//! endpoints.
//!
//! Receives: a typed `Resource<WorkloadEntry>` or one endpoint. Hands on: diagnostics.

use std::collections::BTreeSet;

use super::{fqdn, is_ip, port, port_name, unix_address, Check};
use crate::diag::Diagnostic;
use crate::networking::WorkloadEntry;
use crate::path;
use crate::resource::Resource;

/// Checks one WorkloadEntry.
pub fn validate(res: &Resource<WorkloadEntry>, out: &mut Vec<Diagnostic>) {
    let mut c = Check::new(res, out);
    entry(&mut c, "spec", &res.spec, None, true);
}

/// Checks one workload entry at `at`. `service_ports` are the ServiceEntry's port names (when
/// checking an endpoint); `allow_fqdn` allows DNS names as address.
pub(super) fn entry<T>(
    c: &mut Check<'_, T>,
    at: &str,
    we: &WorkloadEntry,
    service_ports: Option<&BTreeSet<&str>>,
    allow_fqdn: bool,
) {
    let addr = we.address.as_deref().unwrap_or_default();
    let ap = format!("{at}.address");
    if addr.is_empty() {
        match we.network.as_deref().filter(|n| !n.is_empty()) {
            None => {
                c.err(&ap, "address is required");
                return;
            }
            Some(n) => c.warn(&ap, format!("address is unset with network {n:?}")),
        }
    }
    let unix = addr.starts_with("unix://");
    if let Some(path) = addr.strip_prefix("unix://") {
        c.check(&ap, unix_address(path));
        if !we.ports.is_empty() {
            c.err(
                &format!("{at}.ports"),
                format!("unix endpoint {addr} must not include ports"),
            );
        }
    } else if !addr.is_empty() && !is_ip(addr) {
        if !allow_fqdn {
            c.err(
                &ap,
                format!("endpoint address {addr:?} is not a valid IP address"),
            );
        } else if fqdn(addr).is_err() {
            c.err(
                &ap,
                format!("endpoint address {addr:?} is not a valid FQDN or an IP address"),
            );
        }
    }
    for (name, p) in &we.ports {
        let pp = path::key(&format!("{at}.ports"), name);
        if service_ports.is_some_and(|sp| !sp.contains(name.as_str())) {
            c.err(
                &pp,
                format!("endpoint port {p} is not defined by the service entry"),
            );
        }
        c.check(&pp, port_name(name));
        c.check(&pp, port(*p));
    }
    super::labels(c, &format!("{at}.labels"), &we.labels);
    if unix && service_ports.is_some_and(|sp| sp.len() != 1) {
        c.err(&ap, "exactly 1 service port required for unix endpoints");
    }
}
