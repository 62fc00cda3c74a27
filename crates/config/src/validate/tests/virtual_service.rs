//! VirtualService rules.

use super::{clean, doc, expect, expect_warn};

/// A gateway-bound VS whose first http route body starts at line 9 (`  - ` prefix given).
pub(super) fn vs(http: &str) -> String {
    doc(
        "VirtualService",
        &format!(
            "  hosts: [a.example.com]\n  gateways: [gw]\n  exportTo: [\"*\"]\n  http:\n{http}"
        ),
    )
}

pub(super) const DEST: &str = "    route: [{destination: {host: b.example.com}}]\n";

#[test]
fn needs_some_route_kind() {
    expect(
        &doc("VirtualService", "  hosts: [a.example.com]\n"),
        4,
        "spec",
        "http, tcp or tls must be provided in virtual service",
    );
}

#[test]
fn delegate_rules() {
    let t = doc(
        "VirtualService",
        "  gateways: [gw]\n  tcp:\n  - route: [{destination: {host: b.example.com}}]\n",
    );
    expect(
        &t,
        5,
        "spec.gateways",
        "delegate virtual service must have no gateways specified",
    );
    expect(
        &t,
        6,
        "spec.tcp",
        "delegate virtual service must have no tcp route specified",
    );
    let t = doc("VirtualService", "  http:\n  - delegate: {name: x}\n");
    expect(
        &t,
        6,
        "spec.http[0].delegate",
        "delegate HTTP route cannot contain delegate",
    );
    let t = vs("  - delegate: {name: x}\n    redirect: {uri: /x}\n");
    expect(
        &t,
        10,
        "spec.http[0].redirect",
        "root HTTP route  must not specify redirect",
    );
}

#[test]
fn host_rules() {
    let t = doc(
        "VirtualService",
        &format!(
            "  hosts: [\"*\", \"bad_host\", \"a.example.com\", \"*.example.com\"]\n  http:\n  -{}",
            &DEST[3..]
        ),
    );
    expect(
        &t,
        5,
        "spec.hosts[0]",
        "wildcard host * is not allowed for virtual services bound to the mesh gateway",
    );
    expect(&t, 5, "spec.hosts[1]", "domain name \"bad_host\" invalid");
    let t = doc(
        "VirtualService",
        &format!(
            "  hosts: [\"a.example.com\", \"*.example.com\"]\n  http:\n  -{}",
            &DEST[3..]
        ),
    );
    expect(
        &t,
        5,
        "spec.hosts[1]",
        "duplicate hosts in virtual service: a.example.com & *.example.com",
    );
    clean(&doc(
        "VirtualService",
        &format!(
            "  hosts: [\"*\"]\n  gateways: [gw]\n  http:\n  -{}",
            &DEST[3..]
        ),
    ));
}

#[test]
fn gateway_reference_rules() {
    let t = doc(
        "VirtualService",
        &format!(
            "  hosts: [a.example.com]\n  gateways:\n  - gw.prod\n  - Bad/gw\n  http:\n  -{}",
            &DEST[3..]
        ),
    );
    expect_warn(&t, 7, "spec.gateways[0]", "using legacy gatewayName format \"gw.prod\"; prefer the <namespace>/<name> format: \"prod/gw\"");
    expect(
        &t,
        8,
        "spec.gateways[1]",
        "invalid value for namespace: \"Bad\"",
    );
}

#[test]
fn jwt_claim_routing_needs_gateway() {
    let t = doc("VirtualService", &format!("  hosts: [a.example.com]\n  http:\n  - match:\n    - headers:\n        \"@request.auth.claims.group\": {{exact: admin}}\n{DEST}"));
    expect(
        &t,
        9,
        "spec.http[0].match[0].headers[\"@request.auth.claims.group\"]",
        "JWT claim based routing (key: @request.auth.claims.group) is only supported for gateway",
    );
    clean(&vs(&format!("  - match:\n    - headers:\n        \"@request.auth.claims.group\": {{exact: admin}}\n{DEST}")));
}

#[test]
fn destination_rules() {
    let t = vs("  - route:\n    - destination: {host: \"*\"}\n    - destination: {host: b.example.com, subset: V1, port: {number: 0}}\n    - weight: 1\n");
    expect(
        &t,
        10,
        "spec.http[0].route[0].destination.host",
        "invalid destination host *",
    );
    expect(
        &t,
        11,
        "spec.http[0].route[1].destination.subset",
        "subset name is invalid: V1",
    );
    expect(
        &t,
        11,
        "spec.http[0].route[1].destination.port.number",
        "port number 0 must be in the range 1..65535",
    );
    expect(&t, 12, "spec.http[0].route[2]", "destination is required");
}

