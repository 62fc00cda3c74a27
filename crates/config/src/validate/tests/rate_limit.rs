//! BackendTrafficPolicy `rateLimit`: Envoy Gateway's documented examples load clean; each rule
//! of its CRD and translator, and Rampart's own, is reported at its field.

use super::{clean, diags, expect};
use crate::load_str;

/// A policy whose spec body (indented two spaces) starts at line 5.
fn btp(body: &str) -> String {
    format!("apiVersion: gateway.envoyproxy.io/v1alpha1\nkind: BackendTrafficPolicy\nmetadata: {{name: t, namespace: ns}}\nspec:\n{body}")
}

/// Lines 5-6: a VirtualService target.
const TARGET: &str =
    "  targetRefs:\n  - {group: networking.istio.io, kind: VirtualService, name: api}\n";

/// A policy with `rateLimit` (line 7) whose body, indented four spaces, starts at line 8.
fn rl(body: &str) -> String {
    btp(&format!("{TARGET}  rateLimit:\n{body}"))
}

/// A local policy with one rule whose body (indented 8 spaces, after `- `) starts at line 10.
fn local_rule(rule: &str) -> String {
    rl(&format!("    local:\n      rules:\n      - {rule}"))
}

#[test]
fn envoy_gateway_examples_load_clean() {
    // "Local Rate Limit": a specific user, unless in the test org.
    let local = rl("    type: Local
    local:
      rules:
      - clientSelectors:
        - headers:
          - name: x-user-id
            value: one
          - name: x-org-id
            value: test
            invert: true
        limit:
          requests: 3
          unit: Hour
");
    clean(&local);
    // "Global Rate Limit": distinct users, a CIDR, methods and path, and a shared rule.
    let global = rl("    type: Global
    global:
      rules:
      - clientSelectors:
        - headers:
          - type: Distinct
            name: x-user-id
        limit: {requests: 3, unit: Hour}
      - clientSelectors:
        - sourceCIDR: {type: Distinct, value: 0.0.0.0/0}
          methods: [{value: GET}, {value: POST, invert: true}]
          path: {type: Exact, value: /get}
        limit: {requests: 10, unit: Minute}
        shared: true
        shadowMode: false
        xRateLimitHeaders: Off
      - clientSelectors:
        - headers: [{type: RegularExpression, name: x-user-id, value: 'user-[0-9]+'}]
          path: {type: RegularExpression, value: '/api/.*'}
        limit: {requests: 1, unit: Day}
");
    clean(&global);
    let loaded = load_str("t.yaml", &global);
    let spec = loaded.config.backend_traffic_policies[0]
        .spec
        .rate_limit
        .clone()
        .unwrap();
    let (g, l) = spec.effective();
    assert!(l.is_none());
    let rules = &g.unwrap().rules;
    assert_eq!(rules.len(), 3);
    assert_eq!(rules[0].client_selectors[0].headers[0].kind(), "Distinct");
    assert_eq!(rules[1].limit.requests, 10);
    assert_eq!(rules[1].shared, Some(true));
    let sel = &rules[1].client_selectors[0];
    assert_eq!(sel.source_cidr.as_ref().unwrap().value, "0.0.0.0/0");
    assert_eq!(sel.path.as_ref().unwrap().kind(), "Exact");
    // Without `type`, both sections apply; a Gateway target is accepted too.
    let both = btp(
        "  targetRefs: [{group: networking.istio.io, kind: Gateway, name: gw}]
  rateLimit:
    local:
      rules: [{limit: {requests: 100, unit: Second}}]
    global:
      rules: [{limit: {requests: 1000, unit: Minute}}]
",
    );
    clean(&both);
}

#[test]
fn type_and_sections_must_agree() {
    expect(
        &rl("    type: Global\n"),
        7,
        "spec.rateLimit.global",
        "global is required with type Global",
    );
    expect(
        &rl("    type: Local\n    local: {rules: [{limit: {requests: 1, unit: Second}}]}\n    global: {rules: [{limit: {requests: 1, unit: Second}}]}\n"),
        10,
        "spec.rateLimit.global",
        "global must not be set with type Local",
    );
    expect(
        &rl("    type: Both\n"),
        8,
        "spec.rateLimit.type",
        "type \"Both\" must be Global or Local",
    );
    expect(
        &rl("    {}\n"),
        7,
        "spec.rateLimit",
        "one of global or local is required",
    );
    expect(
        &rl("    local: {rules: []}\n"),
        8,
        "spec.rateLimit.local.rules",
        "rules must not be empty",
    );
}

#[test]
fn limits_and_units() {
    expect(
        &local_rule("limit: {requests: 0, unit: Second}\n"),
        10,
        "spec.rateLimit.local.rules[0].limit.requests",
        "requests must be at least 1",
    );
    expect(
        &local_rule("limit: {requests: 5, unit: Fortnight}\n"),
        10,
        "spec.rateLimit.local.rules[0].limit.unit",
        "unit \"Fortnight\" must be Second, Minute, Hour, Day, Month or Year",
    );
    expect(
        &local_rule("limit: {requests: 5}\n"),
        10,
        "spec.rateLimit.local.rules[0].limit.unit",
        "unit is required",
    );
}

#[test]
fn header_matches() {
    let h = |h: &str| {
        local_rule(&format!(
            "clientSelectors: [{{headers: [{h}]}}]\n        limit: {{requests: 1, unit: Second}}\n"
        ))
    };
    expect(
        &h("{name: x-user, type: Distinct, value: a}"),
        10,
        "spec.rateLimit.local.rules[0].clientSelectors[0].headers[0].value",
        "value must not be set with type Distinct",
    );
    expect(
        &h("{name: x-user, type: Distinct, invert: true}"),
        10,
        "spec.rateLimit.local.rules[0].clientSelectors[0].headers[0].invert",
        "invert is not applicable with type Distinct",
    );
    expect(
        &h("{name: x-user}"),
        10,
        "spec.rateLimit.local.rules[0].clientSelectors[0].headers[0].value",
        "value is required with type Exact",
    );
    expect(
        &h("{name: x-user, type: RegularExpression, value: '(unclosed'}"),
        10,
        "spec.rateLimit.local.rules[0].clientSelectors[0].headers[0].value",
        "regex",
    );
    expect(
        &h("{name: x-user, type: Prefix, value: a}"),
        10,
        "spec.rateLimit.local.rules[0].clientSelectors[0].headers[0].type",
        "must be Exact, RegularExpression or Distinct",
    );
    expect(
        &h("{name: 'bad name', value: a}"),
        10,
        "spec.rateLimit.local.rules[0].clientSelectors[0].headers[0].name",
        "",
    );
}

#[test]
fn other_selectors() {
    let s = |s: &str| {
        local_rule(&format!(
            "clientSelectors: [{s}]\n        limit: {{requests: 1, unit: Second}}\n"
        ))
    };
    let at = "spec.rateLimit.local.rules[0].clientSelectors[0]";
    expect(
        &s("{}"),
        10,
        at,
        "at least one of headers, methods, path or sourceCIDR must be specified",
    );
    expect(
        &s("{sourceCIDR: {value: 10.0.0.1}}"),
        10,
        &format!("{at}.sourceCIDR.value"),
        "is not a CIDR block",
    );
    expect(
        &s("{sourceCIDR: {value: 10.0.0.0/33}}"),
        10,
        &format!("{at}.sourceCIDR.value"),
        "not a valid CIDR block",
    );
    expect(
        &s("{sourceCIDR: {type: Range, value: 10.0.0.0/8}}"),
        10,
        &format!("{at}.sourceCIDR.type"),
        "must be Exact or Distinct",
    );
    expect(
        &s("{methods: [{value: FETCH}]}"),
        10,
        &format!("{at}.methods[0].value"),
        "method \"FETCH\" must be one of",
    );
    expect(
        &s("{path: {value: api}}"),
        10,
        &format!("{at}.path.value"),
        "path must start with /",
    );
    expect(
        &s("{path: {type: RegularExpression, value: '['}}"),
        10,
        &format!("{at}.path.value"),
        "regex",
    );
    expect(
        &s("{queryParams: [{name: a}]}"),
        10,
        &format!("{at}.queryParams"),
        "queryParams is not supported by Rampart yet",
    );
}

#[test]
fn local_only_and_unsupported_fields() {
    let two_defaults = rl("    local:
      rules:
      - limit: {requests: 10, unit: Second}
      - limit: {requests: 20, unit: Second}
");
    expect(
        &two_defaults,
        11,
        "spec.rateLimit.local.rules[1].clientSelectors",
        "can not have more than one rule without clientSelectors",
    );
    let units = rl("    local:
      rules:
      - limit: {requests: 10, unit: Minute}
      - clientSelectors: [{methods: [{value: GET}]}]
        limit: {requests: 1, unit: Second}
");
    expect(
        &units,
        12,
        "spec.rateLimit.local.rules[1].limit.unit",
        "must be a multiple of the unit of the rule without clientSelectors",
    );
    expect(
        &local_rule("limit: {requests: 1, unit: Second}\n        shadowMode: true\n"),
        11,
        "spec.rateLimit.local.rules[0].shadowMode",
        "shadowMode is only supported for global rate limits",
    );
    expect(
        &local_rule("limit: {requests: 1, unit: Second}\n        cost: {request: {from: Number, number: 2}}\n"),
        11,
        "spec.rateLimit.local.rules[0].cost",
        "cost is not supported by Rampart",
    );
    expect(
        &local_rule("limit: {requests: 1, unit: Second, fromMetadata: {namespace: a, key: b}}\n"),
        10,
        "spec.rateLimit.local.rules[0].limit.fromMetadata",
        "fromMetadata is not supported by Rampart",
    );
    expect(
        &local_rule("limit: {requests: 1, unit: Second}\n        xRateLimitHeaders: Draft\n"),
        11,
        "spec.rateLimit.local.rules[0].xRateLimitHeaders",
        "must be Off or DraftVersion03",
    );
}

#[test]
fn targets_are_gateways_or_virtual_services() {
    let doc = btp("  targetRefs:
  - {group: networking.istio.io, kind: ServiceEntry, name: api}
  - {group: gateway.networking.k8s.io, kind: HTTPRoute, name: r}
  rateLimit:
    local: {rules: [{limit: {requests: 1, unit: Second}}]}
  healthCheck: {active: {type: TCP}}
");
    expect(
        &doc,
        6,
        "spec.targetRefs[0].kind",
        "kind \"ServiceEntry\" is not supported with rateLimit: use Gateway or VirtualService",
    );
    expect(
        &doc,
        7,
        "spec.targetRefs[1].group",
        "Rampart targets networking.istio.io Gateway or VirtualService",
    );
    expect(
        &doc,
        10,
        "spec.healthCheck",
        "put them in separate BackendTrafficPolicies",
    );
    assert_eq!(diags(&doc).len(), 4, "{:?}", diags(&doc));
}
