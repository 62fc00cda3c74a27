//! The loader: files and directories → YAML documents → typed resources → validation.
//!
//! Receives: paths or in-memory text. Hands on: a [`Loaded`] with the valid resources in load
//! order (`ConfigSet`) and every diagnostic found. A document with any error is left out of the
//! `ConfigSet`; callers refuse the whole load when [`Loaded::has_errors`].

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

use serde::de::{DeserializeOwned, IgnoredAny};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::diag::{Diagnostic, Severity};
use crate::resource::{Kind, ObjectMeta, Resource, Source};
use crate::{envoy_gateway, networking, security};
use crate::{hint, path, validate, yaml};

/// The result of a load: valid resources plus every problem found.
#[derive(Clone, Debug, Default)]
pub struct Loaded {
    /// Resources without errors, in load order.
    pub config: ConfigSet,
    /// Every error and warning, in the order found.
    pub diagnostics: Vec<Diagnostic>,
}

impl Loaded {
    /// Whether any diagnostic is an error (the load must then be refused).
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// The loaded resources by kind, each list in load order (file order, then document order).
#[derive(Clone, Debug, Default)]
pub struct ConfigSet {
    /// Gateways.
    pub gateways: Vec<Resource<networking::Gateway>>,
    /// VirtualServices.
    pub virtual_services: Vec<Resource<networking::VirtualService>>,
    /// DestinationRules.
    pub destination_rules: Vec<Resource<networking::DestinationRule>>,
    /// ServiceEntries.
    pub service_entries: Vec<Resource<networking::ServiceEntry>>,
    /// WorkloadEntries.
    pub workload_entries: Vec<Resource<networking::WorkloadEntry>>,
    /// The MeshConfig (`--mesh-config`), when one is given.
    pub mesh: Option<Arc<crate::mesh::Mesh>>,
    /// BackendTrafficPolicies (active health checks).
    pub backend_traffic_policies: Vec<Resource<envoy_gateway::BackendTrafficPolicy>>,
    /// Telemetry resources (access logging, tracing, metrics).
    pub telemetries: Vec<Resource<crate::telemetry::Telemetry>>,
    /// RequestAuthentications (JWT).
    pub request_authentications: Vec<Resource<security::RequestAuthentication>>,
    /// AuthorizationPolicies.
    pub authorization_policies: Vec<Resource<security::AuthorizationPolicy>>,
}

/// Largest configuration file read: a bigger one is refused before parsing.
pub const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// Reads a configuration file: at most [`MAX_FILE_BYTES`], UTF-8 (a leading BOM is dropped).
fn read_config_file(p: &Path) -> std::io::Result<String> {
    use std::io::{Error, ErrorKind, Read};
    let file = std::fs::File::open(p)?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(Error::new(
            ErrorKind::InvalidData,
            format!("larger than the {} MiB limit", MAX_FILE_BYTES >> 20),
        ));
    }
    let text = String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let line = 1 + e.as_bytes()[..at].iter().filter(|b| **b == b'\n').count();
        Error::new(
            ErrorKind::InvalidData,
            format!("invalid UTF-8 at line {line}"),
        )
    })?;
    Ok(match text.strip_prefix('\u{feff}') {
        Some(rest) => rest.to_string(),
        None => text,
    })
}

/// Loads files (multi-document YAML) and directories (every `*.yaml` / `*.yml` in them, sorted
/// by name, not recursive). An unreadable path is an error diagnostic.
pub fn load_paths<P: AsRef<Path>>(paths: &[P]) -> Loaded {
    let mut loader = Loader::default();
    for p in paths {
        loader.add_path(p.as_ref());
    }
    loader.done()
}

/// Loads multi-document YAML from memory; `file` is the name used in diagnostics.
pub fn load_str(file: &str, text: &str) -> Loaded {
    let mut loader = Loader::default();
    loader.add_text(Arc::from(file), text);
    loader.done()
}

