//! Watches the configuration paths and asks for a reload when a YAML file changes.

use std::path::{Path, PathBuf};

use notify::{RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::mpsc;

use crate::gateway::ReloadRequest;

/// Starts watching; the watcher stops when the returned value is dropped.
pub fn watch(
    paths: &[PathBuf],
    tx: mpsc::Sender<ReloadRequest>,
) -> notify::Result<RecommendedWatcher> {
    let targets: Vec<PathBuf> = paths
        .iter()
        .map(|p| p.canonicalize().unwrap_or_else(|_| p.clone()))
        .collect();
    let relevant = targets.clone();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else { return };
        if event.kind.is_access() {
            return;
        }
        if event.paths.iter().any(|p| concerns(&relevant, p)) {
            // A full queue already holds a pending reload: dropping this one loses nothing.
            let _ = tx.try_send(ReloadRequest::FileChanged);
        }
    })?;
    for target in &targets {
        // Editors replace files: watch the directory that holds a file.
        let dir = if target.is_dir() {
            target.as_path()
        } else {
            target.parent().unwrap_or(Path::new("."))
        };
        watcher.watch(dir, RecursiveMode::NonRecursive)?;
    }
    Ok(watcher)
}

fn concerns(targets: &[PathBuf], changed: &Path) -> bool {
    targets.iter().any(|t| {
        if t.is_dir() {
            changed.parent() == Some(t.as_path())
                && changed
                    .extension()
                    .is_some_and(|e| e == "yaml" || e == "yml")
        } else {
            changed == t
        }
    })
}
