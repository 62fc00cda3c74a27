//! ServiceEntry and WorkloadEntry rules.

use super::{clean, doc, expect, expect_warn};

fn se(body: &str) -> String {
    doc("ServiceEntry", body)
}

#[test]
fn hosts_rules() {
    expect(
        &se("  ports: []\n"),
        4,
        "spec.hosts",
        "service entry must have at least one host",
    );
    let t = se("  hosts: [\"*\", \"foo*.com\"]\n  addresses: [10.0.0.1]\n");
    expect(&t, 5, "spec.hosts[0]", "invalid host *");
    expect_warn(
        &t,
        5,
        "spec.hosts[1]",
        "partial wildcard \"foo*.com\" not allowed",
    );
}

#[test]
fn address_rules() {
    let t = se("  hosts: [a.example.com]\n  addresses: [10.0.0.0/8, nope]\n  resolution: DNS\n");
    expect(&t, 6, "spec.addresses[1]", "nope is not a valid IP");
    expect(
        &t,
        6,
        "spec.addresses",
        "CIDR addresses are allowed only for NONE/STATIC resolution types",
    );
}

#[test]
fn port_rules() {
    let t = se("  hosts: [a.example.com]\n  addresses: [10.0.0.1]\n  ports:\n  - {number: 80, name: http, protocol: HTTP}\n  - {number: 80, name: http, protocol: FOO, targetPort: 70000}\n  - {number: 0, name: Bad_Name}\n");
    expect(
        &t,
        9,
        "spec.ports[1].name",
        "service entry port name \"http\" already defined",
    );
    expect(
        &t,
        9,
        "spec.ports[1].number",
        "service entry port 80 already defined",
    );
    expect(
        &t,
        9,
        "spec.ports[1].protocol",
        "unrecognized protocol \"FOO\"",
    );
    expect(
        &t,
        9,
        "spec.ports[1].targetPort",
        "port number 70000 must be in the range 1..65535",
    );
    expect(&t, 10, "spec.ports[2].name", "invalid port name: Bad_Name");
    expect(
        &t,
        10,
        "spec.ports[2].number",
        "port number 0 must be in the range 1..65535",
    );
    let t = se("  hosts: [a.example.com]\n  ports: [{number: 9000, name: tcp, protocol: TCP}]\n");
    expect_warn(
        &t,
        6,
        "spec.ports[0]",
        "addresses are required for ports serving TCP (or unset) protocol",
    );
}

#[test]
fn endpoints_xor_selector() {
    let t = se("  hosts: [a.example.com]\n  resolution: STATIC\n  workloadSelector: {labels: {app: x}}\n  endpoints: [{address: 10.0.0.1}]\n");
    expect(
        &t,
        7,
        "spec.workloadSelector",
        "only one of WorkloadSelector or Endpoints is allowed in Service Entry",
    );
    let t = se("  hosts: [a.example.com]\n  workloadSelector: {labels: {\"a*\": x}}\n");
    expect(
        &t,
        6,
        "spec.workloadSelector.labels[\"a*\"]",
        "wildcard is not supported in selector",
    );
}

#[test]
fn resolution_none_rules() {
    let t = se("  hosts: [a.example.com]\n  endpoints: [{address: 10.0.0.1}]\n");
    expect(
        &t,
        6,
        "spec.endpoints",
        "no endpoints should be provided for resolution type none",
    );
}

