// Test code: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

//! `pier-broker status` and the supervisor's monitor client against a monitoring port held by
//! something that is not nats-server: control characters, redirects, huge, truncated, mistyped,
//! silent and trickling answers. Nothing may hang, crash, or reach the operator unescaped.

mod support;

use std::time::{Duration, Instant};

use pier_broker::supervise::status_text::cluster_line;
use pier_monitor::{summarize, Monitor, MonitorError, MAX_BODY};
use support::hostile::{response, HostileServer, Reply};
use support::*;

/// A server id in nats-server's form (a public server nkey).
const ID: &str = "NCMPYBPHPVGVOAU5DCD42AAPLTLQRDYMCCDU52TIDKOSZ2OB4XDGYS5T";
const TIMEOUT: Duration = Duration::from_secs(1);

/// Answers like nats-server, but with `server_name` and the health error of its choosing.
fn lookalike(name: &'static str, health_error: &'static str) -> impl Fn(&str) -> Reply {
    move |path: &str| {
        let body = if path.starts_with("/varz") {
            serde_json::json!({"server_id": ID, "server_name": name, "version": "2.15.1",
                "uptime": "1s\u{1b}[2J", "config_load_time": "x"})
        } else if path.starts_with("/routez") {
            serde_json::json!({"server_id": ID, "num_routes": 1,
                "routes": [{"rid": 1, "remote_id": "NB", "remote_name": "peer\r\nMAINPID=1"}]})
        } else if path.starts_with("/jsz") {
            serde_json::json!({"server_id": ID, "config": {}, "streams": 1,
                "meta_cluster": {"leader": "lead\u{7}er", "cluster_size": 3,
                    "replicas": [{"name": "n\u{9b}2"}]},
                "account_details": [{"name": "$G", "stream_detail": [{"name": "S\u{1b}]0;pwned\u{7}",
                    "consumer_detail": [{"name": "c\u{0}"}]}]}]})
        } else {
            serde_json::json!({"status": "unavailable", "error": health_error})
        };
        Reply::json(200, &body.to_string())
    }
}

fn monitor(server: &HostileServer) -> Monitor {
    Monitor::new(server.addr(), TIMEOUT)
}

fn has_control(text: &str) -> bool {
    text.chars().any(|c| c.is_control() && c != '\n')
}

#[test]
fn control_characters_never_reach_a_view_or_a_status_line() {
    let server = HostileServer::start(lookalike(
        "evil\u{1b}[31m\nREADY=1",
        "down\nSTATUS=all good",
    ));
    let snapshot = monitor(&server)
        .snapshot(true)
        .expect("a lookalike answers");
    let view = summarize(&snapshot, &["n2".into()]);
    let json = serde_json::to_string(&view).unwrap();
    let all: [&str; 8] = [
        &view.server,
        &view.uptime,
        view.health_error.as_deref().unwrap(),
        view.jetstream.meta_leader.as_deref().unwrap(),
        &view.jetstream.peers[0].name,
        &view.routes.routed[0],
        &view.streams[0].name,
        &view.streams[0].consumers[0].name,
    ];
    for text in all {
        assert!(!text.chars().any(char::is_control), "{text:?} in {json}");
    }
    assert_eq!(view.server, "evil\\u{1b}[31m\\nREADY=1");
    let line = cluster_line(&view);
    assert!(!line.chars().any(char::is_control), "{line:?}");
}

#[test]
fn status_prints_hostile_text_escaped() {
    let server = HostileServer::start(lookalike("evil\u{1b}[2J\nREADY=1", "down\u{1b}[0m"));
    let (_node, config) = node_watching(&server);
    let config = config.to_str().unwrap();
    let (status, out) =
        pier_broker_output(&["status", "--config", config], Duration::from_secs(20));
    assert!(status.success(), "{status:?}\n{out}");
    assert!(!has_control(&out), "{out:?}");
    assert!(out.contains("evil\\u{1b}[2J\\nREADY=1"), "{out}");
    assert!(out.contains("down\\u{1b}[0m"), "{out}");

    // JSON escapes in its own way; it is always a document.
    let (_, out) = pier_broker_output(
        &["status", "--config", config, "--format", "json"],
        Duration::from_secs(20),
    );
    let report: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(report["reachable"], true, "{report}");
    assert!(!has_control(&out), "{out:?}");
}

