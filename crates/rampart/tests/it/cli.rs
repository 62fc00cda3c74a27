//! The binary's `validate` and `explain` commands.

use std::process::Command;

use crate::support::{app_config, temp_dir, G0};

fn rampart(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_rampart"))
        .args(args)
        .output()
        .expect("run rampart");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

const VS: &str = r#"---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: app}
spec:
  hosts: ["*"]
  gateways: [edge]
  http:
  - name: jason
    match: [{headers: {end-user: {exact: jason}}}]
    directResponse: {status: 200}
  - name: rest
    match: [{uri: {prefix: /api}}]
    directResponse: {status: 204}
"#;

#[test]
fn validate_reports_every_problem_with_file_and_line() {
    let dir = temp_dir();
    let good = dir.join("good.yaml");
    std::fs::write(&good, format!("{}{VS}", G0.replace("${GW_PORT}", "8080"))).unwrap();
    let (code, out) = rampart(&["validate", good.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("configuration is valid: 1 listener(s), 2 route(s)"),
        "{out}"
    );

    let bad = dir.join("bad.yaml");
    let text = format!(
        "{}{}",
        G0.replace("${GW_PORT}", "70000"),
        VS.replace("status: 204", "status: 99")
    );
    std::fs::write(&bad, text).unwrap();
    let (code, out) = rampart(&["validate", bad.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    let file = bad.to_str().unwrap();
    assert!(
        out.contains(&format!(
            "{file}:8: Gateway default/edge: spec.servers[0].port.number:"
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "{file}:23: VirtualService default/app: spec.http[1].directResponse.status:"
        )),
        "{out}"
    );
    assert!(
        out.contains("configuration is invalid: 2 error(s)"),
        "{out}"
    );
}

#[test]
fn explain_says_which_rule_matched_and_why_others_did_not() {
    let dir = temp_dir();
    let file = dir.join("c.yaml");
    std::fs::write(&file, format!("{}{VS}", G0.replace("${GW_PORT}", "8080"))).unwrap();
    let (code, out) = rampart(&[
        "explain",
        "--config",
        file.to_str().unwrap(),
        "GET",
        "http://x.example.com:8080/api/v1",
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("route jason (default/app rule 0"), "{out}");
    assert!(
        out.contains("no (match[0]: header end-user does not match)"),
        "{out}"
    );
    assert!(
        out.contains("route rest (default/app rule 1") && out.contains("MATCHES (match[0])"),
        "{out}"
    );
    assert!(out.contains("result: direct response 204"), "{out}");
}

/// `rampart run` as a user starts it: serves, then drains and exits 0 on SIGTERM.
#[test]
fn run_serves_and_exits_cleanly_on_sigterm() {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::process::Stdio;

    let dir = temp_dir();
    let port = rampart_testkit::free_port();
    let admin = rampart_testkit::free_port();
    let file = dir.join("c.yaml");
    std::fs::write(
        &file,
        format!("{}{VS}", G0.replace("${GW_PORT}", &port.to_string())),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_rampart"))
        .args([
            "run",
            "--config",
            file.to_str().unwrap(),
            "--bind",
            "127.0.0.1",
            "--workers",
            "2",
        ])
        .args(["--admin", &format!("127.0.0.1:{admin}")])
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .expect("start rampart run");
    // Ready when it logs that the admin server listens (after the listeners are bound).
    let mut log = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    for _ in 0..50 {
        let mut line = String::new();
        if log.read_line(&mut line).unwrap() == 0 {
            break;
        }
        seen.push_str(&line);
        if line.contains("admin listening") {
            break;
        }
    }
    assert!(seen.contains("admin listening"), "{seen}");

    let mut conn = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    conn.write_all(b"GET /api HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut reply = String::new();
    conn.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 204"), "{reply}");

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    assert!(exit.success(), "{exit:?}");
    let mut rest = String::new();
    log.read_to_string(&mut rest).unwrap();
    assert!(
        rest.contains("draining") && rest.contains("drained, exiting"),
        "{rest}"
    );
}

/// AD-01: the admin port binds loopback unless told otherwise, and an admin listener on
/// 127.0.0.1 cannot be reached through another address of the host.
#[tokio::test]
async fn ad01_admin_is_loopback_only_by_default() {
    let (code, help) = rampart(&["run", "--help"]);
    assert_eq!(code, 0, "{help}");
    assert!(help.contains("[default: 127.0.0.1:15000]"), "{help}");
    // Another address of this host: the one a route to a private network would leave from.
    let probe = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
    let other = probe
        .connect("10.255.255.254:9")
        .and_then(|()| probe.local_addr())
        .map(|a| a.ip())
        .ok()
        .filter(|ip| !ip.is_loopback() && !ip.is_unspecified());
    let be = rampart_testkit::Backend::start("app").await;
    let yaml = app_config(be.port());
    let gw = crate::support::TestGateway::start(&yaml).await;
    assert!(gw.admin.ip().is_loopback());
    match other {
        Some(ip) => {
            let refused = tokio::net::TcpStream::connect((ip, gw.admin.port())).await;
            assert!(refused.is_err(), "admin reachable on {ip}");
        }
        // A host with no other address: nothing else could reach it either.
        None => eprintln!("no non-loopback address on this host"),
    }
}

/// `rampart status` reads a running gateway's admin port: version, routes, clusters with
/// endpoint health, and golden signals.
#[tokio::test]
async fn status_prints_routes_clusters_and_golden_signals() {
    let be = rampart_testkit::Backend::start("app").await;
    let gw = crate::support::TestGateway::start(&crate::support::app_config(be.port())).await;
    for _ in 0..5 {
        assert_eq!(gw.get("a", "/").send().await.unwrap().status, 200);
    }
    let admin = gw.admin.to_string();
    let out = tokio::task::spawn_blocking(move || rampart(&["status", "--admin", &admin]))
        .await
        .unwrap();
    let (code, text) = out;
    assert_eq!(code, 0, "{text}");
    for want in [
        "config version 1, last reload ok",
        "LISTENER",
        "app.default.svc.cluster.local",
        "CLUSTER",
        "Requests 5  4xx 0  5xx 0 (0.0%)",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
    let cluster_line = text
        .lines()
        .find(|l| l.contains("outbound|80||app.default.svc.cluster.local"))
        .unwrap_or_else(|| panic!("no cluster line in\n{text}"));
    let cells: Vec<&str> = cluster_line.split_whitespace().collect();
    assert_eq!(&cells[1..4], ["1", "1", "5"], "{cluster_line}");
    let (code, text) =
        tokio::task::spawn_blocking(|| rampart(&["status", "--admin", "127.0.0.1:1"]))
            .await
            .unwrap();
    assert_ne!(code, 0);
    assert!(text.contains("admin 127.0.0.1:1/config_dump"), "{text}");
}
