//! MeshConfig validation: the `envoyExtAuthzHttp` providers Rampart runs, every other provider
//! kind rejected by name.

use std::collections::HashSet;

use super::{duration, header_name, port};
use crate::diag::{Diagnostic, Severity};
use crate::load::DocCtx;
use crate::mesh::{ExtAuthzHttp, MeshConfig};

/// Checks a MeshConfig; errors are counted in `cx`.
pub(crate) fn validate(mesh: &MeshConfig, cx: &mut DocCtx, out: &mut Vec<Diagnostic>) {
    let mut names = HashSet::new();
    for (i, p) in mesh.extension_providers.iter().enumerate() {
        let at = format!("extensionProviders[{i}]");
        let mut err = |path: String, msg: String| out.push(cx.diag(Severity::Error, &path, msg));
        if p.name.is_empty() {
            err(format!("{at}.name"), "name is required".into());
        } else if !names.insert(p.name.as_str()) {
            err(
                format!("{at}.name"),
                format!("duplicate provider name {:?}", p.name),
            );
        }
        if p.envoy_ext_authz_grpc.is_some() {
            err(
                format!("{at}.envoyExtAuthzGrpc"),
                "envoyExtAuthzGrpc is not supported by Rampart: use envoyExtAuthzHttp".into(),
            );
        }
        for kind in p.others.keys() {
            err(
                format!("{at}.{kind}"),
                format!("provider kind {kind} is not supported by Rampart"),
            );
        }
        if let Some(http) = &p.envoy_ext_authz_http {
            ext_authz_http(&format!("{at}.envoyExtAuthzHttp"), http, &mut err);
        } else if p.envoy_ext_authz_grpc.is_none() && p.others.is_empty() {
            err(at, "a provider kind is required (envoyExtAuthzHttp)".into());
        }
    }
}

fn ext_authz_http(at: &str, h: &ExtAuthzHttp, err: &mut impl FnMut(String, String)) {
    if h.service.is_empty() {
        err(format!("{at}.service"), "service is required".into());
    }
    if let Err(e) = port(h.port) {
        err(format!("{at}.port"), e);
    }
    if let Some(t) = &h.timeout {
        if let Err(e) = duration(t) {
            err(format!("{at}.timeout"), e);
        }
    }
    if let Some(p) = &h.path_prefix {
        if !p.starts_with('/') {
            err(
                format!("{at}.pathPrefix"),
                "pathPrefix must start with /".into(),
            );
        }
    }
    if let Some(s) = &h.status_on_error {
        if !s.parse::<u16>().is_ok_and(|n| (200..600).contains(&n)) {
            err(
                format!("{at}.statusOnError"),
                format!("statusOnError {s:?} is not an HTTP status code"),
            );
        }
    }
    if h.include_request_body_in_check.is_some() {
        err(
            format!("{at}.includeRequestBodyInCheck"),
            "includeRequestBodyInCheck is not supported by Rampart: the authorizer gets headers only".into(),
        );
    }
    for (field, list) in [
        (
            "includeRequestHeadersInCheck",
            &h.include_request_headers_in_check,
        ),
        ("includeHeadersInCheck", &h.include_headers_in_check),
        ("headersToUpstreamOnAllow", &h.headers_to_upstream_on_allow),
        (
            "headersToDownstreamOnDeny",
            &h.headers_to_downstream_on_deny,
        ),
        (
            "headersToDownstreamOnAllow",
            &h.headers_to_downstream_on_allow,
        ),
    ] {
        for (i, name) in list.iter().enumerate() {
            if let Err(e) = header_name(name) {
                err(format!("{at}.{field}[{i}]"), e);
            }
        }
    }
    for name in h.include_additional_headers_in_check.keys() {
        if let Err(e) = header_name(name) {
            err(format!("{at}.includeAdditionalHeadersInCheck.{name}"), e);
        }
    }
}