#[test]
fn an_endpoint_without_what_nats_server_always_sends_is_not_a_nats_server() {
    let cases = [
        ("any JSON", r#"{"status":"ok"}"#.to_owned(), false),
        (
            "no version",
            format!(r#"{{"server_id":"{ID}","status":"ok"}}"#),
            false,
        ),
        (
            "a bad id",
            r#"{"server_id":"N-not-a-key","version":"2.15.1"}"#.to_owned(),
            false,
        ),
        (
            "a health without status",
            format!(r#"{{"server_id":"{ID}","version":"2.15.1"}}"#),
            true,
        ),
    ];
    for (what, body, health) in cases {
        let server = HostileServer::start(move |_: &str| Reply::json(200, &body));
        let result = if health {
            monitor(&server).local_health().map(|_| ())
        } else {
            monitor(&server).varz().map(|_| ())
        };
        assert!(
            matches!(result, Err(MonitorError::NotNatsServer { .. })),
            "{what}: {result:?}"
        );
    }

    // The operator is told so, in text and in JSON.
    let server = HostileServer::start(|_: &str| Reply::json(200, r#"{"hello":"world"}"#));
    let (_node, config) = node_watching(&server);
    let config = config.to_str().unwrap();
    let (status, out) =
        pier_broker_output(&["status", "--config", config], Duration::from_secs(20));
    assert!(!status.success());
    assert!(out.contains("not a nats-server"), "{out}");
    let (_, out) = pier_broker_output(
        &["status", "--config", config, "--format", "json"],
        Duration::from_secs(20),
    );
    let report: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(report["not_a_nats_server"], true, "{report}");
}

#[test]
fn redirects_are_not_followed() {
    let target = HostileServer::start(lookalike("elsewhere", ""));
    let location = format!("http://{}/varz", target.addr());
    let server = HostileServer::start(move |_: &str| {
        Reply::Raw(response(302, &[("Location", &location)], b""))
    });
    let result = monitor(&server).varz();
    match result {
        Err(MonitorError::NotNatsServer { reason, .. }) => {
            assert!(reason.contains("redirect"), "{reason}")
        }
        other => panic!("a redirect was taken for an answer: {other:?}"),
    }
    assert!(target.requests().is_empty(), "{:?}", target.requests());
}

/// Runs `call` and checks it fails within the client's timeout (plus slack for a busy host).
fn fails_in_time<T: std::fmt::Debug>(what: &str, call: impl FnOnce() -> Result<T, MonitorError>) {
    let started = Instant::now();
    let result = call();
    let took = started.elapsed();
    assert!(result.is_err(), "{what}: {result:?}");
    assert!(
        took < TIMEOUT + Duration::from_secs(3),
        "{what} took {took:?}"
    );
}

#[test]
fn huge_truncated_mistyped_silent_and_trickling_answers_fail_in_time() {
    let huge = HostileServer::start(|_: &str| {
        let mut body =
            format!(r#"{{"server_id":"{ID}","version":"2.15.1","server_name":""#).into_bytes();
        body.resize(body.len() + MAX_BODY as usize + 1024, b'a');
        body.extend_from_slice(b"\"}");
        Reply::Raw(response(200, &[], &body))
    });
    fails_in_time("huge", || {
        Monitor::new(huge.addr(), Duration::from_secs(10)).varz()
    });

    let truncated = HostileServer::start(|_: &str| {
        Reply::Raw(response(
            200,
            &[],
            format!(r#"{{"server_id":"{ID}","vers"#).as_bytes(),
        ))
    });
    fails_in_time("truncated", || monitor(&truncated).varz());

    // Content-Length promises more than comes: the body ends early.
    let short = HostileServer::start(|_: &str| {
        Reply::Raw(
            b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\nConnection: close\r\n\r\n{\"server_id\":"
                .to_vec(),
        )
    });
    fails_in_time("short", || monitor(&short).varz());

    let mistyped = HostileServer::start(|_: &str| {
        Reply::json(
            200,
            &format!(
                r#"{{"server_id":"{ID}","version":"2.15.1","connections":"many","routes":{{}}}}"#
            ),
        )
    });
    fails_in_time("mistyped", || monitor(&mistyped).varz());
    let mistyped = HostileServer::start(|_: &str| {
        Reply::json(
            200,
            &format!(r#"{{"server_id":"{ID}","num_routes":-1,"routes":"x"}}"#),
        )
    });
    fails_in_time("mistyped routez", || monitor(&mistyped).routez());
    let deep = HostileServer::start(|_: &str| Reply::json(200, &"[".repeat(100_000)));
    fails_in_time("deeply nested", || monitor(&deep).jsz(true));

    let silent = HostileServer::start(|_: &str| Reply::Silent);
    fails_in_time("silent", || monitor(&silent).local_health());

    let trickle = HostileServer::start(|_: &str| Reply::Trickle {
        head: b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{".to_vec(),
        every: Duration::from_millis(100),
    });
    fails_in_time("trickling body", || monitor(&trickle).varz());
    let trickle_head = HostileServer::start(|_: &str| Reply::Trickle {
        head: b"HTTP/1.1 200 OK\r\nX-Slow:".to_vec(),
        every: Duration::from_millis(100),
    });
    fails_in_time("trickling headers", || monitor(&trickle_head).varz());
}

#[test]
fn status_ends_on_a_trickling_port_and_takes_any_timeout() {
    let trickle = HostileServer::start(|_: &str| Reply::Trickle {
        head: b"HTTP/1.1 200 OK\r\n\r\n".to_vec(),
        every: Duration::from_millis(100),
    });
    let (_node, config) = node_watching(&trickle);
    let config = config.to_str().unwrap();
    let started = Instant::now();
    let (status, out) = pier_broker_output(
        &["status", "--config", config, "--timeout", "1"],
        Duration::from_secs(20),
    );
    assert!(!status.success(), "{out}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );

    // A timeout beyond what the clock holds is "wait for good", not a panic.
    let good = HostileServer::start(lookalike("n1", ""));
    let (_node, config) = node_watching(&good);
    let max = u64::MAX.to_string();
    for timeout in [max.as_str(), "18446744073709551", "0"] {
        let (status, out) = pier_broker_output(
            &[
                "status",
                "--config",
                config.to_str().unwrap(),
                "--timeout",
                timeout,
            ],
            Duration::from_secs(20),
        );
        assert_eq!(status.code(), Some(0), "--timeout {timeout}: {out}");
        assert!(out.contains("Server n1"), "{out}");
    }
}

/// A node whose pier.toml points its monitoring port at `server`, and that file's path.
fn node_watching(server: &HostileServer) -> (NodeDir, std::path::PathBuf) {
    let node = NodeDir::new(NodePorts {
        name: "n1".into(),
        client: 1,
        monitor: server.port(),
        cluster: 2,
    });
    let config = node.write_config(&[], NATS_2_15, "");
    (node, config)
}
