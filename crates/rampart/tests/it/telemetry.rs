//! Istio's `Telemetry` resource: access logging switched per configuration, bad fields refused.

use rampart_testkit::Backend;

use crate::support::{app_config, temp_dir, TestGateway};

const LOGGING_OFF: &str = "---
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: mesh-default, namespace: istio-system}
spec:
  accessLogging: [{disabled: true}]
";

const LOGGING_ON: &str = "---
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: mesh-default, namespace: istio-system}
spec:
  accessLogging: [{providers: [{name: envoy}]}]
  tracing: [{randomSamplingPercentage: 25.0}]
";

#[tokio::test]
async fn access_logging_follows_the_telemetry_resource() {
    let be = Backend::start("app").await;
    let base = app_config(be.port());
    let file = temp_dir().join("access.log");
    let log = file.clone();
    let gw = TestGateway::start_with(&format!("{base}{LOGGING_OFF}"), move |o| {
        o.access_log = Some((Some(log), rampart_telemetry::AccessLogFormat::Json));
    })
    .await;
    // Off by the Telemetry resource although --access-log is given.
    assert_eq!(
        gw.get("a.example", "/off").send().await.unwrap().status,
        200
    );
    // On again: the line of the next request shows up, and only that one.
    gw.write(&format!("{base}{LOGGING_ON}"));
    gw.gw.reload().await.expect("reload");
    assert_eq!(gw.get("a.example", "/on").send().await.unwrap().status, 200);
    let text = crate::support::log_lines(&file, 1).await.join("\n");
    assert!(
        text.contains("\"/on\"") && !text.contains("\"/off\""),
        "{text}"
    );
    let dump: serde_json::Value =
        serde_json::from_str(&gw.admin("/config_dump").await.body).unwrap();
    assert_eq!(dump["config"]["telemetry"]["accessLogging"], true, "{dump}");
    assert_eq!(dump["config"]["telemetry"]["tracingSamplingPercent"], 25.0);
}

#[tokio::test]
async fn unsupported_telemetry_fields_are_refused_by_name() {
    let be = Backend::start("app").await;
    let base = app_config(be.port());
    let gw = TestGateway::start(&base).await;
    let bad = "---
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: fancy, namespace: istio-system}
spec:
  accessLogging: [{providers: [{name: otel}], filter: {expression: 'response.code >= 400'}}]
  metrics: [{overrides: [{match: {metric: REQUEST_COUNT}, disabled: true}]}]
  tracing: [{randomSamplingPercentage: 150.0, customTags: {team: {literal: {value: a}}}}]
";
    gw.write(&format!("{base}{bad}"));
    let errors = gw.gw.reload().await.expect_err("refused");
    for field in [
        "spec.accessLogging[0].providers[0].name",
        "spec.accessLogging[0].filter",
        "spec.metrics[0].overrides",
        "spec.tracing[0].randomSamplingPercentage",
        "spec.tracing[0].customTags",
    ] {
        assert!(
            errors.iter().any(|e| e.contains(field)),
            "{field}: {errors:?}"
        );
    }
}
