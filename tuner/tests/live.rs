// Test code: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

//! On the real machine: a read-only smoke test of `check --root / --offline`, the local-port
//! checks against a real nats-server and a foreign listener, and `pin` on a running nats-server.
//! `apply` is never run here. Ports 27200-27299 belong to this file.

mod common;

use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};

use common::{nats_server, start_server, status, tuner, wait_for_port, Run};

fn pier_toml(
    dir: &Path,
    client: u16,
    monitor: u16,
    cluster: u16,
    cpus: &str,
) -> std::path::PathBuf {
    let path = dir.join("pier.toml");
    let store = dir.join("jetstream");
    std::fs::write(
        &path,
        format!(
            "[node]\nname = \"n1\"\nclient_listen = \"127.0.0.1:{client}\"\nmonitor_listen = \"127.0.0.1:{monitor}\"\n\
             cluster_listen = \"127.0.0.1:{cluster}\"\n\n[cluster]\nname = \"c1\"\n\n\
             [[cluster.peers]]\nname = \"n1\"\naddress = \"127.0.0.1:{cluster}\"\n\n\
             [jetstream]\nstore_dir = \"{}\"\nmax_file_store = \"1GiB\"\n\n[resources]\ncpus = \"{cpus}\"\n",
            store.display()
        ),
    )
    .unwrap();
    path
}

fn check_live(config: &Path) -> Run {
    tuner([
        "check".as_ref(),
        "--format".as_ref(),
        "json".as_ref(),
        "--offline".as_ref(),
        "--root".as_ref(),
        "/".as_ref(),
        "--config".as_ref(),
        config.as_os_str(),
    ])
}

#[test]
fn smoke_on_the_real_machine() {
    let dir = tempfile::tempdir().unwrap();
    let config = pier_toml(dir.path(), 27201, 27202, 27203, "all");
    let run = check_live(&config);
    assert!(matches!(run.code(), 0 | 1), "{}", run.context());
    let json = run.json();
    let checks = json["checks"].as_array().unwrap();
    assert!(checks.len() > 20, "{}", run.context());
    let mut ids: Vec<&str> = checks.iter().map(|c| c["id"].as_str().unwrap()).collect();
    for c in checks {
        let s = c["status"].as_str().unwrap();
        assert!(
            ["pass", "warn", "fail", "skip", "error"].contains(&s),
            "{c}"
        );
        assert!(
            c["title"].is_string() && c["observed"].is_string() && c["expected"].is_string(),
            "{c}"
        );
    }
    // Free space is measured on the live host (the store's nearest existing ancestor).
    assert_ne!(
        status(&run, "storage.free_space"),
        "skip",
        "{}",
        run.context()
    );
    ids.sort_unstable();
    let n = ids.len();
    ids.dedup();
    assert_eq!(ids.len(), n, "duplicate check ids");

    let text = tuner([
        "check".as_ref(),
        "--offline".as_ref(),
        "--config".as_ref(),
        config.as_os_str(),
    ]);
    assert!(matches!(text.code(), 0 | 1), "{}", text.context());
    assert!(text.stdout().contains("passed,"), "{}", text.context());
}

/// A port held by a nats-server pier-broker did not start (this test's own, a real process) is
/// one pier's cannot listen on: it fails, as a port held by any other program does. A port held
/// by pier's own nats-server passes (tuner/tests/fixtures.rs, the tuned host).
#[test]
fn local_ports_held_by_another_nats_server_or_program_fail() {
    let conf = "server_name: \"n1\"\nlisten: \"127.0.0.1:27211\"\nhttp: \"127.0.0.1:27212\"\n\
                cluster {\n  name: \"c1\"\n  listen: \"127.0.0.1:27213\"\n}\n";
    let server = start_server(conf, 27213);
    wait_for_port(27212);
    let dir = tempfile::tempdir().unwrap();
    let config = pier_toml(dir.path(), 27211, 27212, 27213, "all");
    let run = check_live(&config);
    for id in [
        "routes.listen.client",
        "routes.listen.monitor",
        "routes.listen.cluster",
    ] {
        assert_eq!(status(&run, id), "fail", "{id}\n{}", run.context());
    }
    let held = format!(
        "held by nats-server (pid {}), which pier-broker did not start",
        server.child.id()
    );
    assert!(run.stdout().contains(&held), "{}", run.context());

    let squatter = TcpListener::bind("127.0.0.1:27221").unwrap();
    let other = tempfile::tempdir().unwrap();
    let config = pier_toml(other.path(), 27221, 27222, 27223, "all");
    let run = check_live(&config);
    assert_eq!(
        status(&run, "routes.listen.client"),
        "fail",
        "{}",
        run.context()
    );
    assert_eq!(
        status(&run, "routes.listen.monitor"),
        "pass",
        "{}",
        run.context()
    );
    drop(squatter);
}

fn thread_affinities(pid: u32) -> Vec<(u32, String)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let tid: u32 = entry
            .unwrap()
            .file_name()
            .to_string_lossy()
            .parse()
            .unwrap();
        let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/status")) else {
            continue;
        };
        let cpus = status
            .lines()
            .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
            .unwrap()
            .trim()
            .to_owned();
        out.push((tid, cpus));
    }
    out
}

#[test]
fn pin_confines_every_thread_of_a_running_nats_server() {
    let mut child = Command::new(nats_server())
        .args(["-a", "127.0.0.1", "-p", "27231"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_port(27231);
    let pid = child.id();
    let before = thread_affinities(pid);
    assert!(
        before.len() > 1,
        "nats-server should be multithreaded: {before:?}"
    );

    let pid_arg = pid.to_string();
    let run = tuner(["pin", "--pid", &pid_arg, "--cpus", "1"]);
    run.expect_code(0);
    let after = thread_affinities(pid);
    assert!(
        after.iter().all(|(_, cpus)| cpus == "1"),
        "{after:?}\n{}",
        run.context()
    );
    // One line per thread, then the summary.
    assert!(
        run.stdout()
            .lines()
            .filter(|l| l.starts_with("✓ tid"))
            .count()
            >= after.len(),
        "{}",
        run.context()
    );

    let run = tuner(["pin", "--pid", &pid_arg, "--cpus", "0-1"]);
    run.expect_code(0);
    assert!(thread_affinities(pid).iter().all(|(_, cpus)| cpus == "0-1"));

    let _ = child.kill();
    let _ = child.wait();
    // The process is gone now.
    tuner(["pin", "--pid", &pid_arg, "--cpus", "1"]).expect_code(2);
    tuner(["pin", "--pid", "1", "--cpus", "x"]).expect_code(2);
}