#[test]
fn weight_rules() {
    let t = vs("  - route:\n    - destination: {host: b.example.com}\n      weight: -1\n    - destination: {host: c.example.com}\n      weight: 1\n");
    expect(&t, 11, "spec.http[0].route[0].weight", "weight -1 < 0");
    let t = vs("  - route:\n    - destination: {host: b.example.com}\n      weight: 0\n    - destination: {host: c.example.com}\n      weight: 0\n");
    expect(&t, 9, "spec.http[0].route", "total destination weight = 0");
    clean(&vs("  - route:\n    - destination: {host: b.example.com}\n      weight: 1\n    - destination: {host: c.example.com}\n      weight: 3\n"));
}

#[test]
fn tls_route_rules() {
    let t = doc("VirtualService", "  hosts: [a.example.com]\n  gateways: [gw]\n  tls:\n  - match:\n    - sniHosts: [b.example.com, 10.0.0.1]\n    - port: 443\n  - route: [{destination: {host: a.example.com}}]\n");
    expect(&t, 9, "spec.tls[0].match[0].sniHosts[0]", "SNI host \"b.example.com\" is not a compatible subset of any of the virtual service hosts: [a.example.com]");
    expect_warn(
        &t,
        9,
        "spec.tls[0].match[0].sniHosts[1]",
        "using an IP address (\"10.0.0.1\") goes against SNI spec",
    );
    expect(
        &t,
        10,
        "spec.tls[0].match[1].sniHosts",
        "TLS match must have at least one SNI host",
    );
    expect(&t, 8, "spec.tls[0].route", "TLS route is required");
    expect(
        &t,
        11,
        "spec.tls[1].match",
        "TLS route must have at least one match condition",
    );
}

#[test]
fn tcp_route_rules() {
    let t = doc(
        "VirtualService",
        "  hosts: [a.example.com]\n  tcp:\n  - match:\n    - destinationSubnets: [10.0.0.0/33]\n",
    );
    expect(
        &t,
        8,
        "spec.tcp[0].match[0].destinationSubnets[0]",
        "10.0.0.0/33 is not a valid CIDR block",
    );
    expect(&t, 7, "spec.tcp[0].route", "TCP route is required");
}

#[test]
fn export_to_rules() {
    let t = doc(
        "VirtualService",
        &format!(
            "  hosts: [a.example.com]\n  exportTo: [ns, \".\", \"*\", \"~\", Bad]\n  http:\n  -{}",
            &DEST[3..]
        ),
    );
    expect(
        &t,
        6,
        "spec.exportTo[1]",
        "duplicate entries in exportTo: . and current namespace ns",
    );
    expect(
        &t,
        6,
        "spec.exportTo[3]",
        "exportTo ~ (none) is only allowed for ServiceEntry",
    );
    expect(
        &t,
        6,
        "spec.exportTo[4]",
        "invalid namespace \"Bad\" in exportTo",
    );
    expect(
        &t,
        6,
        "spec.exportTo",
        "cannot have both public (*) and non-public exportTo values for a resource",
    );
}

#[test]
fn unreachable_rules_warn() {
    let t = vs(&format!("  - match: [{{uri: {{prefix: /a}}}}]\n{DEST}  - match: [{{uri: {{prefix: /a}}}}]\n{DEST}  -{}  -{}", &DEST[3..], &DEST[3..]));
    expect_warn(
        &t,
        11,
        "spec.http[1].match[0]",
        "virtualService rule #1 match #0 is not used (duplicate/overlapping match in rule #0)",
    );
    expect_warn(
        &t,
        14,
        "spec.http[3]",
        "virtualService rule #3 not used (only the last rule can have no matches)",
    );
}

#[test]
fn delegate_has_no_tls_routes() {
    let t = doc(
        "VirtualService",
        "  tls:\n  - match: [{sniHosts: [a.example.com]}]\n    route: [{destination: {host: b.example.com}}]\n",
    );
    expect(
        &t,
        5,
        "spec.tls",
        "delegate virtual service must have no tls route specified",
    );
}

#[test]
fn gateway_reference_forms() {
    for (gw, msg) in [
        ("/gw", "config namespace and gateway name cannot be empty"),
        ("ns/Bad_gw", "invalid value for gateway name: \"Bad_gw\""),
        (
            "Bad_gw",
            "domain name \"Bad_gw\" invalid (label \"Bad_gw\" invalid)",
        ),
    ] {
        let t = doc(
            "VirtualService",
            &format!(
                "  hosts: [a.example.com]\n  gateways: [{gw:?}]\n  http:\n  -{}",
                &DEST[3..]
            ),
        );
        expect(&t, 6, "spec.gateways[0]", msg);
    }
}

