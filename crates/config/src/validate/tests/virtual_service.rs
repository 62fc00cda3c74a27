//! VirtualService rules.

use super::{clean, doc, expect, expect_warn};

/// A gateway-bound VS whose first http route body starts at line 9 (`  - ` prefix given).
fn vs(http: &str) -> String {
    doc(
        "VirtualService",
        &format!(
            "  hosts: [a.example.com]\n  gateways: [gw]\n  exportTo: [\"*\"]\n  http:\n{http}"
        ),
    )
}

const DEST: &str = "    route: [{destination: {host: b.example.com}}]\n";

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
fn route_redirect_direct_response_exclusive() {
    let t = vs(&format!("  - redirect: {{uri: /x}}\n    fault: {{abort: {{httpStatus: 500}}}}\n    rewrite: {{uri: /y}}\n    directResponse: {{status: 200}}\n{DEST}"));
    expect(
        &t,
        13,
        "spec.http[0].route",
        "HTTP route cannot contain both route and redirect",
    );
    expect(
        &t,
        10,
        "spec.http[0].fault",
        "HTTP route cannot contain both fault and redirect",
    );
    expect(
        &t,
        11,
        "spec.http[0].rewrite",
        "HTTP route rule cannot contain both rewrite and redirect",
    );
    expect(
        &t,
        12,
        "spec.http[0].directResponse",
        "HTTP route rule cannot contain both direct_response and redirect",
    );
    let t = vs(&format!("  - directResponse: {{status: 200}}\n    fault: {{abort: {{httpStatus: 500}}}}\n    rewrite: {{uri: /y}}\n{DEST}"));
    expect(
        &t,
        12,
        "spec.http[0].route",
        "HTTP route cannot contain both route and direct_response",
    );
    expect(
        &t,
        10,
        "spec.http[0].fault",
        "HTTP route cannot contain both fault and direct_response",
    );
    expect(
        &t,
        11,
        "spec.http[0].rewrite",
        "HTTP route rule cannot contain both rewrite and direct_response",
    );
    expect(
        &vs("  - name: r\n"),
        9,
        "spec.http[0]",
        "HTTP route, redirect or direct_response is required",
    );
}

#[test]
fn mirror_rules() {
    let t = vs(&format!("  - mirror: {{host: m.example.com}}\n    mirrors: [{{destination: {{host: m.example.com}}}}]\n{DEST}"));
    expect(
        &t,
        10,
        "spec.http[0].mirrors",
        "HTTP route cannot contain both mirror and mirrors",
    );
    let t = vs(&format!(
        "  - mirror: {{host: m.example.com}}\n    mirrorPercent: 150\n{DEST}"
    ));
    expect(
        &t,
        10,
        "spec.http[0].mirrorPercent",
        "mirror_percent must have a max value of 100 (it has 150)",
    );
    expect_warn(
        &t,
        10,
        "spec.http[0].mirrorPercent",
        "using deprecated setting \"mirrorPercent\"",
    );
    let t = vs(&format!(
        "  - mirror: {{host: m.example.com}}\n    mirrorPercentage: {{value: 101}}\n{DEST}"
    ));
    expect(
        &t,
        10,
        "spec.http[0].mirrorPercentage.value",
        "mirror_percentage must have a max value of 100",
    );
    let t = vs(&format!(
        "  - mirrors:\n    - percentage: {{value: 50}}\n{DEST}"
    ));
    expect(
        &t,
        10,
        "spec.http[0].mirrors[0]",
        "destination is required for mirrors",
    );
    let t = vs(&format!("  - mirrors:\n    - destination: {{host: m.example.com}}\n      percentage: {{value: -1}}\n{DEST}"));
    expect(
        &t,
        11,
        "spec.http[0].mirrors[0].percentage.value",
        "mirror percentage must have a min value of 0",
    );
}

