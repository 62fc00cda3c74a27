//! Diagnostics: one problem found while loading or validating, printed as
//! `file:line: Kind namespace/name: field.path: message`.
//!
//! Receives: problems from the loader and from `validate`. Hands on: `Diagnostic` values that the
//! binary prints (`rampart validate`) and that reload logic refuses on.

use std::fmt;
use std::sync::Arc;

/// How bad a problem is: errors reject the configuration, warnings are shown only.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    /// The configuration is rejected.
    Error,
    /// Accepted, but probably not what the author meant.
    Warning,
}

/// One problem, located by file, line, resource and field path.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// File name as given to the loader.
    pub file: Arc<str>,
    /// 1-based line (0 when there is none, e.g. an unreadable file).
    pub line: u32,
    /// Resource kind as written (when known).
    pub kind: Option<String>,
    /// Resource namespace (when known).
    pub namespace: Option<String>,
    /// Resource name (when known).
    pub name: Option<String>,
    /// Field path such as `spec.http[0].route[0].destination.host` (may be empty).
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl Diagnostic {
    /// A diagnostic that is not tied to a resource (e.g. a YAML syntax error).
    pub fn bare(severity: Severity, file: Arc<str>, line: u32, message: impl Into<String>) -> Self {
        Diagnostic {
            severity,
            file,
            line,
            kind: None,
            namespace: None,
            name: None,
            path: String::new(),
            message: message.into(),
        }
    }

    /// True for [`Severity::Error`].
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: ", self.file)?;
        } else {
            write!(f, "{}:{}: ", self.file, self.line)?;
        }
        match (&self.kind, &self.name) {
            (Some(kind), Some(name)) => {
                let ns = self.namespace.as_deref().unwrap_or("default");
                write!(f, "{kind} {ns}/{name}: ")?;
            }
            (Some(kind), None) => write!(f, "{kind}: ")?,
            (None, Some(name)) => match &self.namespace {
                Some(ns) => write!(f, "{ns}/{name}: ")?,
                None => write!(f, "{name}: ")?,
            },
            (None, None) => {}
        }
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        if self.severity == Severity::Warning {
            write!(f, "warning: ")?;
        }
        f.write_str(&self.message)
    }
}