#[test]
fn static_endpoint_rules() {
    let t = se("  hosts: [a.example.com]\n  resolution: STATIC\n  ports: [{number: 80, name: http, protocol: HTTP}]\n  endpoints:\n  - {address: example.com}\n  - {address: 10.0.0.1, ports: {grpc: 90}}\n  - {address: \"unix:///sock\", ports: {http: 1}}\n  - {}\n");
    expect(
        &t,
        9,
        "spec.endpoints[0].address",
        "endpoint address \"example.com\" is not a valid IP address",
    );
    expect(
        &t,
        10,
        "spec.endpoints[1].ports.grpc",
        "endpoint port 90 is not defined by the service entry",
    );
    expect(
        &t,
        11,
        "spec.endpoints[2].ports",
        "unix endpoint unix:///sock must not include ports",
    );
    expect(&t, 12, "spec.endpoints[3].address", "address is required");
    let t = se("  hosts: [a.example.com]\n  resolution: STATIC\n  ports: [{number: 80, name: http, protocol: HTTP}, {number: 81, name: h2, protocol: HTTP}]\n  endpoints:\n  - {address: \"unix:///sock\"}\n");
    expect(
        &t,
        9,
        "spec.endpoints[0].address",
        "exactly 1 service port required for unix endpoints",
    );
}

#[test]
fn dns_rules() {
    let t = se("  hosts: [\"*.example.com\"]\n  resolution: DNS\n  ports: [{number: 80, name: http, protocol: HTTP}]\n");
    expect(&t, 5, "spec.hosts[0]", "hosts must be FQDN or contain only prefix wildcards if no endpoints are provided for resolution mode DNS");
    let t = se("  hosts: [a.example.com]\n  resolution: DNS_ROUND_ROBIN\n  ports: [{number: 80, name: http, protocol: HTTP}]\n  endpoints: [{address: a.com}, {address: \"bad host\"}]\n");
    expect(
        &t,
        8,
        "spec.endpoints",
        "there must only be 0 or 1 endpoint for resolution mode DNS_ROUND_ROBIN",
    );
    expect(
        &t,
        8,
        "spec.endpoints[1].address",
        "endpoint address \"bad host\" is not a valid FQDN or an IP address",
    );
}

#[test]
fn dynamic_dns_rules() {
    let t = se("  hosts: [a.example.com]\n  resolution: DYNAMIC_DNS\n  addresses: [10.0.0.1]\n  ports: [{number: 80, name: tcp, protocol: TCP}]\n  endpoints: [{address: 10.0.0.1}]\n");
    expect(
        &t,
        5,
        "spec.hosts[0]",
        "host must be wildcarded for resolution mode DYNAMIC_DNS",
    );
    expect(
        &t,
        7,
        "spec.addresses",
        "addresses cannot be set for resolution type DYNAMIC_DNS",
    );
    expect(
        &t,
        9,
        "spec.endpoints",
        "endpoints cannot be set for resolution type DYNAMIC_DNS",
    );
    expect(
        &t,
        8,
        "spec.ports[0].protocol",
        "only HTTP, TLS, GRPC, and HTTP2 protocols are supported for resolution type DYNAMIC_DNS",
    );
}

#[test]
fn multiple_hosts_need_http_or_tls() {
    let t = se("  hosts: [a.example.com, b.example.com]\n  addresses: [10.0.0.1]\n  resolution: DNS\n  ports: [{number: 9000, name: tcp, protocol: TCP}]\n");
    expect(
        &t,
        8,
        "spec.ports[0].protocol",
        "multiple hosts provided with non-HTTP, non-TLS ports",
    );
}

#[test]
fn service_entry_export_to() {
    let t = se("  hosts: [a.example.com]\n  addresses: [10.0.0.1]\n  exportTo: [\"~\", \".\"]\n");
    expect(
        &t,
        7,
        "spec.exportTo",
        "cannot export service entry to no one (~) and someone",
    );
    clean(&se(
        "  hosts: [a.example.com]\n  addresses: [10.0.0.1]\n  exportTo: [\"~\"]\n",
    ));
}

fn we(body: &str) -> String {
    doc("WorkloadEntry", body)
}

