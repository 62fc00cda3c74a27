//! The verified caller: the `request.auth.*` attributes that authorization and routing read.
//!
//! Built by `authenticator` from a token that passed every check; handed to the proxy inside
//! [`crate::Outcome::Authenticated`].

use std::sync::Arc;

use serde_json::{Map, Value};

/// Claims Istio always splits on spaces for `request.auth.claims[...]`.
const ALWAYS_SPACE_DELIMITED: [&str; 2] = ["scope", "permission"];

/// The identity a verified JWT carries.
#[derive(Clone, Debug)]
pub struct Identity {
    /// `request.auth.principal`: `<iss>/<sub>`; empty when the token lacks `iss` or `sub`
    /// (then `requestPrincipals: ["*"]` does not match, as in Istio).
    pub principal: String,
    /// `iss` (empty when absent; possible only for a rule without `issuer`).
    pub issuer: String,
    /// `sub` (empty when absent).
    pub subject: String,
    /// `request.auth.audiences`: the token's `aud`, as written.
    pub audiences: Vec<String>,
    /// `request.auth.presenter`: `azp`, when it is a string.
    pub presenter: Option<String>,
    /// `request.auth.claims`: the whole verified payload.
    pub claims: Map<String, Value>,
    /// The rule's `spaceDelimitedClaims` (beyond `scope` and `permission`).
    pub(crate) space_delimited: Arc<[Box<str>]>,
}

impl Identity {
    /// The claim at `path` (`["realm_access", "roles"]` for `request.auth.claims[realm_access][roles]`).
    pub fn claim(&self, path: &[&str]) -> Option<&Value> {
        let (first, rest) = path.split_first()?;
        rest.iter()
            .try_fold(self.claims.get(*first)?, |value, name| value.get(*name))
    }

    /// The string values of `request.auth.claims[a][b]…`, as Istio's authorization matches
    /// them: a string claim gives itself, a list claim every string element, and a
    /// space-delimited claim (`scope`, `permission`, or one named in `spaceDelimitedClaims`,
    /// by top-level name or dotted path) each space-separated word. Numbers, booleans and
    /// objects give nothing.
    pub fn claim_values(&self, path: &[&str]) -> Vec<&str> {
        let Some(value) = self.claim(path) else {
            return Vec::new();
        };
        let strings: Vec<&str> = match value {
            Value::String(s) => vec![s.as_str()],
            Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        if self.is_space_delimited(path) {
            strings
                .into_iter()
                .flat_map(|s| s.split(' ').filter(|w| !w.is_empty()))
                .collect()
        } else {
            strings
        }
    }

    fn is_space_delimited(&self, path: &[&str]) -> bool {
        if let [single] = path {
            if ALWAYS_SPACE_DELIMITED.contains(single) {
                return true;
            }
        }
        self.space_delimited.iter().any(|claim| {
            let mut parts = claim.split('.');
            path.iter().all(|p| parts.next() == Some(*p)) && parts.next().is_none()
        })
    }
}

#[cfg(test)]
mod tests;
