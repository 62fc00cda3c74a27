//! Admin endpoints and graceful drain.

use std::time::Duration;

use rampart_testkit::{Backend, Reply, Request};

use crate::support::{service, TestGateway, G0};

fn config(be: &Backend) -> String {
    format!(
        "{G0}{}---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: app}}
spec:
  hosts: [\"*\"]
  gateways: [edge]
  http:
  - name: everything
    route: [{{destination: {{host: app}}}}]
",
        service("app", "app.default.svc.cluster.local", &[(be.port(), "v1")])
    )
}

#[tokio::test]
async fn admin_endpoints_report_state() {
    let be = Backend::start("app").await;
    let gw = TestGateway::start(&config(&be)).await;
    for _ in 0..3 {
        gw.get("h", "/").send().await.unwrap();
    }
    gw.get("h", "/")
        .method(http::Method::POST)
        .send()
        .await
        .unwrap();
    assert_eq!(gw.admin("/ready").await.status.as_u16(), 200);
    assert_eq!(gw.admin("/healthz").await.status.as_u16(), 200);

    let dump: serde_json::Value =
        serde_json::from_str(&gw.admin("/config_dump").await.body).unwrap();
    assert_eq!(dump["version"], 1);
    assert_eq!(
        dump["config"]["listeners"][0]["virtualHosts"][0]["routes"][0]["name"],
        "everything"
    );
    assert_eq!(
        dump["config"]["clusters"][0]["name"],
        "outbound|9080||app.default.svc.cluster.local"
    );

    let clusters = gw.admin("/clusters").await.body;
    assert!(
        clusters.contains(&format!(
            "outbound|9080||app.default.svc.cluster.local::127.0.0.1:{}::rq_total::4",
            be.port()
        )),
        "{clusters}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&gw.admin("/clusters?format=json").await.body).unwrap();
    assert_eq!(
        json["clusters"][0]["endpoints"][0]["labels"]["version"],
        "v1"
    );

    let metrics = gw.admin("/stats/prometheus").await.body;
    assert!(
        metrics.contains("rampart_route_requests_total{route=\"everything\",destination_service=\"app.default.svc.cluster.local\",destination_service_name=\"app\",destination_service_namespace=\"default\",destination_version=\"unknown\",response_code=\"200\",response_flags=\"-\"} 4"),
        "{metrics}"
    );
    assert!(
        metrics.contains("istio_request_duration_milliseconds_count{"),
        "{metrics}"
    );
    assert_eq!(gw.admin("/nope").await.status.as_u16(), 404);
}

#[tokio::test]
async fn drain_finishes_in_flight_requests_and_turns_ready_off() {
    let be = Backend::with("slow", |_| {
        Reply::new(200, "slow").delayed(Duration::from_millis(300))
    })
    .await;
    let gw = TestGateway::start(&config(&be)).await;
    let in_flight = tokio::spawn(gw.get("h", "/").send());
    // Wait until the backend has the request: the drain must begin while it is in flight.
    while be.count() == 0 {
        tokio::task::yield_now().await;
    }
    let admin = gw.admin;
    let addr = gw.addr;
    let state = gw.gw.state.clone();
    let drain = tokio::spawn(gw.gw.shutdown(Duration::from_secs(5)));
    while !state.shared.draining() {
        tokio::task::yield_now().await;
    }
    assert_eq!(
        Request::get(admin, "/ready")
            .send()
            .await
            .unwrap()
            .status
            .as_u16(),
        503
    );
    let resp = in_flight
        .await
        .unwrap()
        .expect("the in-flight request completes");
    assert_eq!((resp.status.as_u16(), resp.body.as_str()), (200, "slow"));
    drain.await.unwrap();
    assert!(
        Request::get(addr, "/").send().await.is_err(),
        "no listener after drain"
    );
}