#[test]
fn workload_entry_rules() {
    expect(
        &we("  labels: {app: x}\n"),
        4,
        "spec.address",
        "address is required",
    );
    expect_warn(
        &we("  network: n1\n"),
        4,
        "spec.address",
        "address is unset with network \"n1\"",
    );
    let t = we("  address: \"bad host\"\n  ports: {Bad_Name: 70000}\n  labels: {app: \"x y\"}\n");
    expect(
        &t,
        5,
        "spec.address",
        "endpoint address \"bad host\" is not a valid FQDN or an IP address",
    );
    expect(&t, 6, "spec.ports.Bad_Name", "invalid port name: Bad_Name");
    expect(
        &t,
        6,
        "spec.ports.Bad_Name",
        "port number 70000 must be in the range 1..65535",
    );
    expect(&t, 7, "spec.labels.app", "invalid tag value: \"x y\"");
    expect(
        &we("  address: unix://relative\n"),
        5,
        "spec.address",
        "relative is not an absolute path to a file",
    );
    clean(&we("  address: 10.0.0.1\n  ports: {http: 8080}\n  labels: {app: x, version: v1}\n  locality: us/east/a\n  weight: 3\n  serviceAccount: sa\n"));
}

#[test]
fn workload_selector_warnings_and_keys() {
    expect_warn(
        &se("  hosts: [a.example.com]\n  resolution: STATIC\n  workloadSelector: {}\n"),
        7,
        "spec.workloadSelector",
        "service entry: workload selector specified without labels, will be applied to all services in namespace",
    );
    expect_warn(
        &se("  hosts: [a.example.com]\n  workloadSelector: {labels: {app: x}}\n"),
        6,
        "spec.workloadSelector",
        "workloadSelector should not be set when resolution mode is NONE",
    );
    expect(
        &se("  hosts: [a.example.com]\n  resolution: STATIC\n  workloadSelector: {labels: {\"\": x}}\n"),
        7,
        "spec.workloadSelector.labels[\"\"]",
        "empty key is not supported in selector",
    );
}

#[test]
fn host_must_be_a_domain() {
    expect(
        &se("  hosts: [\"bad host\"]\n"),
        5,
        "spec.hosts[0]",
        "domain name \"bad host\" invalid (label \"bad host\" invalid)",
    );
}

#[test]
fn dns_endpoint_rules() {
    let base = "  hosts: [a.example.com]\n  resolution: DNS\n  ports: [{number: 80, name: http, protocol: HTTP}]\n";
    for (endpoint, path, msg) in [
        (
            "{address: a.example.com, labels: {\"a b\": x}}",
            "spec.endpoints[0].labels[\"a b\"]",
            "invalid tag key: \"a b\"",
        ),
        (
            "{address: a.example.com, ports: {grpc: 90}}",
            "spec.endpoints[0].ports.grpc",
            "endpoint port 90 is not defined by the service entry",
        ),
        (
            "{address: a.example.com, ports: {Bad_Name: 80}}",
            "spec.endpoints[0].ports.Bad_Name",
            "invalid port name: Bad_Name, must be a valid DNS-1123 label",
        ),
        (
            "{address: a.example.com, ports: {http: 70000}}",
            "spec.endpoints[0].ports.http",
            "port number 70000 must be in the range 1..65535",
        ),
    ] {
        let t = se(&format!("{base}  endpoints: [{endpoint}]\n"));
        expect(&t, 8, path, msg);
    }
}

#[test]
fn workload_entry_unix_rules() {
    expect(
        &we("  address: \"unix://\"\n"),
        5,
        "spec.address",
        "unix address must not be empty",
    );
    expect(
        &we("  address: unix:///sock\n  ports: {http: 80}\n"),
        6,
        "spec.ports",
        "unix endpoint unix:///sock must not include ports",
    );
    clean(&we("  address: unix:///sock\n"));
}

#[test]
fn cidr_with_invalid_ip() {
    expect(
        &se("  hosts: [a.example.com]\n  addresses: [nope/8]\n"),
        6,
        "spec.addresses[0]",
        "nope/8 is not a valid CIDR block",
    );
}
