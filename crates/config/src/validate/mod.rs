//! Istio's validation rules (istio/pkg/config/validation), one module per kind.
//!
//! Receives: a typed [`Resource`] from the loader. Hands on: every problem found as a
//! [`Diagnostic`] located by field path; validation never stops at the first problem.

use crate::diag::{Diagnostic, Severity};
use crate::resource::{Kind, Resource};

pub mod authorization_policy;
pub mod backend_traffic_policy;
mod common;
pub mod destination_rule;
pub mod gateway;
mod http_policy;
mod http_route;
pub(crate) mod mesh;
mod rate_limit;
pub mod request_authentication;
pub mod service_entry;
pub mod telemetry;
mod traffic_policy;
pub mod virtual_service;
pub mod workload_entry;

#[cfg(test)]
mod tests;

pub(crate) use common::*;

/// Collects diagnostics for one resource.
pub(crate) struct Check<'a, T> {
    pub res: &'a Resource<T>,
    out: &'a mut Vec<Diagnostic>,
}

impl<'a, T> Check<'a, T> {
    pub fn new(res: &'a Resource<T>, out: &'a mut Vec<Diagnostic>) -> Self {
        Check { res, out }
    }

    /// Records an error at `path`.
    pub fn err(&mut self, path: &str, msg: impl Into<String>) {
        self.out.push(self.res.diag(Severity::Error, path, msg));
    }

    /// Records a warning at `path`.
    pub fn warn(&mut self, path: &str, msg: impl Into<String>) {
        self.out.push(self.res.diag(Severity::Warning, path, msg));
    }

    /// Records `r`'s error, if any, at `path`.
    pub fn check(&mut self, path: &str, r: Result<(), String>) {
        if let Err(e) = r {
            self.err(path, e);
        }
    }

    /// Records a duration problem of an optional duration field.
    pub fn duration(&mut self, path: &str, d: &Option<String>) {
        if let Some(d) = d {
            self.check(path, duration(d).map(drop));
        }
    }
}

/// Metadata rules shared by every kind: name is a DNS-1123 subdomain (a label for Gateways),
/// namespace a DNS-1123 label, labels well formed.
pub fn meta<T>(res: &Resource<T>, out: &mut Vec<Diagnostic>) {
    let mut c = Check::new(res, out);
    let name = &res.meta.name;
    if res.kind == Kind::Gateway {
        if !dns1123_label(name) {
            c.err("metadata.name", format!("invalid gateway name: {name:?}"));
        }
    } else if !dns1123_subdomain(name) {
        c.err(
            "metadata.name",
            format!("invalid name {name:?}: must be a DNS-1123 subdomain"),
        );
    }
    let ns = &res.meta.namespace;
    if !dns1123_label(ns) {
        c.err(
            "metadata.namespace",
            format!("invalid namespace {ns:?}: must be a DNS-1123 label"),
        );
    }
    labels(&mut c, "metadata.labels", &res.meta.labels);
}