/// A spec type the loader knows how to store and validate.
trait Spec: DeserializeOwned + Sized {
    fn slot(config: &mut ConfigSet) -> &mut Vec<Resource<Self>>;
    fn validate(res: &Resource<Self>, out: &mut Vec<Diagnostic>);
}

macro_rules! spec {
    ($ty:ty, $field:ident, $check:path) => {
        impl Spec for $ty {
            fn slot(config: &mut ConfigSet) -> &mut Vec<Resource<Self>> {
                &mut config.$field
            }
            fn validate(res: &Resource<Self>, out: &mut Vec<Diagnostic>) {
                $check(res, out)
            }
        }
    };
}

spec!(networking::Gateway, gateways, validate::gateway::validate);
spec!(
    networking::VirtualService,
    virtual_services,
    validate::virtual_service::validate
);
spec!(
    networking::DestinationRule,
    destination_rules,
    validate::destination_rule::validate
);
spec!(
    networking::ServiceEntry,
    service_entries,
    validate::service_entry::validate
);
spec!(
    networking::WorkloadEntry,
    workload_entries,
    validate::workload_entry::validate
);
spec!(
    envoy_gateway::BackendTrafficPolicy,
    backend_traffic_policies,
    validate::backend_traffic_policy::validate
);
spec!(
    security::RequestAuthentication,
    request_authentications,
    validate::request_authentication::validate
);
spec!(
    security::AuthorizationPolicy,
    authorization_policies,
    validate::authorization_policy::validate
);
spec!(
    crate::telemetry::Telemetry,
    telemetries,
    validate::telemetry::validate
);

/// `metadata` as accepted: Rampart's fields plus ignored Kubernetes bookkeeping.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[allow(dead_code)] // the bookkeeping fields are read only to be accepted
struct RawMeta {
    name: Option<String>,
    namespace: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    creation_timestamp: Option<IgnoredAny>,
    resource_version: Option<IgnoredAny>,
    uid: Option<IgnoredAny>,
    generation: Option<IgnoredAny>,
    managed_fields: Option<IgnoredAny>,
    owner_references: Option<IgnoredAny>,
    finalizers: Option<IgnoredAny>,
    generate_name: Option<IgnoredAny>,
    self_link: Option<IgnoredAny>,
    deletion_timestamp: Option<IgnoredAny>,
    deletion_grace_period_seconds: Option<IgnoredAny>,
}

const TOP_LEVEL: [&str; 5] = ["apiVersion", "kind", "metadata", "spec", "status"];

#[derive(Default)]
struct Loader {
    config: ConfigSet,
    diagnostics: Vec<Diagnostic>,
    /// (kind, namespace, name) → where first defined.
    seen: HashMap<(Kind, String, String), (Arc<str>, u32)>,
}

/// Diagnostics for one document, before it is known to be a valid resource.
pub(crate) struct DocCtx {
    source: Source,
    kind: Option<String>,
    namespace: Option<String>,
    name: Option<String>,
    errors: usize,
}

impl DocCtx {
    pub(crate) fn diag(
        &mut self,
        severity: Severity,
        at: &str,
        message: impl Into<String>,
    ) -> Diagnostic {
        if severity == Severity::Error {
            self.errors += 1;
        }
        Diagnostic {
            severity,
            file: self.source.file.clone(),
            line: self.source.line_of(at),
            kind: self.kind.clone(),
            namespace: self.namespace.clone(),
            name: self.name.clone(),
            path: at.to_string(),
            message: message.into(),
        }
    }
}

impl Loader {
    fn done(self) -> Loaded {
        Loaded {
            config: self.config,
            diagnostics: self.diagnostics,
        }
    }

    fn unreadable(&mut self, file: &Path, err: impl std::fmt::Display) {
        let file: Arc<str> = Arc::from(file.display().to_string());
        self.diagnostics.push(Diagnostic::bare(
            Severity::Error,
            file,
            0,
            format!("cannot read: {err}"),
        ));
    }

