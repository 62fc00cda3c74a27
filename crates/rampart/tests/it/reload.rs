//! Hot reload: good changes take effect, bad ones change nothing, requests are never lost.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use rampart_testkit::{Backend, Request};

use crate::support::{service, subsets, TestGateway, G0};

fn config(v1: &Backend, v2: &Backend, subset: &str) -> String {
    format!(
        "{G0}{}{}---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: app}}
spec:
  hosts: [\"*\"]
  gateways: [edge]
  http:
  - route: [{{destination: {{host: app, subset: {subset}}}}}]
",
        service(
            "app",
            "app.default.svc.cluster.local",
            &[(v1.port(), "v1"), (v2.port(), "v2")]
        ),
        subsets("app", "app.default.svc.cluster.local", &["v1", "v2"])
    )
}

#[tokio::test]
async fn invalid_reload_keeps_the_last_good_config_and_says_why() {
    let (v1, v2) = (Backend::start("v1").await, Backend::start("v2").await);
    let gw = TestGateway::start(&config(&v1, &v2, "v1")).await;
    gw.write(
        &config(&v1, &v2, "v1")
            .replace("weight", "x")
            .replace("route: [", "routes: ["),
    );
    let err = gw.gw.reload().await.expect_err("rejected");
    assert!(err[0].contains("config.yaml:"), "{err:?}");
    assert!(
        err.iter().any(|e| e.contains("unknown field `routes`")),
        "{err:?}"
    );
    assert_eq!(gw.get("h", "/").send().await.unwrap().body, "v1");
    let dump = gw.admin("/config_dump").await.body;
    let dump: serde_json::Value = serde_json::from_str(&dump).unwrap();
    assert_eq!(dump["version"], 1);
    assert_eq!(dump["lastReload"]["rejected"], true);
    assert!(dump["lastReload"]["messages"][0]
        .as_str()
        .unwrap()
        .contains("routes"));
    let metrics = gw.admin("/stats/prometheus").await.body;
    assert!(
        metrics.contains("rampart_config_reload_failures_total 1"),
        "{metrics}"
    );

    gw.write(&config(&v1, &v2, "v2"));
    assert_eq!(gw.gw.reload().await, Ok(2));
    assert_eq!(gw.get("h", "/").send().await.unwrap().body, "v2");
}

#[tokio::test]
async fn file_changes_are_picked_up_by_the_watcher() {
    let (v1, v2) = (Backend::start("v1").await, Backend::start("v2").await);
    let mut gw = TestGateway::start_with(&config(&v1, &v2, "v1"), |o| o.watch = true).await;
    assert_eq!(gw.get("h", "/").send().await.unwrap().body, "v1");
    gw.write(&config(&v1, &v2, "v2"));
    let mut seen = 0;
    while gw.gw.version() < 2 {
        seen = gw.gw.reload_attempts_after(seen).await;
    }
    assert_eq!(gw.get("h", "/").send().await.unwrap().body, "v2");
}

#[tokio::test]
async fn reloads_under_load_lose_no_request() {
    let (v1, v2) = (Backend::start("v1").await, Backend::start("v2").await);
    let gw = TestGateway::start_with(&config(&v1, &v2, "v1"), |o| o.workers = 2).await;
    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    for _ in 0..4 {
        let req = Request::get(gw.addr, "/").host("h");
        let stop = stop.clone();
        clients.push(tokio::spawn(async move {
            let (mut ok, mut failed) = (0, 0);
            while !stop.load(Ordering::Relaxed) && ok + failed < 2000 {
                match req.clone().send().await {
                    Ok(r) if r.status == 200 => ok += 1,
                    _ => failed += 1,
                }
                tokio::task::yield_now().await;
            }
            (ok, failed)
        }));
    }
    for i in 0..10 {
        gw.write(&config(&v1, &v2, if i % 2 == 0 { "v2" } else { "v1" }));
        gw.gw.reload().await.expect("reload");
        tokio::task::yield_now().await;
    }
    stop.store(true, Ordering::Relaxed);
    let (mut ok, mut failed) = (0, 0);
    for c in clients {
        let (o, f) = c.await.unwrap();
        ok += o;
        failed += f;
    }
    assert_eq!(failed, 0, "{ok} ok");
    assert!(ok > 0);
    assert_eq!(gw.gw.version(), 11);
}

/// CF-11: a config file written in two steps 50 ms apart (an editor or `cp` mid-write): the
/// truncated state is never served (rejected, or folded into the final change by the watcher's
/// debounce), the final one is, and requests never fail meanwhile.
#[tokio::test]
async fn a_file_truncated_mid_write_is_never_served() {
    let (v1, v2) = (Backend::start("v1").await, Backend::start("v2").await);
    let mut gw = TestGateway::start_with(&config(&v1, &v2, "v1"), |o| o.watch = true).await;
    let full = config(&v1, &v2, "v2").replace("${GW_PORT}", &gw.addr.port().to_string());
    let cut = full.len() * 2 / 3;
    std::fs::write(&gw.file, &full[..cut]).unwrap();
    // The writer finishes 50 ms later (this pause is the scenario, not a wait for readiness).
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert_eq!(gw.get("h", "/").send().await.unwrap().body, "v1");
    std::fs::write(&gw.file, &full).unwrap();
    let mut seen = 0;
    while gw.gw.version() < 2 {
        seen = gw.gw.reload_attempts_after(seen).await;
        assert!(seen < 10, "the final file was never applied");
    }
    assert_eq!(gw.gw.version(), 2, "one good reload: the final file");
    assert_eq!(gw.get("h", "/").send().await.unwrap().body, "v2");
}
