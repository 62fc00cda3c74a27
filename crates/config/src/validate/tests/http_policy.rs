//! VirtualService HTTP policy rules: CORS, fault injection, redirect, direct response, rewrite,
//! retries.

use super::virtual_service::{vs, DEST};
use super::{clean, expect, expect_warn};

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
fn cors_header_and_max_age_rules() {
    for (cors, path, msg) in [
        (
            "exposeHeaders: [\"bad h\"]",
            "exposeHeaders[0]",
            "header name bad h is not a valid header name",
        ),
        (
            "allowHeaders: [\"\"]",
            "allowHeaders[0]",
            "header name cannot be empty",
        ),
        (
            "maxAge: 0.5ms",
            "maxAge",
            "duration must be greater than 1ms",
        ),
    ] {
        let t = vs(&format!("  - corsPolicy: {{{cors}}}\n{DEST}"));
        expect(&t, 9, &format!("spec.http[0].corsPolicy.{path}"), msg);
    }
}

#[test]
fn fault_exclusivity_and_delay_rules() {
    for (fault, path, msg) in [
        (
            "abort: {httpStatus: 500, grpcStatus: UNAVAILABLE}",
            "abort",
            "only one of httpStatus, grpcStatus or http2Error may be set",
        ),
        (
            "delay: {fixedDelay: 1s, percentage: {value: 101}}",
            "delay.percentage.value",
            "percentage 101 is neither 0.0, nor in range [0.0001, 100.0]",
        ),
        (
            "delay: {fixedDelay: 1s, exponentialDelay: 1s}",
            "delay",
            "only one of fixedDelay or exponentialDelay may be set",
        ),
        (
            "delay: {exponentialDelay: 0.5ms}",
            "delay.exponentialDelay",
            "duration must be greater than 1ms",
        ),
    ] {
        let t = vs(&format!("  - fault: {{{fault}}}\n{DEST}"));
        expect(&t, 9, &format!("spec.http[0].fault.{path}"), msg);
    }
}

#[test]
fn redirect_port_xor_derive_port() {
    expect(
        &vs("  - redirect: {port: 8080, derivePort: FROM_PROTOCOL_DEFAULT}\n"),
        9,
        "spec.http[0].redirect",
        "redirect may only specify one of port or derivePort",
    );
}

#[test]
fn direct_response_body_string_xor_bytes() {
    expect(
        &vs("  - directResponse: {status: 200, body: {string: a, bytes: YQ==}}\n"),
        9,
        "spec.http[0].directResponse.body",
        "only one of string or bytes may be set",
    );
}
