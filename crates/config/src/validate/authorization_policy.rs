//! AuthorizationPolicy validation (istio/pkg/config/validation `ValidateAuthorizationPolicy`).
//! Path templates are checked by `compile`, which parses them into matchers.

use super::request_authentication::binding;
use super::{header_name, ip_subnet, Check};
use crate::diag::Diagnostic;
use crate::resource::Resource;
use crate::security::{AuthorizationPolicy, Condition, Operation, Rule, Source};

/// `when` keys Istio supports, besides `request.headers[...]` and `request.auth.claims[...]`.
const KEYS: [&str; 13] = [
    "source.ip",
    "remote.ip",
    "source.namespace",
    "source.principal",
    "source.serviceAccount",
    "source.trustDomain",
    "request.auth.principal",
    "request.auth.audiences",
    "request.auth.presenter",
    "destination.ip",
    "destination.port",
    "connection.sni",
    "request.auth.claims",
];

/// Checks one AuthorizationPolicy.
pub fn validate(res: &Resource<AuthorizationPolicy>, out: &mut Vec<Diagnostic>) {
    let mut c = Check::new(res, out);
    let spec = &res.spec;
    binding(
        &mut c,
        spec.selector.as_ref(),
        spec.target_ref.as_ref(),
        &spec.target_refs,
    );
    let action = spec.action.as_deref().unwrap_or("ALLOW");
    match action {
        "ALLOW" | "DENY" | "AUDIT" => {}
        "CUSTOM" => {
            if spec.provider.as_ref().is_none_or(|p| p.name.is_empty()) {
                c.err(
                    "spec.provider.name",
                    "a CUSTOM policy needs provider.name (an extensionProviders entry of the MeshConfig)",
                );
            }
        }
        other => c.err(
            "spec.action",
            format!("action {other:?} is not one of ALLOW, DENY, AUDIT, CUSTOM"),
        ),
    }
    if spec.provider.is_some() && action != "CUSTOM" {
        c.err(
            "spec.provider",
            "provider must not be set for ALLOW, DENY and AUDIT actions",
        );
    }
    if spec.rules.is_empty() && matches!(action, "DENY" | "AUDIT" | "CUSTOM") {
        c.err(
            "spec.rules",
            format!("a policy with action {action} must have rules: use rules: [{{}}] to match every request"),
        );
    }
    for (i, rule) in spec.rules.iter().enumerate() {
        check_rule(&mut c, &format!("spec.rules[{i}]"), rule);
    }
}

fn check_rule<T>(c: &mut Check<'_, T>, at: &str, rule: &Rule) {
    if let Some(from) = &rule.from {
        if from.is_empty() {
            c.err(&format!("{at}.from"), "from must not be empty");
        }
        for (i, f) in from.iter().enumerate() {
            let p = format!("{at}.from[{i}].source");
            match &f.source {
                Some(s) if *s != Source::default() => check_source(c, &p, s),
                _ => c.err(&p, "source must not be empty"),
            }
        }
    }
    if let Some(to) = &rule.to {
        if to.is_empty() {
            c.err(&format!("{at}.to"), "to must not be empty");
        }
        for (i, t) in to.iter().enumerate() {
            let p = format!("{at}.to[{i}].operation");
            match &t.operation {
                Some(o) if *o != Operation::default() => check_operation(c, &p, o),
                _ => c.err(&p, "operation must not be empty"),
            }
        }
    }
    if let Some(when) = &rule.when {
        for (i, cond) in when.iter().enumerate() {
            check_condition(c, &format!("{at}.when[{i}]"), cond);
        }
    }
}

/// Every value of a list: non-empty, and `check` passes.
fn values<T>(
    c: &mut Check<'_, T>,
    at: &str,
    field: &str,
    list: &Option<Vec<String>>,
    check: impl Fn(&str) -> Result<(), String>,
) {
    let Some(list) = list else { return };
    for (i, v) in list.iter().enumerate() {
        let p = format!("{at}.{field}[{i}]");
        if v.is_empty() {
            c.err(&p, "empty value is not allowed, found in rule");
        } else {
            c.check(&p, check(v));
        }
    }
}

fn any(_: &str) -> Result<(), String> {
    Ok(())
}

fn port_value(v: &str) -> Result<(), String> {
    match v.parse::<u32>() {
        Ok(n) if n <= 65535 => Ok(()),
        _ => Err(format!("port {v:?} must be a number in the range 0..65535")),
    }
}