#[test]
fn match_rules() {
    let t = vs(&format!(
        "  - match:\n    - uri: {{regex: \"(\"}}\n      headers:\n        \"Bad Header\": {{exact: x}}\n        x-p: {{prefix: \"\"}}\n      queryParams:\n        q: {{regex: \"\"}}\n      port: 70000\n      sourceNamespace: Bad_NS\n      sourceLabels: {{\"a*\": b}}\n      scheme: {{exact: http, prefix: h}}\n{DEST}"
    ));
    expect(&t, 10, "spec.http[0].match[0].uri.regex", "\"uri\": ");
    expect(
        &t,
        12,
        "spec.http[0].match[0].headers[\"Bad Header\"]",
        "header name Bad Header is not a valid header name",
    );
    expect(
        &t,
        13,
        "spec.http[0].match[0].headers.x-p.prefix",
        "\"headers\": prefix string match should not be empty",
    );
    expect(
        &t,
        15,
        "spec.http[0].match[0].queryParams.q.regex",
        "\"queryParams\": regex string match should not be empty",
    );
    expect(
        &t,
        16,
        "spec.http[0].match[0].port",
        "port number 70000 must be in the range 1..65535",
    );
    expect(
        &t,
        17,
        "spec.http[0].match[0].sourceNamespace",
        "sourceNamespace match Bad_NS is invalid",
    );
    expect(
        &t,
        18,
        "spec.http[0].match[0].sourceLabels[\"a*\"]",
        "invalid tag key: \"a*\"",
    );
    expect(
        &t,
        19,
        "spec.http[0].match[0].scheme",
        "only one of exact, prefix or regex may be set",
    );
}

#[test]
fn regex_too_long() {
    let long = "a".repeat(1025);
    let t = vs(&format!("  - match:\n    - uri: {{regex: {long}}}\n{DEST}"));
    expect(
        &t,
        10,
        "spec.http[0].match[0].uri.regex",
        "regex is too large, max length allowed is 1024",
    );
}

#[test]
fn without_headers_star_regex_tolerated_and_presence_match_ok() {
    clean(&vs(&format!("  - match:\n    - withoutHeaders: {{x-a: {{regex: \"*\"}}}}\n      headers: {{x-b: {{}}}}\n{DEST}")));
}

#[test]
fn header_operation_rules() {
    let t = vs(&format!(
        "  - headers:\n      request:\n        set: {{\":path\": x, \"x-a\": \"bad%\"}}\n        remove: [host]\n      response:\n        add: {{\":status\": \"1\"}}\n{DEST}"
    ));
    expect(
        &t,
        11,
        "spec.http[0].headers.request.set[\":path\"]",
        "invalid header \":path\": header cannot have \":\" prefix",
    );
    expect(
        &t,
        11,
        "spec.http[0].headers.request.set.x-a",
        "header value configuration",
    );
    expect(
        &t,
        12,
        "spec.http[0].headers.request.remove[0]",
        "invalid header \"host\": cannot set Host header",
    );
    expect(
        &t,
        14,
        "spec.http[0].headers.response.add[\":status\"]",
        "header cannot have \":\" prefix",
    );
    clean(&vs(&format!(
        "  - headers: {{request: {{set: {{x-a: \"%DOWNSTREAM_REMOTE_ADDRESS% 100%%\"}}}}}}\n{DEST}"
    )));
}

#[test]
fn authority_set_once() {
    let t = vs(&format!("  - rewrite: {{authority: a.com}}\n    headers: {{request: {{set: {{host: b.com}}}}}}\n{DEST}"));
    expect(&t, 10, "spec.http[0].headers.request.set.host", "authority header cannot be set multiple times: have \"a.com\", attempting to set \"b.com\"");
}

