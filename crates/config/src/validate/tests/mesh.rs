//! MeshConfig: `envoyExtAuthzHttp` providers read; other fields and provider kinds rejected by
//! name, with file, line and field path.

use std::sync::Arc;

use crate::load_mesh_str;

fn problems(text: &str) -> Vec<String> {
    let (_, diags) = load_mesh_str(Arc::from("mesh"), text);
    diags.iter().map(ToString::to_string).collect()
}

#[test]
fn istio_task_mesh_config_loads() {
    let text = "extensionProviders:\n- name: \"sample-ext-authz-http\"\n  envoyExtAuthzHttp:\n    service: \"ext-authz.foo.svc.cluster.local\"\n    port: \"8000\"\n    includeRequestHeadersInCheck: [\"x-ext-authz\"]\n";
    let (mesh, diags) = load_mesh_str(Arc::from("mesh"), text);
    assert!(diags.is_empty(), "{diags:?}");
    let mesh = mesh.expect("loaded");
    let http = mesh.config.extension_providers[0]
        .envoy_ext_authz_http
        .as_ref()
        .unwrap();
    assert_eq!(
        (http.port, http.service.as_str()),
        (8000, "ext-authz.foo.svc.cluster.local")
    );
}

#[test]
fn unsupported_mesh_fields_are_named() {
    let other = problems("accessLogFile: /dev/stdout\n").join("\n");
    assert!(
        other.contains("mesh:1: MeshConfig: accessLogFile: unknown field"),
        "{other}"
    );
    let all = problems(
        "extensionProviders:\n- name: a\n  envoyExtAuthzGrpc: {service: x, port: 9000}\n- name: b\n  zipkin: {service: z, port: 9411}\n- name: c\n  envoyExtAuthzHttp: {service: s, port: 80, includeRequestBodyInCheck: {}}\n- name: c\n  envoyExtAuthzHttp: {service: s, port: 70000, pathPrefix: check}\n",
    )
    .join("\n");
    for want in [
        "mesh:3: MeshConfig: extensionProviders[0].envoyExtAuthzGrpc: envoyExtAuthzGrpc is not supported",
        "mesh:5: MeshConfig: extensionProviders[1].zipkin: provider kind zipkin is not supported",
        "extensionProviders[2].envoyExtAuthzHttp.includeRequestBodyInCheck: includeRequestBodyInCheck is not supported",
        "extensionProviders[3].name: duplicate provider name",
        "extensionProviders[3].envoyExtAuthzHttp.port: port number 70000",
        "extensionProviders[3].envoyExtAuthzHttp.pathPrefix: pathPrefix must start with /",
    ] {
        assert!(all.contains(want), "missing {want:?} in\n{all}");
    }
    assert!(problems(
        "extensionProviders: [{name: c, envoyExtAuthzHttp: {service: s, port: \"http\"}}]\n"
    )
    .join("\n")
    .contains("\"http\" is not a port number"));
}
