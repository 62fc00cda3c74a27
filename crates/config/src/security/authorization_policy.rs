//! `AuthorizationPolicy` (`security.istio.io/v1`, `v1beta1`): who may do what.

use serde::Deserialize;

use super::PolicyTargetReference;
use crate::networking::TypeWorkloadSelector;

/// Mirrors `istio.security.v1.AuthorizationPolicy`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct AuthorizationPolicy {
    /// `selector`: workloads the policy applies to (absent: the whole namespace).
    pub selector: Option<TypeWorkloadSelector>,
    /// `targetRef`: a Gateway the policy applies to.
    pub target_ref: Option<PolicyTargetReference>,
    /// `targetRefs`: Gateways the policy applies to.
    pub target_refs: Vec<PolicyTargetReference>,
    /// `rules`: the policy matches a request when any rule does.
    pub rules: Vec<Rule>,
    /// `action`: `ALLOW` (default), `DENY`, `AUDIT` or `CUSTOM`.
    pub action: Option<String>,
    /// `provider`: the external authorizer of a CUSTOM policy.
    pub provider: Option<Provider>,
}

/// Mirrors `AuthorizationPolicy.ExtensionProvider`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct Provider {
    /// `name`: the extension provider's name.
    pub name: String,
}

/// Mirrors `istio.security.v1.Rule`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct Rule {
    /// `from`: sources (any may match); absent = any source.
    pub from: Option<Vec<SourceRule>>,
    /// `to`: operations (any may match); absent = any operation.
    pub to: Option<Vec<OperationRule>>,
    /// `when`: conditions (all must match).
    pub when: Option<Vec<Condition>>,
}

/// Mirrors `Rule.From`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct SourceRule {
    /// `source` (required).
    pub source: Option<Source>,
}

/// Mirrors `Rule.To`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct OperationRule {
    /// `operation` (required).
    pub operation: Option<Operation>,
}

/// Mirrors `istio.security.v1.Source`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct Source {
    /// `principals`: mTLS peer identities.
    pub principals: Option<Vec<String>>,
    /// `notPrincipals`.
    pub not_principals: Option<Vec<String>>,
    /// `requestPrincipals`: JWT `iss/sub`.
    pub request_principals: Option<Vec<String>>,
    /// `notRequestPrincipals`.
    pub not_request_principals: Option<Vec<String>>,
    /// `namespaces`: mTLS peer namespaces.
    pub namespaces: Option<Vec<String>>,
    /// `notNamespaces`.
    pub not_namespaces: Option<Vec<String>>,
    /// `serviceAccounts`: mTLS peer service accounts (`ns/sa` or `sa`).
    pub service_accounts: Option<Vec<String>>,
    /// `notServiceAccounts`.
    pub not_service_accounts: Option<Vec<String>>,
    /// `ipBlocks`: IPs or CIDRs of the TCP peer.
    pub ip_blocks: Option<Vec<String>>,
    /// `notIpBlocks`.
    pub not_ip_blocks: Option<Vec<String>>,
    /// `remoteIpBlocks`: IPs or CIDRs of the original client (X-Forwarded-For).
    pub remote_ip_blocks: Option<Vec<String>>,
    /// `notRemoteIpBlocks`.
    pub not_remote_ip_blocks: Option<Vec<String>>,
}

/// Mirrors `istio.security.v1.Operation`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct Operation {
    /// `hosts`: request hosts (case-insensitive).
    pub hosts: Option<Vec<String>>,
    /// `notHosts`.
    pub not_hosts: Option<Vec<String>>,
    /// `ports`: destination ports, as strings.
    pub ports: Option<Vec<String>>,
    /// `notPorts`.
    pub not_ports: Option<Vec<String>>,
    /// `methods`: HTTP methods.
    pub methods: Option<Vec<String>>,
    /// `notMethods`.
    pub not_methods: Option<Vec<String>>,
    /// `paths`: normalized request paths (exact, `prefix*`, `*suffix`, `*`, or templates).
    pub paths: Option<Vec<String>>,
    /// `notPaths`.
    pub not_paths: Option<Vec<String>>,
}

/// Mirrors `istio.security.v1.Condition`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct Condition {
    /// `key`: the attribute (`request.headers[x]`, `remote.ip`, …).
    pub key: String,
    /// `values`: any may match.
    pub values: Option<Vec<String>>,
    /// `notValues`: none may match.
    pub not_values: Option<Vec<String>>,
}
