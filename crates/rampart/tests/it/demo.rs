//! `rampart demo`: the embedded configuration loads and every URL it prints answers as shown.

use std::net::SocketAddr;

use rampart_testkit::Request;

#[tokio::test]
async fn the_demo_answers_every_url_it_prints() {
    let demo = rampart::demo::start(0, "127.0.0.1:0".parse().unwrap(), |_| {})
        .await
        .expect("demo starts");
    let g = SocketAddr::from(([127, 0, 0, 1], demo.port));
    let get = |path: &str| Request::get(g, path);

    let body = get("/reviews/1").send().await.unwrap().body;
    assert!(body.starts_with("reviews-v1: GET /reviews/1"), "{body}");
    let body = get("/reviews/1")
        .header("end-user", "jason")
        .send()
        .await
        .unwrap()
        .body;
    assert!(body.starts_with("reviews-v2"), "{body}");
    for _ in 0..10 {
        let resp = get("/flaky/1").send().await.unwrap();
        assert_eq!(
            resp.status, 200,
            "retries hide the flaky service: {}",
            resp.body
        );
    }
    let resp = get("/ratings/1")
        .header("x-fault", "abort")
        .send()
        .await
        .unwrap();
    assert_eq!(
        (resp.status.as_u16(), resp.body.as_str()),
        (503, "fault filter abort")
    );
    let slow: Vec<_> = (0..6).map(|_| tokio::spawn(get("/slow").send())).collect();
    let mut overloaded = 0;
    for s in slow {
        let resp = s.await.unwrap().unwrap();
        if resp.status == 503 {
            assert_eq!(resp.header("x-envoy-overloaded"), "true");
            overloaded += 1;
        }
    }
    assert!(overloaded > 0, "the circuit breaker trips");
    let resp = get("/old/reviews/1").send().await.unwrap();
    assert_eq!(resp.status, 301);
    assert_eq!(get("/healthz").send().await.unwrap().body, "ok\n");
    assert_eq!(get("/nothing-here").send().await.unwrap().status, 404);
    demo.gateway
        .shutdown(std::time::Duration::from_secs(1))
        .await;
    let _ = std::fs::remove_dir_all(&demo.dir);
}
