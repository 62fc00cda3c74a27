//! RequestAuthentication and AuthorizationPolicy: Istio's validation rules, each located by line
//! and field path.

use super::{clean, expect, expect_warn};

/// A security document whose spec body (indented two spaces) starts at line 5.
fn sec(kind: &str, body: &str) -> String {
    format!("apiVersion: security.istio.io/v1\nkind: {kind}\nmetadata: {{name: t, namespace: ns}}\nspec:\n{body}")
}

fn ap(body: &str) -> String {
    sec("AuthorizationPolicy", body)
}

fn ra(body: &str) -> String {
    sec("RequestAuthentication", body)
}

#[test]
fn istio_task_policies_are_clean() {
    clean(&ap("  {}\n"));
    clean(&ap("  rules: [{}]\n"));
    clean(&ap(
        "  selector: {matchLabels: {istio: ingressgateway}}\n  action: DENY\n  rules:\n  - from: [{source: {notRequestPrincipals: [\"*\"]}}]\n    to: [{operation: {paths: [\"/admin/{**}\"], ports: [\"8080\"]}}]\n    when: [{key: \"request.auth.claims[groups]\", values: [g1]}, {key: remote.ip, notValues: [10.0.0.0/8]}]\n",
    ));
    clean(&ra(
        "  jwtRules:\n  - issuer: testing@secure.istio.io\n    jwksUri: https://example.com/jwks.json\n    fromHeaders: [{name: x-jwt, prefix: \"Bearer \"}]\n    outputClaimToHeaders: [{header: x-sub, claim: sub}]\n    timeout: 3s\n",
    ));
}

#[test]
fn authorization_policy_rules() {
    expect(&ap("  action: ALLOWED\n"), 5, "spec.action", "not one of");
    clean(&ap(
        "  action: CUSTOM\n  provider: {name: ext}\n  rules: [{}]\n",
    ));
    expect(
        &ap("  action: CUSTOM\n  rules: [{}]\n"),
        4,
        "spec.provider.name",
        "needs provider.name",
    );
    expect(
        &ap("  action: CUSTOM\n  provider: {name: ext}\n"),
        4,
        "spec.rules",
        "must have rules",
    );
    expect(
        &ap("  provider: {name: ext}\n"),
        5,
        "spec.provider",
        "must not be set",
    );
    expect(&ap("  action: DENY\n"), 4, "spec.rules", "must have rules");
    expect(
        &ap("  rules:\n  - from: []\n"),
        6,
        "spec.rules[0].from",
        "must not be empty",
    );
    expect(
        &ap("  rules:\n  - from: [{source: {}}]\n"),
        6,
        "spec.rules[0].from[0].source",
        "must not be empty",
    );
    expect(
        &ap("  rules:\n  - to: [{operation: {}}]\n"),
        6,
        "spec.rules[0].to[0].operation",
        "must not be empty",
    );
    expect(
        &ap("  rules:\n  - from: [{source: {ipBlocks: [\"1.2.3.4/33\"]}}]\n"),
        6,
        "spec.rules[0].from[0].source.ipBlocks[0]",
        "not a valid CIDR",
    );
    expect(
        &ap("  rules:\n  - from: [{source: {serviceAccounts: [ns/sa], principals: [p]}}]\n"),
        6,
        "spec.rules[0].from[0].source.serviceAccounts",
        "cannot be set with principals",
    );
    expect(
        &ap("  rules:\n  - to: [{operation: {ports: [\"99999\"]}}]\n"),
        6,
        "spec.rules[0].to[0].operation.ports[0]",
        "0..65535",
    );
    expect(
        &ap("  rules:\n  - to: [{operation: {methods: [\"\"]}}]\n"),
        6,
        "spec.rules[0].to[0].operation.methods[0]",
        "empty value",
    );
    expect(
        &ap("  rules:\n  - when: [{key: request.colour, values: [x]}]\n"),
        6,
        "spec.rules[0].when[0].key",
        "unknown attribute",
    );
    expect(
        &ap("  rules:\n  - when: [{key: \"destination.labels[app]\", values: [x]}]\n"),
        6,
        "spec.rules[0].when[0].key",
        "selector",
    );
    expect(
        &ap("  rules:\n  - when: [{key: \"request.headers[x-a]\"}]\n"),
        6,
        "spec.rules[0].when[0]",
        "values or notValues",
    );
    expect(
        &ap("  rules:\n  - when: [{key: source.ip, values: [nope]}]\n"),
        6,
        "spec.rules[0].when[0].values[0]",
        "not a valid IP",
    );
    expect(
        &ap("  selector: {matchLabels: {app: x}}\n  targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: g}]\n"),
        4,
        "spec",
        "only one of",
    );
    expect(
        &ap("  targetRef: {group: networking.istio.io, kind: VirtualService, name: g}\n"),
        5,
        "spec.targetRef.kind",
        "use Gateway",
    );
    expect(
        &ap("  rules: [{to: [{operation: {paths: [/a]}}], bogus: 1}]\n"),
        5,
        "spec.rules[0].bogus",
        "unknown field",
    );
}

#[test]
fn request_authentication_rules() {
    expect(
        &ra("  jwtRules: [{jwks: '{\"keys\": []}'}]\n"),
        5,
        "spec.jwtRules[0].issuer",
        "issuer must be set",
    );
    expect(
        &ra("  jwtRules: [{issuer: a}]\n"),
        5,
        "spec.jwtRules[0].jwksUri",
        "OpenID discovery",
    );
    expect(
        &ra("  jwtRules: [{issuer: a, jwksUri: \"ftp://x\"}]\n"),
        5,
        "spec.jwtRules[0].jwksUri",
        "http:// or https://",
    );
    expect(
        &ra("  jwtRules: [{issuer: a, jwks: 'not json'}]\n"),
        5,
        "spec.jwtRules[0].jwks",
        "not valid JSON",
    );
    expect_warn(
        &ra("  jwtRules: [{issuer: a, jwks: '{\"keys\": []}', jwksUri: \"https://x/k\"}]\n"),
        5,
        "spec.jwtRules[0].jwks",
        "inline jwks is used",
    );
    expect(
        &ra("  jwtRules:\n  - issuer: a\n    jwksUri: https://x/k\n    fromHeaders: [{name: \"\"}]\n"),
        8,
        "spec.jwtRules[0].fromHeaders[0].name",
        "required",
    );
    expect(
        &ra("  jwtRules:\n  - issuer: a\n    jwksUri: https://x/k\n    outputClaimToHeaders: [{header: x-a, claim: sub}, {header: X-A, claim: iss}]\n"),
        8,
        "spec.jwtRules[0].outputClaimToHeaders[1].header",
        "duplicate",
    );
    expect_warn(
        &ra("  jwtRules: [{issuer: a, jwksUri: \"http://169.254.169.254/keys\"}]\n"),
        5,
        "spec.jwtRules[0].jwksUri",
        "link-local",
    );
    expect(
        &ra("  jwtRules:\n  - issuer: a\n    jwksUri: https://x/k\n    timeout: soon\n"),
        8,
        "spec.jwtRules[0].timeout",
        "",
    );
}
