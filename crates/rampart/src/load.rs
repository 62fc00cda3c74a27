//! Load + validate + compile, the one path every configuration takes (startup, reload,
//! `validate`, `explain`).

use std::path::PathBuf;

use rampart_compile::{compile, ProxyIdentity};
use rampart_config::{load_paths, Diagnostic};
use rampart_model::Snapshot;

/// A configuration that may be served, with its warnings.
pub struct Loaded {
    /// The compiled snapshot (version 0).
    pub snapshot: Snapshot,
    /// Warnings (never errors).
    pub warnings: Vec<Diagnostic>,
}

/// Loads, validates and compiles; `Err` carries every diagnostic when any is an error.
pub fn load(paths: &[PathBuf], me: &ProxyIdentity) -> Result<Loaded, Vec<Diagnostic>> {
    let loaded = load_paths(paths);
    let mut diags = loaded.diagnostics;
    if diags.iter().any(Diagnostic::is_error) {
        return Err(diags);
    }
    let compiled = compile(&loaded.config, me);
    let failed = compiled.has_errors();
    diags.extend(compiled.diagnostics);
    if failed {
        return Err(diags);
    }
    Ok(Loaded {
        snapshot: compiled.snapshot,
        warnings: diags,
    })
}
