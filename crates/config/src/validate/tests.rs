//! Per-rule validation tests: each feeds a small bad document through `load_str` and checks the
//! exact line, field path and message of the diagnostic.

use crate::{load_str, Diagnostic, Severity};

mod backend_traffic_policy;
mod common;
mod destination_rule;
mod gateway;
mod http_policy;
mod http_route;
mod mesh;
mod rate_limit;
mod security;
mod service_entry;
mod traffic_policy;
mod virtual_service;

/// A document of `kind` whose spec body (indented two spaces) starts at line 5.
pub(super) fn doc(kind: &str, body: &str) -> String {
    format!("apiVersion: networking.istio.io/v1\nkind: {kind}\nmetadata: {{name: t, namespace: ns}}\nspec:\n{body}")
}

/// Loads `text` and returns its diagnostics.
pub(super) fn diags(text: &str) -> Vec<Diagnostic> {
    load_str("t.yaml", text).diagnostics
}

/// Asserts a diagnostic with this severity, line, path and message substring exists.
#[track_caller]
pub(super) fn expect_sev(text: &str, sev: Severity, line: u32, path: &str, msg: &str) {
    let ds = diags(text);
    let found = ds
        .iter()
        .any(|d| d.severity == sev && d.line == line && d.path == path && d.message.contains(msg));
    let list: Vec<String> = ds
        .iter()
        .map(|d| format!("{d} [{:?}]", d.severity))
        .collect();
    assert!(
        found,
        "expected {sev:?} at line {line} {path}: {msg}\nin:\n{text}\ngot:\n{}",
        list.join("\n")
    );
}

/// Asserts an error diagnostic.
#[track_caller]
pub(super) fn expect(text: &str, line: u32, path: &str, msg: &str) {
    expect_sev(text, Severity::Error, line, path, msg);
}

/// Asserts a warning diagnostic.
#[track_caller]
pub(super) fn expect_warn(text: &str, line: u32, path: &str, msg: &str) {
    expect_sev(text, Severity::Warning, line, path, msg);
}

/// Asserts no diagnostics at all.
#[track_caller]
pub(super) fn clean(text: &str) {
    let ds = diags(text);
    let list: Vec<String> = ds.iter().map(ToString::to_string).collect();
    assert!(
        ds.is_empty(),
        "expected no diagnostics, got:\n{}",
        list.join("\n")
    );
}