#[test]
fn jwt_claim_in_without_headers_needs_gateway() {
    let t = doc("VirtualService", &format!("  hosts: [a.example.com]\n  http:\n  - match:\n    - withoutHeaders:\n        \"@request.auth.claims.group\": {{exact: admin}}\n{DEST}"));
    expect(
        &t,
        9,
        "spec.http[0].match[0].withoutHeaders[\"@request.auth.claims.group\"]",
        "JWT claim based routing (key: @request.auth.claims.group) is only supported for gateway, found no gateways: []",
    );
}

#[test]
fn sni_host_must_be_a_domain() {
    let t = doc("VirtualService", "  hosts: [a.example.com]\n  tls:\n  - match: [{sniHosts: [\"bad host\"]}]\n    route: [{destination: {host: b.example.com}}]\n");
    expect(
        &t,
        7,
        "spec.tls[0].match[0].sniHosts[0]",
        "domain name \"bad host\" invalid",
    );
}

#[test]
fn l4_match_rules() {
    for (m, path, msg) in [
        (
            "port: 70000",
            "port",
            "port number 70000 must be in the range 1..65535",
        ),
        (
            "sourceLabels: {\"a b\": x}",
            "sourceLabels[\"a b\"]",
            "invalid tag key: \"a b\"",
        ),
        (
            "gateways: [Bad/gw]",
            "gateways[0]",
            "invalid value for namespace: \"Bad\"",
        ),
        (
            "sourceSubnet: 10.0.0.0/33",
            "sourceSubnet",
            "10.0.0.0/33 is not a valid CIDR block",
        ),
        (
            "sourceNamespace: Bad_NS",
            "sourceNamespace",
            "sourceNamespace match Bad_NS is invalid",
        ),
    ] {
        let t = doc(
            "VirtualService",
            &format!("  hosts: [a.example.com]\n  tcp:\n  - match:\n    - {m}\n    route: [{{destination: {{host: b.example.com}}}}]\n"),
        );
        expect(&t, 8, &format!("spec.tcp[0].match[0].{path}"), msg);
    }
    let t = doc("VirtualService", "  hosts: [a.example.com]\n  tls:\n  - match: [{sniHosts: [a.example.com], destinationSubnets: [nope]}]\n    route: [{destination: {host: b.example.com}}]\n");
    expect(
        &t,
        7,
        "spec.tls[0].match[0].destinationSubnets[0]",
        "nope is not a valid IP",
    );
}

#[test]
fn destination_host_rules() {
    for (dest, msg) in [
        ("{subset: v1}", "destination.host is required"),
        ("{host: \"bad host\"}", "domain name \"bad host\" invalid"),
    ] {
        let t = vs(&format!("  - route:\n    - destination: {dest}\n"));
        expect(&t, 10, "spec.http[0].route[0].destination.host", msg);
    }
    let t = doc(
        "VirtualService",
        "  hosts: [a.example.com]\n  tcp:\n  - route: [{destination: {host: \"*\"}}]\n",
    );
    expect(
        &t,
        7,
        "spec.tcp[0].route[0].destination.host",
        "invalid destination host *",
    );
    // proto3: an empty subset is unset, not an invalid name.
    clean(&vs(
        "  - route:\n    - destination: {host: b.example.com, subset: \"\"}\n",
    ));
}

#[test]
fn export_to_duplicate_entry() {
    let t = doc(
        "VirtualService",
        &format!(
            "  hosts: [a.example.com]\n  exportTo: [a, a]\n  http:\n  -{}",
            &DEST[3..]
        ),
    );
    expect(
        &t,
        6,
        "spec.exportTo[1]",
        "duplicate entries in exportTo for entry a",
    );
}

#[test]
fn l4_route_weights() {
    let t = doc(
        "VirtualService",
        "  hosts: [a.example.com]\n  tcp:\n  - route:\n    - destination: {host: b.example.com}\n      weight: -1\n    - destination: {host: c.example.com}\n      weight: 1\n",
    );
    expect(&t, 9, "spec.tcp[0].route[0].weight", "weight -1 < 0");
    let t = doc(
        "VirtualService",
        "  hosts: [a.example.com]\n  tls:\n  - match: [{sniHosts: [a.example.com]}]\n    route:\n    - destination: {host: b.example.com}\n    - destination: {host: c.example.com}\n",
    );
    expect(&t, 8, "spec.tls[0].route", "total destination weight = 0");
}
