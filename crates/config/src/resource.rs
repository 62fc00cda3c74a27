//! A loaded resource: apiVersion, kind, metadata and typed spec, plus where it came from
//! (file, document line and a field-path → line table).
//!
//! Receives: the pieces the loader parsed. Hands on: `Resource<T>` values in the `ConfigSet` and
//! a way to locate any field for diagnostics (`line_of`, `diag`).

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;

use crate::diag::{Diagnostic, Severity};
use crate::path;

/// The kinds Rampart reads: Istio's, plus Envoy Gateway's BackendTrafficPolicy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// `networking.istio.io` Gateway.
    Gateway,
    /// `networking.istio.io` VirtualService.
    VirtualService,
    /// `networking.istio.io` DestinationRule.
    DestinationRule,
    /// `networking.istio.io` ServiceEntry.
    ServiceEntry,
    /// `networking.istio.io` WorkloadEntry.
    WorkloadEntry,
    /// `gateway.envoyproxy.io` BackendTrafficPolicy (active health checks).
    BackendTrafficPolicy,
    /// `security.istio.io` RequestAuthentication.
    RequestAuthentication,
    /// `security.istio.io` AuthorizationPolicy.
    AuthorizationPolicy,
    /// `telemetry.istio.io` Telemetry.
    Telemetry,
}

impl Kind {
    /// Every supported kind.
    pub const ALL: [Kind; 9] = [
        Kind::Gateway,
        Kind::VirtualService,
        Kind::DestinationRule,
        Kind::ServiceEntry,
        Kind::WorkloadEntry,
        Kind::BackendTrafficPolicy,
        Kind::RequestAuthentication,
        Kind::AuthorizationPolicy,
        Kind::Telemetry,
    ];

    /// The kind's name as written in YAML.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Gateway => "Gateway",
            Kind::VirtualService => "VirtualService",
            Kind::DestinationRule => "DestinationRule",
            Kind::ServiceEntry => "ServiceEntry",
            Kind::WorkloadEntry => "WorkloadEntry",
            Kind::BackendTrafficPolicy => "BackendTrafficPolicy",
            Kind::RequestAuthentication => "RequestAuthentication",
            Kind::AuthorizationPolicy => "AuthorizationPolicy",
            Kind::Telemetry => "Telemetry",
        }
    }

    /// Looks a kind up by its YAML name.
    pub fn from_name(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// The `apiVersion`s accepted for this kind.
    pub fn api_versions(self) -> &'static [&'static str] {
        match self {
            Kind::BackendTrafficPolicy => &["gateway.envoyproxy.io/v1alpha1"],
            Kind::RequestAuthentication | Kind::AuthorizationPolicy => {
                &["security.istio.io/v1", "security.istio.io/v1beta1"]
            }
            Kind::Telemetry => &["telemetry.istio.io/v1", "telemetry.istio.io/v1alpha1"],
            _ => &[
                "networking.istio.io/v1",
                "networking.istio.io/v1beta1",
                "networking.istio.io/v1alpha3",
            ],
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Kubernetes-style metadata (`metadata.*`) that Rampart keeps.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ObjectMeta {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace` (`default` when absent).
    pub namespace: String,
    /// `metadata.labels`.
    pub labels: BTreeMap<String, String>,
    /// `metadata.annotations`.
    pub annotations: BTreeMap<String, String>,
}

/// Where a resource came from: file, first line of its document, and the line of every field.
#[derive(Clone, Debug)]
pub struct Source {
    /// File name as given to the loader.
    pub file: Arc<str>,
    /// Line where the document starts.
    pub line: u32,
    lines: Arc<HashMap<String, u32>>,
}

impl Source {
    pub(crate) fn new(file: Arc<str>, line: u32, lines: HashMap<String, u32>) -> Self {
        Source {
            file,
            line,
            lines: Arc::new(lines),
        }
    }

    /// Line of `path`, else of its nearest ancestor, else of the document start.
    pub fn line_of(&self, path: &str) -> u32 {
        let mut p = path;
        loop {
            if let Some(&l) = self.lines.get(p) {
                return l;
            }
            match path::parent(p) {
                Some(up) => p = up,
                None => return self.line,
            }
        }
    }

    /// Whether the document contains exactly this field path.
    pub fn has(&self, path: &str) -> bool {
        self.lines.contains_key(path)
    }
}

impl PartialEq for Source {
    fn eq(&self, other: &Self) -> bool {
        self.file == other.file && self.line == other.line
    }
}

/// One loaded Istio resource with its typed spec.
#[derive(Clone, Debug, PartialEq)]
pub struct Resource<T> {
    /// `apiVersion` as written.
    pub api_version: String,
    /// The kind.
    pub kind: Kind,
    /// Metadata.
    pub meta: ObjectMeta,
    /// The typed `spec`.
    pub spec: T,
    /// Where it came from.
    pub source: Source,
}

impl<T> Resource<T> {
    /// Line of that field path, else of the nearest ancestor path, else the document start.
    pub fn line_of(&self, path: &str) -> u32 {
        self.source.line_of(path)
    }

    /// A diagnostic about `path` in this resource.
    pub fn diag(&self, severity: Severity, path: &str, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity,
            file: self.source.file.clone(),
            line: self.line_of(path),
            kind: Some(self.kind.to_string()),
            namespace: Some(self.meta.namespace.clone()),
            name: Some(self.meta.name.clone()),
            path: path.to_string(),
            message: message.into(),
        }
    }
}