    fn add_path(&mut self, p: &Path) {
        let meta = match std::fs::metadata(p) {
            Ok(m) => m,
            Err(e) => return self.unreadable(p, e),
        };
        if !meta.is_dir() {
            return self.add_file(p);
        }
        let entries = match std::fs::read_dir(p) {
            Ok(e) => e,
            Err(e) => return self.unreadable(p, e),
        };
        let mut files: Vec<_> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|f| {
                matches!(f.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"))
                    && !f.is_dir()
            })
            .collect();
        files.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
        for f in files {
            self.add_file(&f);
        }
    }

    fn add_file(&mut self, p: &Path) {
        match read_config_file(p) {
            Ok(text) => self.add_text(Arc::from(p.display().to_string()), &text),
            Err(e) => self.unreadable(p, e),
        }
    }

    fn add_text(&mut self, file: Arc<str>, text: &str) {
        let parsed = yaml::parse(text);
        for doc in parsed.documents {
            self.add_document(&file, doc);
        }
        if let Some((line, msg)) = parsed.syntax_error {
            self.diagnostics.push(Diagnostic::bare(
                Severity::Error,
                file,
                line.max(1),
                format!("YAML syntax error: {msg}"),
            ));
        }
    }

    fn add_document(&mut self, file: &Arc<str>, doc: yaml::Document) {
        let first = self.diagnostics.len();
        self.document(file, doc);
        // Report one document's problems top to bottom (serde visits keys alphabetically).
        self.diagnostics[first..].sort_by_key(|d| d.line);
    }

    fn document(&mut self, file: &Arc<str>, doc: yaml::Document) {
        if doc.value.is_null() && doc.problems.is_empty() {
            return; // empty document
        }
        let mut cx = DocCtx {
            source: Source::new(file.clone(), doc.line, doc.lines),
            kind: None,
            namespace: None,
            name: None,
            errors: 0,
        };
        let mut obj = match doc.value {
            Value::Object(m) => m,
            _ if !doc.problems.is_empty() => Map::new(),
            other => {
                let d = cx.diag(
                    Severity::Error,
                    "",
                    format!("a document must be a mapping, found {}", type_name(&other)),
                );
                return self.diagnostics.push(d);
            }
        };
        // Name the resource in every diagnostic when it can be read at all.
        cx.kind = obj.get("kind").and_then(Value::as_str).map(str::to_string);
        let meta = obj.get("metadata").and_then(Value::as_object);
        cx.name = meta
            .and_then(|m| m.get("name"))
            .and_then(Value::as_str)
            .map(str::to_string);
        if cx.name.is_some() {
            let ns = meta
                .and_then(|m| m.get("namespace"))
                .and_then(Value::as_str);
            cx.namespace = Some(ns.unwrap_or("default").to_string());
        }
        for (line, at, msg) in doc.problems {
            let mut d = cx.diag(Severity::Error, &at, msg);
            d.line = line;
            self.diagnostics.push(d);
        }
        if cx.errors > 0 {
            return;
        }
        let Some(kind) = self.header(&mut cx, &obj) else {
            return;
        };
        let meta = self.metadata(&mut cx, obj.remove("metadata"));
        let Some(meta) = meta else {
            // Still report the spec's own problems.
            if let Some(spec) = obj.get("spec").filter(|s| !s.is_null()) {
                self.check_only(kind, &mut cx, spec);
            }
            return;
        };
        let key = (kind, meta.namespace.clone(), meta.name.clone());
        if let Some((f, l)) = self.seen.get(&key) {
            let msg = format!(
                "duplicate {kind} {}/{}, first defined at {f}:{l}",
                meta.namespace, meta.name
            );
            let d = cx.diag(Severity::Error, "metadata.name", msg);
            self.diagnostics.push(d);
        } else {
            self.seen
                .insert(key, (cx.source.file.clone(), cx.source.line));
        }
        let api_version = obj
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let spec = match obj.remove("spec") {
            None | Some(Value::Null) => Value::Object(Map::new()),
            Some(v) => v,
        };
        let header = Header {
            api_version,
            kind,
            meta,
        };
        match kind {
            Kind::Gateway => self.typed::<networking::Gateway>(cx, header, spec),
            Kind::VirtualService => self.typed::<networking::VirtualService>(cx, header, spec),
            Kind::DestinationRule => self.typed::<networking::DestinationRule>(cx, header, spec),
            Kind::ServiceEntry => self.typed::<networking::ServiceEntry>(cx, header, spec),
            Kind::WorkloadEntry => self.typed::<networking::WorkloadEntry>(cx, header, spec),
            Kind::BackendTrafficPolicy => {
                self.typed::<envoy_gateway::BackendTrafficPolicy>(cx, header, spec)
            }
            Kind::RequestAuthentication => {
                self.typed::<security::RequestAuthentication>(cx, header, spec)
            }
            Kind::AuthorizationPolicy => {
                self.typed::<security::AuthorizationPolicy>(cx, header, spec)
            }
            Kind::Telemetry => self.typed::<crate::telemetry::Telemetry>(cx, header, spec),
        }
    }