#[test]
fn cors_rules() {
    let t = vs(&format!(
        "  - corsPolicy:\n      allowOrigins: [{{exact: \"\"}}, {{regex: \"[\"}}]\n      allowMethods: [GET, FETCH]\n      allowHeaders: [\"bad header\"]\n      maxAge: 1500ms\n{DEST}"
    ));
    expect(
        &t,
        10,
        "spec.http[0].corsPolicy.allowOrigins[0]",
        "'' is not a valid match type for CORS allow origins",
    );
    expect(
        &t,
        10,
        "spec.http[0].corsPolicy.allowOrigins[1].regex",
        "\"corsPolicy.allowOrigins\"",
    );
    expect(
        &t,
        11,
        "spec.http[0].corsPolicy.allowMethods[1]",
        "\"FETCH\" is not a supported HTTP method",
    );
    expect(
        &t,
        12,
        "spec.http[0].corsPolicy.allowHeaders[0]",
        "header name bad header is not a valid header name",
    );
    expect(
        &t,
        13,
        "spec.http[0].corsPolicy.maxAge",
        "max_age duration is accurate only to seconds precision",
    );
    clean(&vs(&format!("  - corsPolicy: {{allowOrigin: [\"*\"], allowOrigins: [{{exact: \"https://ok.example\"}}], allowMethods: [GET], maxAge: 24h, allowCredentials: true, unmatchedPreflights: IGNORE}}\n{DEST}")));
}

