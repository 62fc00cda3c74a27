//! Istio resources as the user wrote them: YAML loading with line numbers, typed specs that
//! mirror Istio's fields exactly, and Istio's validation rules. Envoy Gateway's
//! `BackendTrafficPolicy` is read too ([`envoy_gateway`]), for active health checks only.
//!
//! Receives: YAML files, directories or text. Hands on: a [`Loaded`] — the valid resources in load
//! order ([`ConfigSet`]) and every [`Diagnostic`] (`file:line: Kind ns/name: field.path: message`)
//! — to `compile` and to `rampart validate`.

mod base64;
mod diag;
mod duration;
pub mod envoy_gateway;
mod hint;
mod load;
pub mod mesh;
pub mod networking;
mod path;
mod resource;
pub mod security;
pub mod telemetry;
mod validate;
mod yaml;

pub use base64::decode_base64;
pub use diag::{Diagnostic, Severity};
pub use duration::parse_duration;
pub use load::{load_mesh, load_mesh_str, load_paths, load_str, ConfigSet, Loaded};
pub use resource::{Kind, ObjectMeta, Resource, Source};
