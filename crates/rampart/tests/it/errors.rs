//! Failure outcomes: the documented status, flag and body, never a hang.

use rampart_testkit::{free_port, Backend};

use crate::support::{service, subsets, vs_to, TestGateway, G0};

#[tokio::test]
async fn dead_backend_gets_503_uf_and_missing_subset_503_nc() {
    let dead = free_port();
    let live = Backend::start("live").await;
    let yaml = format!(
        "{G0}{}{}{}",
        service(
            "app",
            "app.default.svc.cluster.local",
            &[(dead, "v1"), (live.port(), "v2")]
        ),
        subsets("app", "app.default.svc.cluster.local", &["v1", "v2"]),
        vs_to("{host: app, subset: v1}")
    );
    let gw = TestGateway::start(&yaml).await;
    let r = gw.get("h", "/").send().await.unwrap();
    assert_eq!(r.status.as_u16(), 503);
    assert_eq!(r.body, "upstream connect error or disconnect/reset before headers. reset reason: connection failure");

    // The first try and Istio's two default connect-failure retries.
    let clusters = gw.admin("/clusters").await.body;
    assert!(
        clusters.contains(&format!("127.0.0.1:{dead}::cx_connect_fail::3")),
        "{clusters}"
    );

    gw.write(&yaml.replace("subset: v1", "subset: v9"));
    gw.gw
        .reload()
        .await
        .expect("a missing subset is a warning, not an error");
    let r = gw.get("h", "/").send().await.unwrap();
    assert_eq!(
        (r.status.as_u16(), r.body.as_str()),
        (503, "cluster not found")
    );

    let metrics = gw.admin("/stats/prometheus").await.body;
    for flags in ["UF,URX", "NC"] {
        assert!(
            metrics.contains(&format!("response_code=\"503\",response_flags=\"{flags}\"")),
            "{flags}: {metrics}"
        );
    }
}

#[tokio::test]
async fn an_endpoint_less_cluster_answers_no_healthy_upstream() {
    let yaml = format!(
        "{G0}---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: app}}
spec:
  hosts: [app.default.svc.cluster.local]
  resolution: STATIC
  ports: [{{number: 80, name: http, protocol: HTTP}}]
  endpoints: [{{address: 127.0.0.1, labels: {{version: v1}}}}]
{}{}",
        subsets("app", "app.default.svc.cluster.local", &["v2"]),
        vs_to("{host: app, subset: v2}")
    );
    let gw = TestGateway::start(&yaml).await;
    let r = gw.get("h", "/").send().await.unwrap();
    assert_eq!(
        (r.status.as_u16(), r.body.as_str()),
        (503, "no healthy upstream")
    );
}

#[tokio::test]
async fn invalid_startup_config_is_refused_with_file_and_line() {
    let dir = crate::support::temp_dir();
    let file = dir.join("bad.yaml");
    std::fs::write(
        &file,
        format!(
            "{}{}",
            G0.replace("${GW_PORT}", "80"),
            vs_to("{host: app, subst: v1}")
        ),
    )
    .unwrap();
    let err = rampart::Gateway::start(rampart::GatewayOptions::new(vec![file]))
        .await
        .err()
        .expect("refused");
    let text = err.to_string();
    assert!(text.contains("bad.yaml:18: VirtualService default/app: spec.http[0].route[0].destination.subst: unknown field `subst`"), "{text}");
    assert!(text.contains("did you mean `subset`"), "{text}");
}

#[tokio::test]
async fn an_unreachable_endpoint_gets_503_at_the_connect_timeout() {
    let hole = rampart_testkit::Blackhole::start().await;
    let yaml = format!(
        "{G0}{}---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: app}}
spec:
  host: app
  trafficPolicy:
    connectionPool:
      tcp: {{connectTimeout: 200ms}}
{}",
        service(
            "app",
            "app.default.svc.cluster.local",
            &[(hole.addr.port(), "v1")]
        ),
        vs_to("{host: app}")
    );
    let gw = TestGateway::start(&yaml).await;
    let started = std::time::Instant::now();
    let r = gw.get("h", "/").send().await.unwrap();
    assert_eq!(r.status.as_u16(), 503);
    assert!(
        r.body.ends_with("reset reason: connection failure"),
        "{}",
        r.body
    );
    // Three attempts of 200ms plus jittered back-off: well under the 10s default, and no hang.
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let metrics = gw.admin("/stats/prometheus").await.body;
    assert!(metrics.contains("response_flags=\"UF,URX\""), "{metrics}");
}