#[test]
fn fault_rules() {
    expect(
        &vs(&format!("  - fault: {{}}\n{DEST}")),
        9,
        "spec.http[0].fault",
        "HTTP fault injection must have an abort and/or a delay",
    );
    let t = vs(&format!(
        "  - fault:\n      abort: {{httpStatus: 700, percentage: {{value: 0.00001}}}}\n{DEST}"
    ));
    expect(
        &t,
        10,
        "spec.http[0].fault.abort.httpStatus",
        "HTTP status 700 is not in range 200-599",
    );
    expect(
        &t,
        10,
        "spec.http[0].fault.abort.percentage.value",
        "is neither 0.0, nor in range [0.0001, 100.0]",
    );
    let t = vs(&format!(
        "  - fault:\n      abort: {{grpcStatus: NOPE}}\n{DEST}"
    ));
    expect(
        &t,
        10,
        "spec.http[0].fault.abort.grpcStatus",
        "gRPC status \"NOPE\" is not supported",
    );
    let t = vs(&format!(
        "  - fault:\n      abort: {{http2Error: x}}\n{DEST}"
    ));
    expect(
        &t,
        10,
        "spec.http[0].fault.abort.http2Error",
        "HTTP/2 abort fault injection not supported yet",
    );
    let t = vs(&format!(
        "  - fault:\n      abort: {{percentage: {{value: 10}}}}\n{DEST}"
    ));
    expect_warn(
        &t,
        10,
        "spec.http[0].fault.abort",
        "abort configured, but error type not set",
    );
    let t = vs(&format!(
        "  - fault:\n      delay: {{exponentialDelay: 1s, percent: 120}}\n{DEST}"
    ));
    expect(
        &t,
        10,
        "spec.http[0].fault.delay.exponentialDelay",
        "exponentialDelay not supported yet",
    );
    expect(
        &t,
        10,
        "spec.http[0].fault.delay.percent",
        "percentage 120 is not in range 0..100",
    );
    let t = vs(&format!(
        "  - fault:\n      delay: {{fixedDelay: 0.5ms}}\n{DEST}"
    ));
    expect(
        &t,
        10,
        "spec.http[0].fault.delay.fixedDelay",
        "duration must be greater than 1ms",
    );
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
fn redirect_rules() {
    let t = vs("  - match: [{uri: {exact: /a}}]\n    redirect: {uri: /x, prefixRewrite: /y, redirectCode: 200, scheme: ftp, port: 70000}\n");
    expect(
        &t,
        10,
        "spec.http[0].redirect",
        "redirect may only specify one of uri or prefix_rewrite",
    );
    expect(
        &t,
        10,
        "spec.http[0].redirect.prefixRewrite",
        "redirect prefix_rewrite requires all URI matches to use prefix match type",
    );
    expect(
        &t,
        10,
        "spec.http[0].redirect.redirectCode",
        "200 is not a valid redirect code, must be 3xx",
    );
    expect(
        &t,
        10,
        "spec.http[0].redirect.scheme",
        "invalid redirect scheme, must be \"http\" or \"https\"",
    );
    expect(
        &t,
        10,
        "spec.http[0].redirect.port",
        "port number 70000 must be in the range 1..65535",
    );
    expect(
        &vs("  - redirect: {redirectCode: 302}\n"),
        9,
        "spec.http[0].redirect",
        "redirect must specify URI, authority, scheme, or port",
    );
    clean(&vs(
        "  - redirect: {derivePort: FROM_REQUEST_PORT, scheme: https}\n",
    ));
}

#[test]
fn direct_response_rules() {
    let t = vs("  - directResponse: {status: 100}\n");
    expect(
        &t,
        9,
        "spec.http[0].directResponse.status",
        "HTTP status 100 is not in range 200-599",
    );
    let big = "x".repeat(101 * 1024);
    let t = vs(&format!(
        "  - directResponse: {{status: 200, body: {{string: {big}}}}}\n"
    ));
    expect_warn(
        &t,
        9,
        "spec.http[0].directResponse.body",
        "large direct_responses may impact control plane performance",
    );
    let huge = "x".repeat(1024 * 1024 + 1);
    let t = vs(&format!(
        "  - directResponse: {{status: 200, body: {{string: {huge}}}}}\n"
    ));
    expect(
        &t,
        9,
        "spec.http[0].directResponse.body",
        "must be less than 1MB",
    );
}

#[test]
fn rewrite_rules() {
    let t = vs(&format!(
        "  - rewrite: {{uri: /a, uriRegexRewrite: {{match: a, rewrite: b}}}}\n{DEST}"
    ));
    expect(
        &t,
        9,
        "spec.http[0].rewrite",
        "rewrite may only contain one of URI or UriRegexRewrite",
    );
    let t = vs(&format!("  - rewrite: {{}}\n{DEST}"));
    expect(
        &t,
        9,
        "spec.http[0].rewrite",
        "rewrite must specify at least one of URI, UriRegexRewrite, or authority",
    );
    let t = vs(&format!(
        "  - rewrite:\n      uriRegexRewrite: {{match: \"^/a\"}}\n{DEST}"
    ));
    expect(
        &t,
        10,
        "spec.http[0].rewrite.uriRegexRewrite",
        "UriRegexRewrite requires both Rewrite and Match fields to be specified",
    );
    let t = vs(&format!(
        "  - rewrite:\n      uriRegexRewrite: {{match: \"(\", rewrite: x}}\n{DEST}"
    ));
    expect(
        &t,
        10,
        "spec.http[0].rewrite.uriRegexRewrite.match",
        "\"HTTPRewrite.UriRegexRewrite.Match\"",
    );
}

#[test]
fn retry_rules() {
    let t = vs(&format!("  - retries: {{attempts: -1}}\n{DEST}"));
    expect(
        &t,
        9,
        "spec.http[0].retries.attempts",
        "attempts cannot be negative",
    );
    let t = vs(&format!(
        "  - retries: {{attempts: 0, perTryTimeout: 1s}}\n{DEST}"
    ));
    expect(
        &t,
        9,
        "spec.http[0].retries",
        "http retry policy configured when attempts are set to 0 (disabled)",
    );
    let t = vs(&format!("  - retries:\n      attempts: 3\n      retryOn: \"5xx,bogus,503\"\n      perTryTimeout: 1.5ms\n      backoff: 10x\n{DEST}"));
    expect(
        &t,
        11,
        "spec.http[0].retries.retryOn",
        "\"bogus\" is not a valid retryOn policy",
    );
    expect(
        &t,
        12,
        "spec.http[0].retries.perTryTimeout",
        "only durations to ms precision are supported",
    );
    expect(&t, 13, "spec.http[0].retries.backoff", "invalid duration");
}

#[test]
fn timeout_rule() {
    let t = vs(&format!("  - timeout: 0s\n{DEST}"));
    expect(
        &t,
        9,
        "spec.http[0].timeout",
        "duration must be greater than 1ms",
    );
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