    /// Checks apiVersion, kind and the top-level field names; returns the kind when usable.
    fn header(&mut self, cx: &mut DocCtx, obj: &Map<String, Value>) -> Option<Kind> {
        let before = cx.errors;
        for key in obj.keys() {
            if !TOP_LEVEL.contains(&key.as_str()) {
                let msg = unknown_field(key, &TOP_LEVEL[..4]);
                let d = cx.diag(Severity::Error, &path::key("", key), msg);
                self.diagnostics.push(d);
            }
        }
        let api = match obj.get("apiVersion") {
            None | Some(Value::Null) => {
                let d = cx.diag(Severity::Error, "apiVersion", "apiVersion is required");
                self.diagnostics.push(d);
                None
            }
            Some(Value::String(s)) => Some(s.as_str()),
            Some(_) => {
                let d = cx.diag(Severity::Error, "apiVersion", "apiVersion must be a string");
                self.diagnostics.push(d);
                None
            }
        };
        let kind = match obj.get("kind") {
            None | Some(Value::Null) => {
                let d = cx.diag(Severity::Error, "kind", "kind is required");
                self.diagnostics.push(d);
                None
            }
            Some(Value::String(s)) => match Kind::from_name(s) {
                Some(k) => Some(k),
                None => {
                    let d = cx.diag(
                        Severity::Error,
                        "kind",
                        format!("kind {s} is not supported yet"),
                    );
                    self.diagnostics.push(d);
                    None
                }
            },
            Some(_) => {
                let d = cx.diag(Severity::Error, "kind", "kind must be a string");
                self.diagnostics.push(d);
                None
            }
        };
        if let (Some(k), Some(api)) = (kind, api) {
            if !k.api_versions().contains(&api) {
                let d = cx.diag(
                    Severity::Error,
                    "apiVersion",
                    format!("apiVersion {api} is not accepted for {k}"),
                );
                self.diagnostics.push(d);
            }
        }
        if cx.errors > before {
            return None;
        }
        kind
    }

