//! Configuration attacks (hostile plan §8): each hostile file is refused with `file:line` and a
//! message, by the same load path `rampart validate` uses, while the last good configuration
//! keeps serving and every refusal is counted.

use rampart_testkit::Backend;

use crate::support::{app_config, TestGateway};

/// A VirtualService on the test gateway with this HTTP route body (indented six spaces).
fn route(body: &str) -> String {
    format!(
        "---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: bad}}
spec:
  hosts: [bad.example]
  gateways: [edge]
  http:
  - {body}
"
    )
}

#[tokio::test]
async fn cf_hostile_configs_are_refused_and_the_last_good_one_serves() {
    let be = Backend::start("app").await;
    let good = app_config(be.port());
    let gw = TestGateway::start(&good).await;
    let good = good.replace("${GW_PORT}", &gw.addr.port().to_string());
    let dest = "route: [{destination: {host: app.default.svc.cluster.local}}]";
    let mut laughs = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..10 {
        let p = i - 1;
        laughs.push_str(&format!(
            "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    let mut ten_docs = good.clone();
    for i in 0..10 {
        let weight = if i == 6 { "-1" } else { "100" };
        ten_docs.push_str(&format!(
            "---\napiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {{name: vs{i}}}\nspec:\n  hosts: [vs{i}.example]\n  gateways: [edge]\n  http:\n  - route: [{{destination: {{host: app.default.svc.cluster.local}}, weight: {weight}}}]\n"
        ));
    }
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("CF-01 billion laughs", format!("{good}---\n{laughs}").into_bytes(), "nodes"),
        (
            "CF-02 deep nesting",
            format!("{good}---\nx: {}{}\n", "[".repeat(100_000), "]".repeat(100_000)).into_bytes(),
            "recursion limit",
        ),
        ("CF-04 invalid UTF-8", [good.as_bytes(), b"# \xff\n"].concat(), "UTF-8"),
        ("CF-04 NUL", [good.as_bytes(), b"---\nx: \x00\n"].concat(), ":"),
        (
            "CF-06 back-reference",
            format!("{good}{}", route(&format!("match: [{{uri: {{regex: \"(a)\\\\1\"}}}}]\n    {dest}"))).into_bytes(),
            "spec.http[0].match[0].uri.regex",
        ),
        (
            "CF-06 look-ahead",
            format!("{good}{}", route(&format!("match: [{{uri: {{regex: \"(?=x)\"}}}}]\n    {dest}"))).into_bytes(),
            "spec.http[0].match[0].uri.regex",
        ),
        (
            "CF-07 huge repetition",
            format!("{good}{}", route(&format!("match: [{{uri: {{regex: \"a{{1000}}{{1000}}\"}}}}]\n    {dest}"))).into_bytes(),
            "spec.http[0].match[0].uri.regex",
        ),
        ("CF-08 duplicate key", format!("{good}---\napiVersion: networking.istio.io/v1\napiVersion: networking.istio.io/v1\nkind: Gateway\n").into_bytes(), "duplicate key"),
        ("CF-08 custom tag", format!("{good}---\nx: !!python/object:os.system [ls]\n").into_bytes(), ":"),
        (
            "CF-08 merge key",
            format!("{good}{}", route(&format!("<<: {{timeout: 1s}}\n    {dest}"))).into_bytes(),
            "<<",
        ),
        ("CF-09 timeout", format!("{good}{}", route(&format!("timeout: 99999999999999s\n    {dest}"))).into_bytes(), "spec.http[0].timeout"),
        ("CF-09 attempts", format!("{good}{}", route(&format!("retries: {{attempts: 4294967296}}\n    {dest}"))).into_bytes(), "spec.http[0].retries.attempts"),
        ("CF-09 perTryTimeout", format!("{good}{}", route(&format!("retries: {{attempts: 2, perTryTimeout: -1s}}\n    {dest}"))).into_bytes(), "spec.http[0].retries.perTryTimeout"),
        ("CF-10 doc 7 of 10", ten_docs.into_bytes(), "weight"),
    ];
    let mut failures = Vec::new();
    for (id, bytes, want) in &cases {
        std::fs::write(&gw.file, bytes).unwrap();
        match gw.gw.reload().await {
            Ok(v) => failures.push(format!("{id}: accepted as version {v}")),
            Err(errors) => {
                let all = errors.join("\n");
                let located = errors.iter().any(|e| e.contains("config.yaml:"));
                if !located || !all.contains(want) {
                    failures.push(format!("{id}: want {want:?} with file:line, got\n{all}"));
                }
            }
        }
        let resp = gw.get("a", "/").send().await.unwrap();
        if resp.status != 200 {
            failures.push(format!(
                "{id}: the last good config stopped serving ({})",
                resp.status
            ));
        }
    }
    // CF-03: a file over the size cap is refused before it is parsed (a sparse file: no disk).
    let big = std::fs::File::create(&gw.file).unwrap();
    big.set_len(200 << 20).unwrap();
    drop(big);
    match gw.gw.reload().await {
        Ok(_) => failures.push("CF-03: a 200 MiB file was accepted".into()),
        Err(errors) if !errors.join("\n").contains("64 MiB") => {
            failures.push(format!("CF-03: {errors:?}"))
        }
        Err(_) => {}
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(gw.gw.version(), 1, "no hostile file was ever applied");
    let metrics = gw.admin("/stats/prometheus").await.body;
    let refused = format!("rampart_config_reload_failures_total {}", cases.len() + 1);
    assert!(metrics.contains(&refused), "{metrics}");
    // CF-05: a regex that backtracks exponentially elsewhere is accepted (RE2 semantics: linear
    // time) and an 8 KiB path against it is answered.
    let redos = format!(
        "{good}{}",
        route(&format!(
            "match: [{{uri: {{regex: \"/(a+)+$\"}}}}]\n    {dest}"
        ))
    );
    std::fs::write(&gw.file, &redos).unwrap();
    assert_eq!(gw.gw.reload().await, Ok(2));
    let path = format!("/{}!", "a".repeat(8 * 1024));
    let resp = gw.get("bad.example", &path).send().await.unwrap();
    assert_eq!(resp.status, 404, "no route: the regex does not match");
    let resp = gw.get("bad.example", "/aaaa").send().await.unwrap();
    assert_eq!(resp.status, 200);
    // CF-04: a UTF-8 byte-order mark is tolerated.
    std::fs::write(&gw.file, format!("\u{feff}{good}")).unwrap();
    assert_eq!(gw.gw.reload().await, Ok(3));
}
