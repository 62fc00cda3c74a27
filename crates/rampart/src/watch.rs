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
        // Events name absolute paths; a relative `--credentials` must compare equal to them.
        // (Not canonicalized: Kubernetes-style symlink swaps must keep pointing at the link.)
        let files: Vec<PathBuf> = files
            .iter()
            .map(|f| std::path::absolute(f).unwrap_or_else(|_| f.clone()))
            .collect();
        for file in &files {
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
        *self.files.write().unwrap_or_else(|e| e.into_inner()) = files;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn relative_certificate_paths_are_matched_as_the_absolute_paths_events_carry() {
        let (tx, _rx) = mpsc::channel(1);
        let dir = std::env::temp_dir();
        let mut watcher = watch(std::slice::from_ref(&dir), tx).expect("watcher");
        // `--credentials creds` is relative to the working directory.
        watcher.watch_files(&[PathBuf::from("creds/web/tls.crt")]);
        let files = watcher.files.read().unwrap().clone();
        let absolute = std::env::current_dir().unwrap().join("creds/web/tls.crt");
        assert!(touches(&files, &absolute), "{files:?}");
        assert!(!touches(&files, Path::new("creds/web/other.crt")));
    }
}
