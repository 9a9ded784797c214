// Test code: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

//! `pier-broker run` and `status` against real nats-server processes: notify protocol, reload,
//! lame duck stop, crash, hang (watchdog), CPU pinning, capabilities and cluster formation.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use pier_monitor::Monitor;
use support::*;

const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// lame_duck_duration (30s, nats-server's minimum) plus the supervisor's margin, plus slack.
const STOP_TIMEOUT: Duration = Duration::from_secs(50);

fn monitor(node: &NodeDir) -> Monitor {
    Monitor::new(
        ([127, 0, 0, 1], node.ports.monitor).into(),
        Duration::from_secs(2),
    )
}

/// Starts a standalone node with a notify socket and waits for READY=1.
fn start_standalone(
    base: u16,
    nats_server: &str,
    extra: &str,
    env: &[(&str, &str)],
) -> (NodeDir, NotifySocket, Supervisor) {
    let node = NodeDir::new(node_ports(base, 0));
    node.write_config(&[], nats_server, extra);
    let notify = NotifySocket::new();
    let supervisor = Supervisor::start(&node, |cmd| {
        cmd.env("NOTIFY_SOCKET", notify.path());
        for (k, v) in env {
            cmd.env(k, v);
        }
    });
    (node, notify, supervisor)
}

#[test]
fn notify_sequence_reload_and_lame_duck_stop() {
    let (node, mut notify, mut supervisor) = start_standalone(21000, NATS_2_15, "", &[]);
    let ready = notify
        .wait_for("READY=1", READY_TIMEOUT)
        .unwrap_or_else(|| panic!("no READY=1; log:\n{}", supervisor.log()));
    let status = field(&ready, "STATUS").expect("STATUS with READY");
    assert!(status.contains("routes 0/0"), "{status}");
    let server = supervisor
        .server_pid(Duration::from_secs(5))
        .expect("nats-server");
    assert!(monitor(&node).local_health().unwrap().is_ok());

    // The live file holds secrets: owner-only.
    let mode = std::fs::metadata(node.runtime_conf())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    // A good change is applied: RELOADING=1 (with MONOTONIC_USEC), then READY=1.
    node.write_config(&[], NATS_2_15, "[limits]\nmax_payload = \"2MiB\"\n");
    supervisor.signal(Signal::SIGHUP);
    let reloading = notify
        .wait_for("RELOADING=1", Duration::from_secs(10))
        .expect("RELOADING=1");
    let usec: u64 = field(&reloading, "MONOTONIC_USEC")
        .expect("MONOTONIC_USEC with RELOADING=1")
        .parse()
        .unwrap();
    assert!(usec > 0);
    let ready = notify
        .wait_for("READY=1", Duration::from_secs(15))
        .expect("READY=1 after reload");
    let status = field(&ready, "STATUS").unwrap_or_default();
    assert!(status.contains("last reload ok"), "{status}");
    assert!(std::fs::read_to_string(node.runtime_conf())
        .unwrap()
        .contains("max_payload: 2097152"));
    assert!(wait_until(Duration::from_secs(5), || {
        live_max_payload(&node) == Some(2 * 1024 * 1024)
    }));

    // A bad change is refused: the server and the live file are untouched, STATUS says why.
    let before = std::fs::read_to_string(node.runtime_conf()).unwrap();
    node.write_config(&[], NATS_2_15, "[limits]\nlame_duck_duration = \"1s\"\n");
    supervisor.signal(Signal::SIGHUP);
    notify
        .wait_for("RELOADING=1", Duration::from_secs(10))
        .expect("RELOADING=1");
    let ready = notify
        .wait_for("READY=1", Duration::from_secs(15))
        .expect("READY=1 after refused reload");
    let status = field(&ready, "STATUS").unwrap_or_default();
    assert!(status.contains("last reload FAILED"), "{status}");
    assert!(status.contains("lame_duck_duration"), "{status}");
    assert_eq!(
        std::fs::read_to_string(node.runtime_conf()).unwrap(),
        before
    );
    assert_eq!(supervisor.server_pid(Duration::from_secs(1)), Some(server));
    assert_eq!(live_max_payload(&node), Some(2 * 1024 * 1024));

    // Valid for pier and for `nats-server -t`, but a reload cannot apply a new server name: pier
    // refuses it before nats-server sees it, which keeps running as before on the file it runs.
    let renamed = NodePorts {
        name: "renamed".into(),
        ..node.ports.clone()
    };
    let toml = node_toml(
        &renamed,
        &[],
        &node.store_dir(),
        NATS_2_15,
        "[limits]\nmax_payload = \"2MiB\"\n",
    );
    std::fs::write(node.config_path(), toml).unwrap();
    supervisor.signal(Signal::SIGHUP);
    let ready = notify
        .wait_for("READY=1", Duration::from_secs(20))
        .expect("READY=1 after a reload nats-server refused");
    let status = field(&ready, "STATUS").unwrap_or_default();
    assert!(
        status.contains("did not load")
            && status.contains("node.name")
            && status.contains("systemctl restart pier-broker"),
        "a refused reload names the key and says a restart applies it: {status}"
    );
    assert_eq!(
        std::fs::read_to_string(node.runtime_conf()).unwrap(),
        before
    );
    assert!(alive(server));

    // Unparseable TOML is refused the same way.
    std::fs::write(node.config_path(), "[node\nname = ").unwrap();
    supervisor.signal(Signal::SIGHUP);
    let ready = notify
        .wait_for("READY=1", Duration::from_secs(15))
        .expect("READY=1 after refused reload");
    assert!(field(&ready, "STATUS")
        .unwrap_or_default()
        .contains("FAILED"));
    assert!(alive(server));

    // SIGTERM: STOPPING=1, lame duck (SIGUSR2), exit 0.
    let started = Instant::now();
    supervisor.signal(Signal::SIGTERM);
    notify
        .wait_for("STOPPING=1", Duration::from_secs(10))
        .expect("STOPPING=1");
    let status = supervisor
        .wait_exit(STOP_TIMEOUT)
        .expect("supervisor exits");
    eprintln!(
        "standalone 2.15.1 stop (lame duck, no clients) took {:.2}s",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(status.code(), Some(0), "log:\n{}", supervisor.log());
    assert!(!alive(server));
    let log = supervisor.log();
    assert!(log.contains("Entering lame duck mode"), "{log}");
}

fn live_max_payload(node: &NodeDir) -> Option<u64> {
    // Varz does not model max_payload: read it raw.
    let monitor = Monitor::new(
        ([127, 0, 0, 1], node.ports.monitor).into(),
        Duration::from_secs(5),
    );
    monitor.json("/varz").ok()?.get("max_payload")?.as_u64()
}

#[test]
fn supervisor_exits_non_zero_when_nats_server_dies() {
    let (_node, mut notify, mut supervisor) = start_standalone(21100, NATS_2_15, "", &[]);
    notify
        .wait_for("READY=1", READY_TIMEOUT)
        .unwrap_or_else(|| panic!("no READY=1; log:\n{}", supervisor.log()));
    let server = supervisor
        .server_pid(Duration::from_secs(5))
        .expect("nats-server");
    kill(server, Signal::SIGKILL).unwrap();
    let status = supervisor
        .wait_exit(Duration::from_secs(10))
        .expect("supervisor exits");
    assert_eq!(status.code(), Some(3), "log:\n{}", supervisor.log());
    assert!(supervisor.log().contains("exited on its own"));
    let last = notify.collect(Duration::from_millis(200));
    assert!(
        notify
            .received
            .iter()
            .chain(last.iter())
            .any(|d| field(d, "STATUS").is_some_and(|s| s.contains("exited on its own"))),
        "{:?}",
        notify.received
    );
}

#[test]
fn watchdog_pings_stop_while_nats_server_is_stopped() {
    let (_node, mut notify, mut supervisor) =
        start_standalone(21200, NATS_2_15, "", &[("WATCHDOG_USEC", "2000000")]);
    notify
        .wait_for("READY=1", READY_TIMEOUT)
        .unwrap_or_else(|| panic!("no READY=1; log:\n{}", supervisor.log()));
    let healthy = notify.collect(Duration::from_secs(3));
    let pings = count_line(&healthy, "WATCHDOG=1");
    assert!(pings >= 2, "{pings} pings in 3s with WATCHDOG_USEC=2s");

    let server = supervisor
        .server_pid(Duration::from_secs(5))
        .expect("nats-server");
    kill(server, Signal::SIGSTOP).unwrap();
    // A probe already answered may still ping once.
    notify.collect(Duration::from_millis(1200));
    let hung = notify.collect(Duration::from_secs(4));
    assert_eq!(count_line(&hung, "WATCHDOG=1"), 0, "{hung:?}");
    assert!(
        hung.iter()
            .any(|d| field(d, "STATUS").is_some_and(|s| s.contains("fails its health check"))),
        "{hung:?}"
    );

    kill(server, Signal::SIGCONT).unwrap();
    assert!(notify
        .wait_for("WATCHDOG=1", Duration::from_secs(5))
        .is_some());
    supervisor.signal(Signal::SIGTERM);
    let status = supervisor.wait_exit(STOP_TIMEOUT).expect("exit");
    assert_eq!(status.code(), Some(0));
}

#[test]
fn nats_server_runs_pinned_without_capabilities() {
    let online = std::fs::read_to_string("/sys/devices/system/cpu/online").unwrap();
    assert_eq!(online.trim(), "0-1", "this test expects a two-core machine");
    let extra = "[resources]\ncpus = \"1\"\nmemory_limit = \"256MiB\"\n\n\
                 [limits]\nlame_duck_duration = \"30s\"\nlame_duck_grace_period = \"2s\"\n";
    let (_node, mut notify, mut supervisor) = start_standalone(21300, NATS_2_15, extra, &[]);
    notify
        .wait_for("READY=1", READY_TIMEOUT)
        .unwrap_or_else(|| panic!("no READY=1; log:\n{}", supervisor.log()));
    let server = supervisor
        .server_pid(Duration::from_secs(5))
        .expect("nats-server");

    let threads = thread_status_values(server, "Cpus_allowed_list");
    assert!(threads.len() > 1, "{threads:?}");
    assert!(threads.iter().all(|c| c == "1"), "{threads:?}");
    let own = thread_status_values(supervisor.pid(), "Cpus_allowed_list");
    assert!(own.iter().all(|c| c == "0"), "{own:?}");

    let status = std::fs::read_to_string(format!("/proc/{server}/status")).unwrap();
    for key in ["CapEff", "CapPrm", "CapInh", "CapAmb", "CapBnd"] {
        assert_eq!(
            status_value(&status, key).as_deref(),
            Some("0000000000000000"),
            "{key}"
        );
    }
    let environ = std::fs::read(format!("/proc/{server}/environ")).unwrap();
    let environ = String::from_utf8_lossy(&environ);
    assert!(environ.split('\0').any(|v| v == "GOMEMLIMIT=268435456"));
    assert!(!environ.split('\0').any(|v| v.starts_with("NOTIFY_SOCKET=")));

    // With a client connected, lame duck waits out the grace period before closing it; the
    // supervisor waits for nats-server rather than killing it.
    let client = connect_client(node_ports(21300, 0).client);
    let stopping = Instant::now();
    supervisor.signal(Signal::SIGINT);
    let status = supervisor.wait_exit(STOP_TIMEOUT).expect("exit");
    eprintln!(
        "stop with one client connected (grace 2s) took {:.2}s",
        stopping.elapsed().as_secs_f64()
    );
    assert_eq!(status.code(), Some(0));
    let log = supervisor.log();
    let closing = log
        .find("Closing existing clients")
        .expect("clients closed");
    let stopped = log.find("nats-server stopped after").expect("stop logged");
    assert!(closing < stopped, "{log}");
    assert!(log[stopped..].contains("exit status: 0"), "{log}");
    drop(client);
}

/// A raw NATS client connection: CONNECT, then a PING answered with PONG.
fn connect_client(port: u16) -> std::net::TcpStream {
    use std::io::{BufRead, BufReader, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert!(line.starts_with("INFO"), "{line}");
    stream
        .write_all(b"CONNECT {\"verbose\":false}\r\nPING\r\n")
        .unwrap();
    line.clear();
    reader.read_line(&mut line).unwrap();
    assert!(line.starts_with("PONG"), "{line}");
    stream
}

#[test]
fn invalid_config_is_refused_before_start() {
    let node = NodeDir::new(node_ports(21400, 0));
    node.write_config(&[], NATS_2_15, "[limits]\nlame_duck_duration = \"1s\"\n");
    let mut supervisor = Supervisor::start(&node, |_| {});
    let status = supervisor.wait_exit(Duration::from_secs(10)).expect("exit");
    assert_eq!(status.code(), Some(1), "{}", supervisor.log());
    assert!(supervisor.log().contains("lame_duck_duration"));
    assert!(status.signal().is_none());
}

/// Starts three supervisors one after another, each only once the previous is READY: a first
/// start must not wait for peers that are not up yet.
fn three_nodes_form_a_cluster(base: u16, nats_server: &str) {
    let ports: Vec<NodePorts> = (0..3).map(|i| node_ports(base, i)).collect();
    let nodes: Vec<NodeDir> = ports.iter().cloned().map(NodeDir::new).collect();
    // The seed's stream and consumer, which every supervisor provisions once a meta leader exists.
    let streams = r#"
[[streams]]
name = "LOGS"
subjects = ["logs.>"]
storage = "file"
replicas = 3

[[streams.consumers]]
name = "pull-worker"
type = "pull"
ack_policy = "explicit"
max_ack_pending = 50000
"#;
    for node in &nodes {
        node.write_config(&ports, nats_server, streams);
    }
    let mut sockets = Vec::new();
    let mut supervisors = Vec::new();
    let started = Instant::now();
    for (i, node) in nodes.iter().enumerate() {
        let mut notify = NotifySocket::new();
        let supervisor = Supervisor::start(node, |cmd| {
            cmd.env("NOTIFY_SOCKET", notify.path());
        });
        notify
            .wait_for("READY=1", READY_TIMEOUT)
            .unwrap_or_else(|| panic!("node {i} not READY; log:\n{}", supervisor.log()));
        eprintln!(
            "{nats_server}: node {} READY after {:.2}s",
            i + 1,
            started.elapsed().as_secs_f64()
        );
        sockets.push(notify);
        supervisors.push(supervisor);
        if i == 1 {
            // Two of three: the gate must hold the rollout and say so.
            let config = nodes[0].config_path();
            let (status, out) = pier_broker_output(
                &[
                    "status",
                    "--config",
                    config.to_str().unwrap(),
                    "--wait-cluster",
                    "--timeout",
                    "2",
                ],
                Duration::from_secs(30),
            );
            assert_eq!(status.code(), Some(1), "{out}");
            assert!(
                out.contains("missing: n3") || out.contains("1 of 2") || out.contains("NOT formed"),
                "{out}"
            );
        }
    }

    let config = nodes[0].config_path();
    let config = config.to_str().unwrap();
    let (status, out) = pier_broker_output(
        &[
            "status",
            "--config",
            config,
            "--wait-cluster",
            "--timeout",
            "60",
            "--format",
            "json",
        ],
        Duration::from_secs(90),
    );
    eprintln!(
        "{nats_server}: cluster formed {:.2}s after the first start",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(status.code(), Some(0), "{out}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["cluster_formed"], true);
    assert_eq!(report["node"]["routes"]["all_routed"], true);
    assert!(
        report["node"]["jetstream"]["meta_leader"].is_string(),
        "{out}"
    );
    let (status, text) =
        pier_broker_output(&["status", "--config", config], Duration::from_secs(30));
    assert_eq!(status.code(), Some(0));
    assert!(text.contains("Cluster: formed"), "{text}");

    // STATUS= follows the cluster: eventually every node reports both routes and that the
    // declared streams are provisioned, all three having reconciled at once.
    for (i, notify) in sockets.iter_mut().enumerate() {
        let until = Instant::now() + Duration::from_secs(30);
        let mut seen = false;
        while Instant::now() < until && !seen {
            for datagram in notify.collect(Duration::from_millis(500)) {
                seen |= field(&datagram, "STATUS").is_some_and(|s| {
                    s.starts_with("routes 2/2, meta leader") && s.contains("; provisioned (")
                });
            }
        }
        assert!(
            seen,
            "node {i}: {:?}\n{}",
            notify.received,
            supervisors[i].log()
        );
        assert!(
            !supervisors[i].log().contains("provisioning failed"),
            "{}",
            supervisors[i].log()
        );
    }
    let (status, out) = pier_broker_output(
        &["status", "--config", config, "--format", "json"],
        Duration::from_secs(30),
    );
    assert_eq!(status.code(), Some(0), "{out}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    let streams = report["node"]["streams"]
        .as_array()
        .expect("streams in status");
    let logs = streams
        .iter()
        .find(|s| s["name"] == "LOGS")
        .unwrap_or_else(|| panic!("{out}"));
    assert_eq!(logs["replicas"], 3, "{out}");
    assert_eq!(logs["consumers"][0]["name"], "pull-worker", "{out}");

    let stopping = Instant::now();
    for supervisor in &supervisors {
        supervisor.signal(Signal::SIGTERM);
    }
    for (i, supervisor) in supervisors.iter_mut().enumerate() {
        let status = supervisor
            .wait_exit(STOP_TIMEOUT)
            .expect("supervisor exits");
        assert_eq!(status.code(), Some(0), "node {i}: {}", supervisor.log());
    }
    eprintln!(
        "{nats_server}: three nodes stopped (lame duck) in {:.2}s",
        stopping.elapsed().as_secs_f64()
    );
}

#[test]
fn three_nodes_form_a_cluster_on_2_15() {
    three_nodes_form_a_cluster(21500, NATS_2_15);
}

#[test]
fn three_nodes_form_a_cluster_on_2_9() {
    three_nodes_form_a_cluster(21600, NATS_2_9);
}

/// As the unit's `User=pier` would: no capabilities to drop, and nothing may fail because of it.
#[test]
fn runs_unprivileged() {
    if !nix::unistd::Uid::effective().is_root()
        && cannot_run("switching to an unprivileged user needs root")
    {
        return;
    }
    let nobody = nix::unistd::User::from_name("nobody")
        .unwrap()
        .expect("user nobody");
    let node = NodeDir::new(node_ports(21800, 0));
    node.write_config(&[], NATS_2_15, "[resources]\ncpus = \"1\"\n");
    let notify = NotifySocket::new();
    for path in [
        node.dir.path().to_owned(),
        node.runtime_dir(),
        node.config_path(),
        notify.path().parent().unwrap().to_owned(),
        notify.path().to_owned(),
    ] {
        nix::unistd::chown(&path, Some(nobody.uid), Some(nobody.gid)).unwrap();
    }
    let mut notify = notify;
    let mut supervisor = Supervisor::start(&node, |cmd| {
        use std::os::unix::process::CommandExt;
        cmd.env("NOTIFY_SOCKET", notify.path())
            .uid(nobody.uid.as_raw())
            .gid(nobody.gid.as_raw());
    });
    notify
        .wait_for("READY=1", READY_TIMEOUT)
        .unwrap_or_else(|| panic!("no READY=1; log:\n{}", supervisor.log()));
    let server = supervisor
        .server_pid(Duration::from_secs(5))
        .expect("nats-server");
    let status = std::fs::read_to_string(format!("/proc/{server}/status")).unwrap();
    assert_eq!(
        status_value(&status, "Uid")
            .unwrap()
            .split_whitespace()
            .next(),
        Some("65534")
    );
    assert_eq!(
        status_value(&status, "CapEff").as_deref(),
        Some("0000000000000000")
    );
    let threads = thread_status_values(server, "Cpus_allowed_list");
    assert!(threads.iter().all(|c| c == "1"), "{threads:?}");
    supervisor.signal(Signal::SIGTERM);
    let status = supervisor.wait_exit(STOP_TIMEOUT).expect("exit");
    assert_eq!(status.code(), Some(0), "{}", supervisor.log());
}