fn check_source<T>(c: &mut Check<'_, T>, at: &str, s: &Source) {
    for (field, list) in [
        ("principals", &s.principals),
        ("notPrincipals", &s.not_principals),
        ("requestPrincipals", &s.request_principals),
        ("notRequestPrincipals", &s.not_request_principals),
        ("namespaces", &s.namespaces),
        ("notNamespaces", &s.not_namespaces),
    ] {
        values(c, at, field, list, any);
    }
    for (field, list) in [
        ("serviceAccounts", &s.service_accounts),
        ("notServiceAccounts", &s.not_service_accounts),
    ] {
        values(c, at, field, list, |v| {
            if v.contains('*') {
                Err(format!("service account {v:?} must not contain wildcards"))
            } else {
                Ok(())
            }
        });
    }
    let accounts = s.service_accounts.is_some() || s.not_service_accounts.is_some();
    let others = s.principals.is_some()
        || s.not_principals.is_some()
        || s.namespaces.is_some()
        || s.not_namespaces.is_some();
    if accounts && others {
        c.err(
            &format!("{at}.serviceAccounts"),
            "serviceAccounts cannot be set with principals or namespaces",
        );
    }
    for (field, list) in [
        ("ipBlocks", &s.ip_blocks),
        ("notIpBlocks", &s.not_ip_blocks),
        ("remoteIpBlocks", &s.remote_ip_blocks),
        ("notRemoteIpBlocks", &s.not_remote_ip_blocks),
    ] {
        values(c, at, field, list, ip_subnet);
    }
}

fn check_operation<T>(c: &mut Check<'_, T>, at: &str, o: &Operation) {
    for (field, list) in [
        ("hosts", &o.hosts),
        ("notHosts", &o.not_hosts),
        ("methods", &o.methods),
        ("notMethods", &o.not_methods),
        ("paths", &o.paths),
        ("notPaths", &o.not_paths),
    ] {
        values(c, at, field, list, any);
    }
    values(c, at, "ports", &o.ports, port_value);
    values(c, at, "notPorts", &o.not_ports, port_value);
}

/// The attribute a `when` key names, if Istio supports it.
fn known_key(key: &str) -> Result<(), String> {
    if let Some(rest) = key.strip_prefix("request.headers[") {
        return match rest.strip_suffix(']') {
            Some(name) if !name.is_empty() => header_name(name),
            _ => Err(format!(
                "invalid header key {key:?}: use request.headers[<name>]"
            )),
        };
    }
    if let Some(rest) = key.strip_prefix("request.auth.claims[") {
        let ok = rest.ends_with(']')
            && rest[..rest.len() - 1]
                .split("][")
                .all(|part| !part.is_empty() && !part.contains(['[', ']']));
        return if ok {
            Ok(())
        } else {
            Err(format!(
                "invalid claim key {key:?}: use request.auth.claims[<claim>] or request.auth.claims[<a>][<b>]"
            ))
        };
    }
    if key.starts_with("experimental.envoy.filters.") {
        return Err(format!(
            "key {key:?}: Envoy dynamic metadata is not supported by Rampart"
        ));
    }
    if matches!(
        key,
        "destination.namespace" | "destination.user" | "destination.name"
    ) || key.starts_with("destination.labels")
    {
        return Err(format!(
            "key {key:?} is not supported: use the policy's selector"
        ));
    }
    if KEYS.contains(&key) && key != "request.auth.claims" {
        Ok(())
    } else {
        Err(format!("unknown attribute {key:?}"))
    }
}

fn check_condition<T>(c: &mut Check<'_, T>, at: &str, cond: &Condition) {
    if cond.key.is_empty() {
        c.err(&format!("{at}.key"), "key is required");
        return;
    }
    if let Err(e) = known_key(&cond.key) {
        c.err(&format!("{at}.key"), e);
        return;
    }
    if cond.values.is_none() && cond.not_values.is_none() {
        c.err(at, "at least one of values or notValues must be set");
    }
    let check: fn(&str) -> Result<(), String> = match cond.key.as_str() {
        "source.ip" | "remote.ip" | "destination.ip" => ip_subnet,
        "destination.port" => port_value,
        _ => any,
    };
    values(c, at, "values", &cond.values, check);
    values(c, at, "notValues", &cond.not_values, check);
}