    fn metadata(&mut self, cx: &mut DocCtx, meta: Option<Value>) -> Option<ObjectMeta> {
        let meta = match meta {
            None | Some(Value::Null) => {
                let d = cx.diag(Severity::Error, "metadata.name", "name is required");
                self.diagnostics.push(d);
                return None;
            }
            Some(m) => m,
        };
        let raw: RawMeta = deserialize_all(&meta, "metadata", cx, &mut self.diagnostics)?;
        let name = raw.name.unwrap_or_default();
        if name.is_empty() {
            let d = cx.diag(Severity::Error, "metadata.name", "name is required");
            self.diagnostics.push(d);
            return None;
        }
        Some(ObjectMeta {
            name,
            namespace: raw
                .namespace
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| "default".to_string()),
            labels: raw.labels,
            annotations: raw.annotations,
        })
    }

    fn check_only(&mut self, kind: Kind, cx: &mut DocCtx, spec: &Value) {
        let out = &mut self.diagnostics;
        match kind {
            Kind::Gateway => drop(deserialize_all::<networking::Gateway>(
                spec, "spec", cx, out,
            )),
            Kind::VirtualService => drop(deserialize_all::<networking::VirtualService>(
                spec, "spec", cx, out,
            )),
            Kind::DestinationRule => drop(deserialize_all::<networking::DestinationRule>(
                spec, "spec", cx, out,
            )),
            Kind::ServiceEntry => drop(deserialize_all::<networking::ServiceEntry>(
                spec, "spec", cx, out,
            )),
            Kind::WorkloadEntry => drop(deserialize_all::<networking::WorkloadEntry>(
                spec, "spec", cx, out,
            )),
            Kind::BackendTrafficPolicy => drop(deserialize_all::<
                envoy_gateway::BackendTrafficPolicy,
            >(spec, "spec", cx, out)),
            Kind::RequestAuthentication => drop(
                deserialize_all::<security::RequestAuthentication>(spec, "spec", cx, out),
            ),
            Kind::AuthorizationPolicy => drop(deserialize_all::<security::AuthorizationPolicy>(
                spec, "spec", cx, out,
            )),
            Kind::Telemetry => drop(deserialize_all::<crate::telemetry::Telemetry>(
                spec, "spec", cx, out,
            )),
        }
    }

    fn typed<T: Spec>(&mut self, mut cx: DocCtx, header: Header, spec: Value) {
        let Some(spec) = deserialize_all::<T>(&spec, "spec", &mut cx, &mut self.diagnostics) else {
            return;
        };
        let res = Resource {
            api_version: header.api_version,
            kind: header.kind,
            meta: header.meta,
            spec,
            source: cx.source,
        };
        let mut out = Vec::new();
        validate::meta(&res, &mut out);
        T::validate(&res, &mut out);
        let failed = cx.errors > 0 || out.iter().any(Diagnostic::is_error);
        self.diagnostics.extend(out);
        if !failed {
            T::slot(&mut self.config).push(res);
        }
    }
}

