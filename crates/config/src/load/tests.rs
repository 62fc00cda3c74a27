//! Loader tests: multi-document files, directories, hints, syntax errors, duplicates, type
//! errors, apiVersions, and the Bookinfo-style scenario documents loading cleanly.

use super::*;

mod diagnostics;

const G0_B0: &str = r#"apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: edge, namespace: default}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 18080, name: http, protocol: HTTP}
    hosts: ["*"]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: reviews}
spec:
  hosts: [reviews.default.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 9080, name: http, protocol: HTTP}]
  endpoints:
  - {address: 127.0.0.1, ports: {http: 18080}, labels: {version: v1}}
  - {address: 127.0.0.1, ports: {http: 18080}, labels: {version: v2}}
  - {address: 127.0.0.1, ports: {http: 18080}, labels: {version: v3}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews.default.svc.cluster.local
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
  - {name: v3, labels: {version: v3}}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ratings}
spec:
  hosts: [ratings.default.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 9080, name: http, protocol: HTTP}]
  endpoints:
  - {address: 127.0.0.1, ports: {http: 18080}, labels: {version: v1}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ratings}
spec:
  host: ratings.default.svc.cluster.local
  subsets: [{name: v1, labels: {version: v1}}]
"#;

const S1A: &str = r#"apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews.default.svc.cluster.local]
  gateways: [edge]
  http:
  - route:
    - destination: {host: reviews.default.svc.cluster.local, subset: v1}
"#;

const S1B: &str = r#"apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews.default.svc.cluster.local]
  gateways: [edge]
  http:
  - match:
    - headers:
        end-user: {exact: jason}
    route:
    - destination: {host: reviews.default.svc.cluster.local, subset: v2}
  - route:
    - destination: {host: reviews.default.svc.cluster.local, subset: v1}
"#;

const S2: &str = r#"apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews.default.svc.cluster.local]
  gateways: [edge]
  http:
  - route:
    - destination: {host: reviews.default.svc.cluster.local, subset: v1}
      weight: 50
    - destination: {host: reviews.default.svc.cluster.local, subset: v3}
      weight: 50
"#;

const S6: &str = r#"apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: httpbin}
spec:
  hosts: [httpbin.default.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 8000, name: http, protocol: HTTP}]
  endpoints: [{address: 127.0.0.1, ports: {http: 18080}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: httpbin}
spec:
  host: httpbin.default.svc.cluster.local
  trafficPolicy:
    connectionPool:
      tcp: {maxConnections: 1}
      http: {http1MaxPendingRequests: 1, maxRequestsPerConnection: 1}
    outlierDetection:
      consecutive5xxErrors: 1
      interval: 1s
      baseEjectionTime: 3m
      maxEjectionPercent: 100
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: httpbin}
spec:
  hosts: [httpbin.default.svc.cluster.local]
  gateways: [edge]
  http:
  - route: [{destination: {host: httpbin.default.svc.cluster.local}}]
"#;

const S7: &str = r#"apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: httpbin}
spec:
  hosts: [httpbin.default.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 8000, name: http, protocol: HTTP}]
  endpoints:
  - {address: 127.0.0.1, ports: {http: 18080}, labels: {version: v1}}
  - {address: 127.0.0.1, ports: {http: 18080}, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: httpbin}
spec:
  host: httpbin.default.svc.cluster.local
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: httpbin}
spec:
  hosts: [httpbin.default.svc.cluster.local]
  gateways: [edge]
  http:
  - route:
    - destination: {host: httpbin.default.svc.cluster.local, subset: v1}
      weight: 100
    mirror: {host: httpbin.default.svc.cluster.local, subset: v2}
    mirrorPercentage: {value: 100.0}
"#;

const S15: &str = r#"apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: my-gateway}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 18080, name: http, protocol: HTTP}
    hosts: ["*"]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: product-service}
spec:
  hosts: [product-service.default.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 80, name: http, protocol: HTTP}]
  endpoints: [{address: 127.0.0.1, ports: {http: 18080}}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: order-service}
