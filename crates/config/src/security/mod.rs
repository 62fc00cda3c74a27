//! Istio's `security.istio.io` kinds that a gateway enforces: `RequestAuthentication` (JWT) and
//! `AuthorizationPolicy`. Types mirror istio/api `security/v1` field for field.

mod authorization_policy;
mod request_authentication;

pub use authorization_policy::{
    AuthorizationPolicy, Condition, Operation, OperationRule, Provider, Rule, Source, SourceRule,
};
pub use request_authentication::{ClaimToHeader, JwtHeader, JwtRule, RequestAuthentication};

use serde::Deserialize;

/// Mirrors `istio.type.v1beta1.PolicyTargetReference` (`targetRef` / `targetRefs`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct PolicyTargetReference {
    /// `group`: API group of the target (`networking.istio.io` or `gateway.networking.k8s.io`).
    pub group: String,
    /// `kind`: `Gateway` (the only kind a gateway can be targeted by).
    pub kind: String,
    /// `name`: the target's name.
    pub name: String,
    /// `namespace`: must be the policy's namespace when set.
    pub namespace: Option<String>,
}
