//! Watches the configuration paths, and the certificate files the active configuration was built
//! from, and asks for a reload when one of them changes.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use notify::{RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::mpsc;

use crate::gateway::ReloadRequest;

/// The file watcher; it stops when dropped.
pub struct ConfigWatcher {
    watcher: RecommendedWatcher,
    /// Certificate files and credential directories of the active snapshot.
    files: Arc<RwLock<Vec<PathBuf>>>,
    /// Directories watched so far (never unwatched: a stale watch costs nothing but events).
    dirs: BTreeSet<PathBuf>,
}

/// Starts watching the configuration `paths` (files or directories of YAML).
pub fn watch(paths: &[PathBuf], tx: mpsc::Sender<ReloadRequest>) -> notify::Result<ConfigWatcher> {
    let targets: Vec<PathBuf> = paths
        .iter()
        .map(|p| p.canonicalize().unwrap_or_else(|_| p.clone()))
        .collect();
    let relevant = targets.clone();
    let files: Arc<RwLock<Vec<PathBuf>>> = Arc::default();
    let extra = files.clone();
    let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else { return };
        if event.kind.is_access() {
            return;
        }
        let extra = extra.read().unwrap_or_else(|e| e.into_inner());
        if event
            .paths
            .iter()
            .any(|p| concerns(&relevant, p) || touches(&extra, p))
        {
            // A full queue already holds a pending reload: dropping this one loses nothing.
            let _ = tx.try_send(ReloadRequest::FileChanged);
        }
    })?;
    let mut this = ConfigWatcher {
        watcher,
        files,
        dirs: BTreeSet::new(),
    };
    for target in &targets {
        // Editors replace files: watch the directory that holds a file.
        let dir = if target.is_dir() {
            target.clone()
        } else {
            target.parent().unwrap_or(Path::new(".")).to_path_buf()
        };
        this.watch_dir(dir)?;
    }
    Ok(this)
}

impl ConfigWatcher {
    /// Also reload when one of `files` (certificates, keys, credential directories) changes.
    pub fn watch_files(&mut self, files: &[PathBuf]) {
        for file in files {
            // The parent directory sees a file replaced (or a credential directory created);
            // a directory itself sees the files inside it change.
            let mut dirs = vec![file.parent().map(Path::to_path_buf)];
            if file.is_dir() {
                dirs.push(Some(file.clone()));
            }
            for dir in dirs.into_iter().flatten().filter(|d| d.is_dir()) {
                if let Err(err) = self.watch_dir(dir.clone()) {
                    tracing::warn!(dir = %dir.display(), error = %err, "cannot watch certificate directory");
                }
            }
        }
        *self.files.write().unwrap_or_else(|e| e.into_inner()) = files.to_vec();
    }

    fn watch_dir(&mut self, dir: PathBuf) -> notify::Result<()> {
        if !self.dirs.contains(&dir) {
            self.watcher.watch(&dir, RecursiveMode::NonRecursive)?;
            self.dirs.insert(dir);
        }
        Ok(())
    }
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

/// Whether `changed` is one of `files`, or inside one of them (a credential directory).
fn touches(files: &[PathBuf], changed: &Path) -> bool {
    files
        .iter()
        .any(|f| changed == f || changed.parent() == Some(f.as_path()))
}