spec:
  hosts: [order-service.default.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 80, name: http, protocol: HTTP}]
  endpoints: [{address: 127.0.0.1, ports: {http: 18080}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: shop}
spec:
  hosts: ["*"]
  gateways: [my-gateway]
  http:
  - match: [{uri: {prefix: /products}}]
    route: [{destination: {host: product-service.default.svc.cluster.local, port: {number: 80}}}]
  - match: [{uri: {prefix: /orders}}]
    route: [{destination: {host: order-service.default.svc.cluster.local, port: {number: 80}}}]
"#;
fn show(l: &Loaded) -> String {
    l.diagnostics.iter().map(|d| format!("{d}\n")).collect()
}

#[test]
fn scenario_documents_are_clean() {
    for (name, text) in [
        ("g0b0", G0_B0),
        ("s1a", S1A),
        ("s1b", S1B),
        ("s2", S2),
        ("s6", S6),
        ("s7", S7),
        ("s15", S15),
    ] {
        let l = load_str(name, text);
        assert!(l.diagnostics.is_empty(), "{name}:\n{}", show(&l));
    }
    let all = format!("{G0_B0}---\n{S1B}---\n{S6}");
    let l = load_str("all.yaml", &all.replace("name: httpbin", "name: httpbin2"));
    assert!(!l.has_errors(), "{}", show(&l));
    assert_eq!(l.config.gateways.len(), 1);
    assert_eq!(l.config.service_entries.len(), 3);
    assert_eq!(l.config.destination_rules.len(), 3);
    assert_eq!(l.config.virtual_services.len(), 2);
}

#[test]
fn resource_fields_and_lines() {
    let l = load_str("s1.yaml", S1B);
    let vs = &l.config.virtual_services[0];
    assert_eq!(vs.meta.name, "reviews");
    assert_eq!(vs.meta.namespace, "default");
    assert_eq!(vs.api_version, "networking.istio.io/v1");
    assert_eq!(vs.kind, Kind::VirtualService);
    assert_eq!(vs.source.line, 1);
    assert_eq!(vs.line_of("spec.http[0].match[0].headers.end-user"), 10);
    assert_eq!(vs.line_of("spec.http[1].route[0].destination.host"), 14);
    assert_eq!(vs.line_of("spec.http[9].nothing"), 7);
    let h = &vs.spec.http[0].matches[0].headers["end-user"];
    assert_eq!(h.exact.as_deref(), Some("jason"));
    let d = vs.diag(Severity::Warning, "spec.hosts", "hello");
    assert_eq!(
        d.to_string(),
        "s1.yaml:5: VirtualService default/reviews: spec.hosts: warning: hello"
    );
}

#[test]
fn multi_document_order_and_empty_documents() {
    let text = format!(
        "---\n---\n{S1A}---\n# only a comment\n---\n{}",
        S1A.replace("name: reviews", "name: ratings")
    );
    let l = load_str("m.yaml", &text);
    assert!(l.diagnostics.is_empty(), "{}", show(&l));
    let names: Vec<_> = l
        .config
        .virtual_services
        .iter()
        .map(|v| v.meta.name.as_str())
        .collect();
    assert_eq!(names, ["reviews", "ratings"]);
    assert_eq!(l.config.virtual_services[1].source.line, 15);
}

#[test]
fn directory_loading_sorted_and_unreadable_path() {
    let dir = std::env::temp_dir().join(format!("rampart-config-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    std::fs::write(
        dir.join("b.yml"),
        S1A.replace("name: reviews", "name: second"),
    )
    .unwrap();
    std::fs::write(
        dir.join("a.yaml"),
        S1A.replace("name: reviews", "name: first"),
    )
    .unwrap();
    std::fs::write(dir.join("c.txt"), "not: yaml: at: all").unwrap();
    std::fs::write(
        dir.join("sub/d.yaml"),
        S1A.replace("name: reviews", "name: nested"),
    )
    .unwrap();
    let l = load_paths(&[dir.clone(), dir.join("missing.yaml")]);
    let names: Vec<_> = l
        .config
        .virtual_services
        .iter()
        .map(|v| v.meta.name.as_str())
        .collect();
    assert_eq!(names, ["first", "second"]);
    assert_eq!(l.diagnostics.len(), 1, "{}", show(&l));
    assert!(l.has_errors());
    let d = &l.diagnostics[0];
    assert!(
        d.file.ends_with("missing.yaml") && d.message.starts_with("cannot read"),
        "{d}"
    );
    assert!(l.config.virtual_services[0].source.file.ends_with("a.yaml"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn unknown_field_did_you_mean() {
    let t = "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: r}\nspec:\n  hosts: [a.example.com]\n  http:\n  - rout:\n    - destination: {host: a.example.com}\n    retires: {attempts: 1}\n";
    let l = load_str("u.yaml", t);
    let lines: Vec<String> = l.diagnostics.iter().map(ToString::to_string).collect();
    assert_eq!(
        lines,
        [
            "u.yaml:7: VirtualService default/r: spec.http[0].rout: unknown field `rout`, did you mean `route`?",
            "u.yaml:9: VirtualService default/r: spec.http[0].retires: unknown field `retires`, did you mean `retries`?",
        ]
    );
    assert!(l.config.virtual_services.is_empty());
    let l = load_str("u.yaml", &format!("{S1A}specs: {{}}\n"));
    assert!(show(&l).contains("u.yaml:10: VirtualService default/reviews: specs: unknown field `specs`, did you mean `spec`?"), "{}", show(&l));
    let l = load_str(
        "u.yaml",
        &S1A.replace(
            "metadata: {name: reviews}",
            "metadata: {name: reviews, nmespace: x}",
        ),
    );
    assert!(
        show(&l).contains("metadata.nmespace: unknown field `nmespace`, did you mean `namespace`?"),
        "{}",
        show(&l)
    );
}

#[test]
fn metadata_bookkeeping_and_status_ignored() {
    let t = S1A.replace(
        "metadata: {name: reviews}",
        "metadata: {name: reviews, uid: x, resourceVersion: \"1\", generation: 2, creationTimestamp: null, managedFields: [], ownerReferences: [], finalizers: [], generateName: r-, labels: {app: r}, annotations: {\"a.io/b\": \"c d\"}}\nstatus: {anything: [1, 2]}",
    );
    let l = load_str("m.yaml", &t);
    assert!(l.diagnostics.is_empty(), "{}", show(&l));
    assert_eq!(
        l.config.virtual_services[0].meta.annotations["a.io/b"],
        "c d"
    );
}

#[test]
fn yaml_syntax_error_line_and_earlier_documents_kept() {
    let t = format!("{S1A}---\napiVersion: v1\nkind: [unclosed\n");
    let l = load_str("s.yaml", &t);
    assert_eq!(l.config.virtual_services.len(), 1);
    assert_eq!(l.diagnostics.len(), 1, "{}", show(&l));
    let d = &l.diagnostics[0];
    assert_eq!(d.line, 13, "{d}");
    assert!(
        d.to_string().starts_with("s.yaml:13: YAML syntax error:"),
        "{d}"
    );
    let l = load_str("t.yaml", "a: b\n  c: d\n");
    assert_eq!(l.diagnostics[0].line, 2, "{}", show(&l));
}

#[test]
fn other_files_still_checked_after_syntax_error() {
    let dir = std::env::temp_dir().join(format!("rampart-config-syntax-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("a.yaml"), "x: [\n").unwrap();
    std::fs::write(dir.join("b.yaml"), S1A).unwrap();
    let l = load_paths(&[&dir]);
    assert_eq!(l.config.virtual_services.len(), 1);
    assert_eq!(l.diagnostics.len(), 1);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn duplicate_names() {
    let t = format!("{S1A}---\n{S1A}");
    let l = load_str("d.yaml", &t);
    assert_eq!(l.config.virtual_services.len(), 1);
    assert_eq!(
        show(&l),
        "d.yaml:13: VirtualService default/reviews: metadata.name: duplicate VirtualService default/reviews, first defined at d.yaml:1\n"
    );
    let other_ns = S1A.replace("{name: reviews}", "{name: reviews, namespace: prod}");
    assert!(load_str("d.yaml", &format!("{S1A}---\n{other_ns}"))
        .diagnostics
        .is_empty());
}

#[test]
fn duplicate_yaml_keys() {
    let l = load_str("k.yaml", &format!("{S1A}kind: Gateway\n"));
    assert_eq!(
        show(&l),
        "k.yaml:10: VirtualService default/reviews: kind: duplicate key `kind`\n"
    );
}

#[test]
fn type_errors_name_the_path() {
    let t = S1A.replace("subset: v1}", "subset: v1, port: {number: eighty}}");
    let l = load_str("e.yaml", &t);
    let s = show(&l);
    assert!(s.contains("e.yaml:9: VirtualService default/reviews: spec.http[0].route[0].destination.port.number: invalid type: string \"eighty\", expected u32"), "{s}");
    let l = load_str("e.yaml", &S1A.replace("gateways: [edge]", "gateways: edge"));
    assert!(show(&l).contains("e.yaml:6: VirtualService default/reviews: spec.gateways: invalid type: string \"edge\", expected a sequence"), "{}", show(&l));
    let l = load_str(
        "e.yaml",
        &S1A.replace(
            "gateways: [edge]",
            "gateways: [edge]\n  tls: [{match: [{sniHosts: a, port: x}]}]",
        ),
    );
    assert_eq!(l.diagnostics.len(), 2, "{}", show(&l));
}

#[test]
fn api_versions_and_kinds() {
    for v in [
        "networking.istio.io/v1",
        "networking.istio.io/v1beta1",
        "networking.istio.io/v1alpha3",
    ] {
        let l = load_str("v.yaml", &S1A.replace("networking.istio.io/v1", v));
        assert!(l.diagnostics.is_empty(), "{v}: {}", show(&l));
    }
    let l = load_str("v.yaml", &S1A.replace("networking.istio.io/v1", "foo/v1"));
    assert_eq!(show(&l), "v.yaml:1: VirtualService default/reviews: apiVersion: apiVersion foo/v1 is not accepted for VirtualService\n");
    let l = load_str(
        "v.yaml",
        &S1A.replace("kind: VirtualService", "kind: PeerAuthentication"),
    );
    assert_eq!(show(&l), "v.yaml:2: PeerAuthentication default/reviews: kind: kind PeerAuthentication is not supported yet\n");
    let l = load_str(
        "v.yaml",
        &S1A.replace("kind: VirtualService", "kind: AuthorizationPolicy"),
    );
    assert_eq!(show(&l), "v.yaml:1: AuthorizationPolicy default/reviews: apiVersion: apiVersion networking.istio.io/v1 is not accepted for AuthorizationPolicy\n");
    let l = load_str("v.yaml", "kind: Gateway\nmetadata: {}\n");
    let s = show(&l);
    assert!(
        s.contains("v.yaml:1: Gateway: apiVersion: apiVersion is required"),
        "{s}"
    );
    let l = load_str(
        "v.yaml",
        "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {namespace: x}\nspec: {}\n",
    );
    assert_eq!(
        show(&l),
        "v.yaml:3: Gateway: metadata.name: name is required\n"
    );
    let l = load_str(
        "v.yaml",
        "apiVersion: networking.istio.io/v1\nmetadata: {name: a}\n",
    );
    assert_eq!(show(&l), "v.yaml:1: default/a: kind: kind is required\n");
    let l = load_str("v.yaml", "- 1\n");
    assert_eq!(
        show(&l),
        "v.yaml:1: a document must be a mapping, found a list\n"
    );
}

#[test]
fn scalars_follow_yaml_core_schema() {
    let base =
        "apiVersion: networking.istio.io/v1\nkind: WorkloadEntry\nmetadata: {name: w}\nspec:\n";
    let l = load_str("s.yaml", &format!("{base}  address: 10.0.0.1\n  weight: 0x10\n  ports: {{http: 0o17}}\n  labels: {{version: \"1\", on: \"true\"}}\n"));
    assert!(l.diagnostics.is_empty(), "{}", show(&l));
    let w = &l.config.workload_entries[0].spec;
    assert_eq!(w.weight, Some(16));
    assert_eq!(w.ports["http"], 15);
    let l = load_str(
        "s.yaml",
        &format!("{base}  address: 10.0.0.1\n  labels: {{version: 1}}\n"),
    );
    assert!(
        show(&l).contains("spec.labels.version: invalid type: integer `1`, expected a string"),
        "{}",
        show(&l)
    );
    let l = load_str(
        "s.yaml",
        &format!("{base}  address: 10.0.0.1\n  weight: .inf\n"),
    );
    assert!(
        show(&l).contains(
            "s.yaml:6: WorkloadEntry default/w: spec.weight: `.inf` is not a finite number"
        ),
        "{}",
        show(&l)
    );
    let l = load_str(
        "s.yaml",
        &format!("{base}  address: &a 10.0.0.1\n  network: *a\n  labels: {{x: ~}}\n"),
    );
    assert!(
        show(&l).contains("spec.labels.x: invalid type: null"),
        "{}",
        show(&l)
    );
    let l = load_str(
        "s.yaml",
        &format!("{base}  address: &a 10.0.0.1\n  network: *a\n"),
    );
    assert_eq!(
        l.config.workload_entries[0].spec.network.as_deref(),
        Some("10.0.0.1")
    );
}

#[test]
fn hostile_documents_are_rejected_not_crashed() {
    let deep = format!("{}1{}", "[".repeat(500), "]".repeat(500));
    assert!(load_str("d.yaml", &deep).has_errors());
    let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 0..8 {
        let prev = if i == 0 {
            "a".to_string()
        } else {
            format!("b{}", i - 1)
        };
        bomb.push_str(&format!("b{i}: &b{i} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"));
    }
    let l = load_str("b.yaml", &bomb);
    assert!(
        show(&l).contains("document expands to more than"),
        "{}",
        show(&l)
    );
}

#[test]
fn line_zero_display() {
    let d = Diagnostic::bare(
        Severity::Error,
        std::sync::Arc::from("x.yaml"),
        0,
        "cannot read: gone",
    );
    assert_eq!(d.to_string(), "x.yaml: cannot read: gone");
}

mod fuzz {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        #[test]
        fn never_panics_on_arbitrary_text(s in "\\PC{0,400}") {
            let _ = load_str("p.yaml", &s);
        }

        #[test]
        fn never_panics_on_yamlish_text(s in "[-:\\[\\]{}&*!|>'\"#%@ \n\ta-z0-9.~]{0,300}") {
            let _ = load_str("p.yaml", &s);
        }

        #[test]
        fn never_panics_on_mutated_documents(
            doc in proptest::sample::select(vec![G0_B0, S1B, S2, S6, S7, S15]),
            edits in proptest::collection::vec((any::<proptest::sample::Index>(), 0u8..4, "[ -~\n]{0,6}"), 1..6),
        ) {
            let mut text = doc.to_string();
            for (at, op, piece) in edits {
                let mut i = at.index(text.len() + 1);
                while !text.is_char_boundary(i) { i -= 1; }
                match op {
                    0 => text.insert_str(i, &piece),
                    1 => { let end = (i + piece.len()).min(text.len()); if text.is_char_boundary(end) { text.replace_range(i..end, ""); } }
                    2 => { let end = (i + 1).min(text.len()); if text.is_char_boundary(end) { text.replace_range(i..end, &piece); } }
                    _ => text.insert(i, '\n'),
                }
            }
            let _ = load_str("p.yaml", &text);
        }
    }
}
