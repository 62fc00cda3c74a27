//! Load + validate + compile, the one path every configuration takes (startup, reload,
//! `validate`, `explain`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rampart_compile::{compile, ProxyIdentity};
use rampart_config::{load_mesh, load_paths, Diagnostic};
use rampart_model::Snapshot;

/// A configuration that may be served, with its warnings.
pub struct Loaded {
    /// The compiled snapshot (version 0).
    pub snapshot: Snapshot,
    /// Warnings (never errors).
    pub warnings: Vec<Diagnostic>,
}

/// Loads (the resources in `paths` and the MeshConfig at `mesh`), validates and compiles; `Err`
/// carries every diagnostic when any is an error.
pub fn load(
    paths: &[PathBuf],
    mesh: Option<&Path>,
    me: &ProxyIdentity,
) -> Result<Loaded, Vec<Diagnostic>> {
    let mut loaded = load_paths(paths);
    if let Some(path) = mesh {
        let (config, diags) = load_mesh(path);
        loaded.diagnostics.extend(diags);
        loaded.config.mesh = config.map(Arc::new);
    }
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
