//! The service registry: ServiceEntry hosts (and the WorkloadEntries they select), by host.

use std::collections::HashMap;

use rampart_config::networking::{ServiceEntry, WorkloadEntry};
use rampart_config::{ConfigSet, Diagnostic, Resource, Severity};

use crate::hosts::{exported_to, resolve_short};

/// ServiceEntries by (lowercase, fully qualified) host.
pub struct Registry<'a> {
    by_host: HashMap<String, &'a Resource<ServiceEntry>>,
    /// Hosts of ServiceEntries that `exportTo` hides from this proxy's namespace.
    hidden: HashMap<String, &'a Resource<ServiceEntry>>,
    workload_entries: &'a [Resource<WorkloadEntry>],
}

impl<'a> Registry<'a> {
    /// Indexes the host of every ServiceEntry exported to `viewer_ns` (the proxy's namespace);
    /// the first entry declaring a host wins (with a warning).
    pub fn build(set: &'a ConfigSet, viewer_ns: &str, diags: &mut Vec<Diagnostic>) -> Self {
        let mut by_host: HashMap<String, &'a Resource<ServiceEntry>> = HashMap::new();
        let mut hidden = HashMap::new();
        for se in &set.service_entries {
            let visible = exported_to(&se.spec.export_to, &se.meta.namespace, viewer_ns);
            for (i, host) in se.spec.hosts.iter().enumerate() {
                let host = resolve_short(host, &se.meta.namespace);
                if !visible {
                    hidden.insert(host, se);
                    continue;
                }
                if let Some(first) = by_host.get(&host) {
                    diags.push(se.diag(
                        Severity::Warning,
                        &format!("spec.hosts[{i}]"),
                        format!(
                            "host {host} is already declared by ServiceEntry {}/{} ({}:{}); this entry is ignored for it",
                            first.meta.namespace, first.meta.name, first.source.file, first.source.line
                        ),
                    ));
                    continue;
                }
                by_host.insert(host, se);
            }
        }
        Self {
            by_host,
            hidden,
            workload_entries: &set.workload_entries,
        }
    }

    /// The ServiceEntry declaring `host` (already fully qualified).
    pub fn find(&self, host: &str) -> Option<&'a Resource<ServiceEntry>> {
        self.by_host.get(host).copied()
    }

    /// A ServiceEntry that declares `host` but is not exported to this proxy's namespace.
    pub fn hidden(&self, host: &str) -> Option<&'a Resource<ServiceEntry>> {
        self.hidden.get(host).copied()
    }

    /// WorkloadEntries a ServiceEntry's `workloadSelector` selects (same namespace, labels ⊇).
    pub fn selected_workloads(&self, se: &Resource<ServiceEntry>) -> Vec<&'a WorkloadEntry> {
        let Some(selector) = &se.spec.workload_selector else {
            return Vec::new();
        };
        self.workload_entries
            .iter()
            .filter(|we| we.meta.namespace == se.meta.namespace)
            .filter(|we| {
                selector
                    .labels
                    .iter()
                    .all(|(k, v)| we.spec.labels.get(k) == Some(v))
            })
            .map(|we| &we.spec)
            .collect()
    }
}