struct Header {
    api_version: String,
    kind: Kind,
    meta: ObjectMeta,
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

fn unknown_field(name: &str, known: &[&str]) -> String {
    match hint::closest(name, known.iter().copied()) {
        Some(best) => format!("unknown field `{name}`, did you mean `{best}`?"),
        None => format!("unknown field `{name}`"),
    }
}

/// One step of a field path inside a JSON value.
enum Seg {
    Key(String),
    Index(usize),
}

/// Deserializes `value`, reporting every serde error: after each error the offending field is
/// removed and deserialization retried, so one typo does not hide the next. Returns the value
/// only when there was no error.
fn deserialize_all<T: DeserializeOwned>(
    value: &Value,
    prefix: &str,
    cx: &mut DocCtx,
    out: &mut Vec<Diagnostic>,
) -> Option<T> {
    let mut current: Option<Value> = None;
    let mut failed = false;
    for _ in 0..64 {
        let target = current.as_ref().unwrap_or(value);
        let err = match serde_path_to_error::deserialize::<_, T>(target) {
            Ok(t) => return (!failed).then_some(t),
            Err(e) => e,
        };
        failed = true;
        let mut segs: Vec<Seg> = err
            .path()
            .iter()
            .filter_map(|s| match s {
                serde_path_to_error::Segment::Seq { index } => Some(Seg::Index(*index)),
                serde_path_to_error::Segment::Map { key } => Some(Seg::Key(key.clone())),
                serde_path_to_error::Segment::Enum { variant } => Some(Seg::Key(variant.clone())),
                serde_path_to_error::Segment::Unknown => None,
            })
            .collect();
        let raw = err.inner().to_string();
        if let Some(field) = raw
            .strip_prefix("unknown field `")
            .and_then(|r| r.split('`').next())
        {
            if !matches!(segs.last(), Some(Seg::Key(k)) if k == field) {
                segs.push(Seg::Key(field.to_string()));
            }
        }
        let mut at = prefix.to_string();
        for s in &segs {
            at = match s {
                Seg::Key(k) => path::key(&at, k),
                Seg::Index(i) => path::index(&at, *i),
            };
        }
        let d = cx.diag(Severity::Error, &at, hint::improve(&raw));
        out.push(d);
        let mut next = current.take().unwrap_or_else(|| value.clone());
        if !remove_at(&mut next, &segs) {
            break;
        }
        current = Some(next);
    }
    None
}

/// Removes the deepest mapping entry on `segs` (the field that failed, or the list holding it).
fn remove_at(value: &mut Value, segs: &[Seg]) -> bool {
    let Some(last_key) = segs.iter().rposition(|s| matches!(s, Seg::Key(_))) else {
        return false;
    };
    let mut v = value;
    for s in &segs[..last_key] {
        v = match (s, v) {
            (Seg::Key(k), Value::Object(m)) => match m.get_mut(k) {
                Some(x) => x,
                None => return false,
            },
            (Seg::Index(i), Value::Array(a)) => match a.get_mut(*i) {
                Some(x) => x,
                None => return false,
            },
            _ => return false,
        };
    }
    match (&segs[last_key], v) {
        (Seg::Key(k), Value::Object(m)) => m.remove(k).is_some(),
        _ => false,
    }
}

#[cfg(test)]
mod tests;

/// Loads a MeshConfig file (Istio's `mesh` YAML: no apiVersion, kind or metadata) and checks the
/// fields Rampart reads. `None` when it has errors; every problem is in the diagnostics.
pub fn load_mesh(path: &Path) -> (Option<crate::mesh::Mesh>, Vec<Diagnostic>) {
    let file: Arc<str> = Arc::from(path.display().to_string());
    let text = match read_config_file(path) {
        Ok(text) => text,
        Err(e) => {
            let d = Diagnostic::bare(Severity::Error, file, 0, format!("cannot read: {e}"));
            return (None, vec![d]);
        }
    };
    load_mesh_str(file, &text)
}

/// [`load_mesh`] on text already read; `file` names it in diagnostics.
pub fn load_mesh_str(file: Arc<str>, text: &str) -> (Option<crate::mesh::Mesh>, Vec<Diagnostic>) {
    let mut out = Vec::new();
    let parsed = yaml::parse(text);
    if let Some((line, msg)) = parsed.syntax_error {
        let msg = format!("YAML syntax error: {msg}");
        out.push(Diagnostic::bare(Severity::Error, file, line.max(1), msg));
        return (None, out);
    }
    let Some(doc) = parsed.documents.into_iter().find(|d| !d.value.is_null()) else {
        let config = crate::mesh::MeshConfig::default();
        let source = Source::new(file, 1, HashMap::new());
        return (Some(crate::mesh::Mesh { config, source }), out);
    };
    let mut cx = DocCtx {
        source: Source::new(file, doc.line, doc.lines),
        kind: Some("MeshConfig".into()),
        namespace: None,
        name: None,
        errors: 0,
    };
    for (line, at, msg) in doc.problems {
        let mut d = cx.diag(Severity::Error, &at, msg);
        d.line = line;
        out.push(d);
    }
    let config = deserialize_all::<crate::mesh::MeshConfig>(&doc.value, "", &mut cx, &mut out);
    let Some(config) = config.filter(|_| cx.errors == 0) else {
        return (None, out);
    };
    validate::mesh::validate(&config, &mut cx, &mut out);
    let ok = cx.errors == 0;
    let mesh = crate::mesh::Mesh {
        config,
        source: cx.source,
    };
    (ok.then_some(mesh), out)
}
