//! VirtualService HTTP route rules: route/redirect/directResponse exclusivity, matches, header
//! operations, mirrors, timeout.

use super::virtual_service::{vs, DEST};
use super::{clean, expect, expect_warn};

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
fn root_route_must_not_specify_route() {
    let t = vs(
        "  - name: r\n    delegate: {name: x}\n    route: [{destination: {host: b.example.com}}]\n",
    );
    expect(
        &t,
        11,
        "spec.http[0].route",
        "root HTTP route r must not specify route",
    );
}

#[test]
fn mirror_percentage_bounds_and_destinations() {
    for (http, line, path, msg) in [
        (
            format!("  - mirror: {{host: m.example.com}}\n    mirrorPercentage: {{value: -1}}\n{DEST}"),
            10,
            "spec.http[0].mirrorPercentage.value",
            "mirror_percentage must have a min value of 0 (it has -1.000000)",
        ),
        (
            format!("  - mirrors:\n    - destination: {{host: m.example.com}}\n      percentage: {{value: 101}}\n{DEST}"),
            11,
            "spec.http[0].mirrors[0].percentage.value",
            "mirror percentage must have a max value of 100 (it has 101.000000)",
        ),
        (
            format!("  - mirror: {{host: \"*\"}}\n{DEST}"),
            9,
            "spec.http[0].mirror.host",
            "invalid destination host *",
        ),
        (
            format!("  - mirrors:\n    - destination: {{host: \"*\"}}\n{DEST}"),
            10,
            "spec.http[0].mirrors[0].destination.host",
            "invalid destination host *",
        ),
    ] {
        expect(&vs(&http), line, path, msg);
    }
}

#[test]
fn match_string_rules() {
    let at = "spec.http[0].match[0]";
    for (m, path, msg) in [
        (
            "uri: {exact: /a, prefix: /a}",
            "uri",
            "only one of exact, prefix or regex may be set",
        ),
        (
            "uri: {regex: \"\"}",
            "uri.regex",
            "\"uri\": regex string match should not be empty",
        ),
        (
            "headers: {x-a: {regex: \"(\"}}",
            "headers.x-a.regex",
            "\"headers\": ",
        ),
        (
            "headers: {\"\": {exact: x}}",
            "headers[\"\"]",
            "header name cannot be empty",
        ),
        (
            "withoutHeaders: {x-a: {prefix: \"\"}}",
            "withoutHeaders.x-a.prefix",
            "\"withoutHeaders\": prefix string match should not be empty",
        ),
        (
            "withoutHeaders: {\"bad h\": {exact: x}}",
            "withoutHeaders[\"bad h\"]",
            "header name bad h is not a valid header name",
        ),
        (
            "method: {exact: GET, regex: G}",
            "method",
            "only one of exact, prefix or regex may be set",
        ),
        (
            "authority: {prefix: \"\"}",
            "authority.prefix",
            "\"authority\": prefix string match should not be empty",
        ),
        (
            "gateways: [Bad/gw]",
            "gateways[0]",
            "invalid value for namespace: \"Bad\"",
        ),
    ] {
        let t = vs(&format!("  - match:\n    - {m}\n{DEST}"));
        expect(&t, 10, &format!("{at}.{path}"), msg);
    }
}

#[test]
fn header_operation_name_and_value_rules() {
    let at = "spec.http[0].headers";
    for (ops, path, msg) in [
        (
            "request: {set: {\"\": x}}",
            "request.set[\"\"]",
            "header name cannot be empty",
        ),
        (
            "request: {add: {\"bad h\": x}}",
            "request.add[\"bad h\"]",
            "header name bad h is not a valid header name",
        ),
        (
            "response: {remove: [\"\"]}",
            "response.remove[0]",
            "header name cannot be empty",
        ),
        (
            "response: {set: {host: x}}",
            "response.set.host",
            "invalid header \"host\": cannot set Host header",
        ),
        (
            "request: {set: {x-a: \"a\\x01b\"}}",
            "request.set.x-a",
            "header value configuration a\u{1}b is invalid",
        ),
        (
            "request: {set: {x-a: \"%lower%\"}}",
            "request.set.x-a",
            "header value configuration: invalid header configuration: %lower%",
        ),
        (
            "request: {set: {x-a: \"50%\"}}",
            "request.set.x-a",
            "header value configuration: invalid header configuration: 50%",
        ),
    ] {
        let t = vs(&format!("  - headers: {{{ops}}}\n{DEST}"));
        expect(&t, 9, &format!("{at}.{path}"), msg);
    }
    let t = vs("  - route:\n    - destination: {host: b.example.com}\n      headers: {request: {set: {\":path\": x}}}\n");
    expect(
        &t,
        11,
        "spec.http[0].route[0].headers.request.set[\":path\"]",
        "invalid header \":path\": header cannot have \":\" prefix",
    );
}
