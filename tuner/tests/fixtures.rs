// Test code: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

//! `check` against captured host trees: each host's expected results by check id and status.

mod common;

use common::{assert_statuses, check_fixture, check_root, fixture, status, tuner};

#[test]
fn tuned_host_passes() {
    let run = check_fixture("tuned", &[]);
    run.expect_code(0);
    assert_statuses(
        &run,
        &[
            ("cpu.isolcpus", "pass"),
            ("cpu.nohz_full", "pass"),
            ("cpu.rcu_nocbs", "pass"),
            ("cpu.irqaffinity", "pass"),
            ("cpu.sysfs_isolated", "pass"),
            ("pinning.threads", "pass"),
            ("pinning.others", "pass"),
            ("irq.isolated", "pass"),
            ("irq.irqbalance", "pass"),
            ("power.governor", "pass"),
            ("power.thp", "pass"),
            ("power.numa", "skip"),
            ("limits.nofile", "pass"),
            ("storage.filesystem", "pass"),
            ("storage.rotational", "pass"),
            ("storage.noatime", "pass"),
            ("storage.own_mount", "pass"),
            ("storage.free_space", "skip"),
            // --offline: synchronisation needs the network (clock_sync_* below judge it).
            ("clock.sync", "skip"),
            ("routes.listen.client", "pass"),
            ("routes.listen.cluster", "pass"),
            ("routes.peer.nats-node-2", "skip"),
            ("routes.peer.nats-node-3", "skip"),
        ],
    );
    assert!(
        run.stdout()
            .contains("held by pier's nats-server (pid 1234)"),
        "{}",
        run.context()
    );
    let json = run.json();
    assert_eq!(json["format"], 1);
    assert_eq!(json["summary"]["fail"], 0);
    let first = &json["checks"][0];
    for field in [
        "id",
        "category",
        "title",
        "status",
        "observed",
        "expected",
        "remediation",
    ] {
        assert!(first.get(field).is_some(), "missing {field} in {first}");
    }
}

#[test]
fn seed_host_has_isolated_cores_and_an_unpinned_server() {
    let run = check_fixture("seed", &[]);
    run.expect_code(1);
    assert_statuses(
        &run,
        &[
            ("cpu.isolcpus", "pass"),
            ("pinning.threads", "fail"),
            ("durability.fsync", "warn"),
            // Its nats-server, started without pier, holds the ports pier's would listen on.
            ("routes.listen.client", "fail"),
            ("routes.listen.monitor", "fail"),
            ("routes.listen.cluster", "fail"),
        ],
    );
    assert!(
        run.stdout()
            .contains("held by nats-server (pid 1234), which pier-broker did not start"),
        "{}",
        run.context()
    );
    let json = run.json();
    let pinning = json["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "pinning.threads")
        .unwrap();
    assert!(
        pinning["observed"].as_str().unwrap().contains("0-1"),
        "{pinning}"
    );
    assert!(pinning["remediation"]
        .as_str()
        .unwrap()
        .contains("pier-tuner pin --pid 1234 --cpus 2-7"));
}

#[test]
fn store_on_a_rotating_disk_behind_lvm_fails() {
    let run = check_fixture("rotational", &[]);
    run.expect_code(1);
    assert_statuses(
        &run,
        &[("storage.rotational", "fail"), ("storage.noatime", "warn")],
    );
    assert!(
        run.stdout().contains("sdb rotational=1"),
        "{}",
        run.context()
    );
}

#[test]
fn store_on_nfs_fails() {
    let run = check_fixture("nfs", &[]);
    run.expect_code(1);
    assert_statuses(
        &run,
        &[
            ("storage.local", "fail"),
            ("storage.rotational", "skip"),
            ("storage.filesystem", "skip"),
            ("storage.noatime", "warn"),
            ("power.governor", "skip"),
        ],
    );
}

#[test]
fn interrupts_on_isolated_cores_fail() {
    let run = check_fixture("irq-noisy", &[]);
    run.expect_code(1);
    assert_statuses(
        &run,
        &[
            ("irq.isolated", "fail"),
            // No key set: irqbalance (since 1.1) bans the kernel's isolated cores itself.
            ("irq.irqbalance", "pass"),
            ("cpu.irqaffinity", "warn"),
        ],
    );
    let text = run.stdout();
    assert!(
        text.contains("eth0-TxRx-0") && !text.contains("26 eth0 →"),
        "{}",
        run.context()
    );
}

#[test]
fn warnings_fail_only_when_denied() {
    check_fixture("tuned", &["--deny-warnings"]).expect_code(0);
    let run = check_fixture("rotational", &[]);
    assert_eq!(status(&run, "storage.noatime"), "warn");
    // The seed host warns and fails; a warning alone decides with --deny-warnings.
    let seed = check_fixture("seed", &["--deny-warnings"]);
    seed.expect_code(1);
}

#[test]
fn old_server_with_sync_fails() {
    // The same verdict as `pier-broker validate --server-version 2.9.10`: pier.toml is invalid
    // for that server, so nothing is checked.
    // With --format json, the refusal is the JSON document `pier-broker validate` prints.
    let run = check_fixture("tuned", &["--server-version", "2.9.10"]);
    run.expect_code(1);
    let report = run.json();
    assert_eq!(report["valid"], false, "{}", run.context());
    assert_eq!(
        report["errors"][0]["key"],
        "jetstream.sync",
        "{}",
        run.context()
    );
    let run = check_fixture("tuned", &["--server-version", "2.14.6"]);
    assert_eq!(status(&run, "durability.fsync"), "pass");
}

/// A copy of the tuned host whose pier.toml has `from` replaced by `to`.
fn tuned_with(from: &str, to: &str) -> tempfile::TempDir {
    let dir = tuned_copy();
    let config = dir.path().join("pier.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, text.replace(from, to)).unwrap();
    dir
}

#[test]
fn a_server_that_relaxes_fsync_for_replicated_streams_warns() {
    // nats-server 2.15 fsyncs an R3 stream's store only at its snapshots, even with "always".
    let run = check_fixture("tuned", &["--server-version", "2.15.1"]);
    assert_eq!(
        status(&run, "durability.fsync"),
        "warn",
        "{}",
        run.context()
    );
    for words in ["2.15.1", "LOGS", "Power cuts", "A stream without a leader"] {
        assert!(run.stdout().contains(words), "{words}: {}", run.context());
    }
    let r1 = tuned_with("replicas = 3", "replicas = 1");
    let run = check_root(r1.path(), &["--server-version", "2.15.1"]);
    assert_eq!(
        status(&run, "durability.fsync"),
        "pass",
        "{}",
        run.context()
    );
}

#[test]
fn unset_sync_fsyncs_every_write_where_the_server_can() {
    // pier's default: `always` on 2.10+, rendered as sync_interval; 2.9.10 cannot, and says so.
    let dir = tuned_with("sync = \"always\"\n", "");
    let modern = check_root(dir.path(), &["--server-version", "2.14.6"]);
    assert_eq!(
        status(&modern, "durability.fsync"),
        "pass",
        "{}",
        modern.context()
    );
    let old = check_root(dir.path(), &["--server-version", "2.9.10"]);
    assert_eq!(
        status(&old, "durability.fsync"),
        "warn",
        "{}",
        old.context()
    );
    assert!(
        old.stdout().contains("2.10.0") && old.stdout().contains("power cut"),
        "{}",
        old.context()
    );
}

#[test]
fn text_output_is_a_table_without_colour_off_a_terminal() {
    let root = fixture("irq-noisy");
    let run = tuner([
        "check".as_ref(),
        "--offline".as_ref(),
        "--root".as_ref(),
        root.as_os_str(),
        "--config".as_ref(),
        root.join("pier.toml").as_os_str(),
    ]);
    run.expect_code(1);
    let text = run.stdout();
    assert!(text.contains("✗ fail  irq.isolated"), "{}", run.context());
    assert!(text.contains("✓ pass  cpu.isolcpus"), "{}", run.context());
    assert!(text.contains("fix: "), "{}", run.context());
    assert!(
        !text.contains('\x1b'),
        "colour off a terminal\n{}",
        run.context()
    );
}

#[test]
fn unreadable_config_cannot_run() {
    let run = tuner(["check", "--config", "/nonexistent/pier.toml", "--offline"]);
    run.expect_code(2);
    assert!(
        run.stderr().contains("/nonexistent/pier.toml"),
        "{}",
        run.context()
    );
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("pier.toml");
    std::fs::write(&bad, "[node]\nname = \"n\"\nport = 4222\n").unwrap();
    let run = tuner([
        "check".as_ref(),
        "--offline".as_ref(),
        "--config".as_ref(),
        bad.as_os_str(),
    ]);
    // Invalid, as pier-broker says too.
    run.expect_code(1);
    assert!(run.stderr().contains("port"), "{}", run.context());
}

fn tuned_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    common::copy_tree(&fixture("tuned"), dir.path());
    dir
}

#[test]
fn numa_checks_cores_and_store_disk_on_multi_node_hosts() {
    let dir = tuned_copy();
    let root = dir.path();
    let nodes = root.join("sys/devices/system/node");
    std::fs::write(nodes.join("node0/cpulist"), "0-3\n").unwrap();
    std::fs::create_dir_all(nodes.join("node1")).unwrap();
    std::fs::write(nodes.join("node1/cpulist"), "4-7\n").unwrap();
    let run = common::check_root(root, &[]);
    assert_eq!(status(&run, "power.numa"), "warn", "{}", run.context());

    // Cores on one node, the store disk on the other.
    std::fs::write(nodes.join("node0/cpulist"), "0-7\n").unwrap();
    std::fs::write(nodes.join("node1/cpulist"), "8-15\n").unwrap();
    let device = root.join("sys/block/nvme1n1/device");
    std::fs::create_dir_all(&device).unwrap();
    std::fs::write(device.join("numa_node"), "1\n").unwrap();
    let run = common::check_root(root, &[]);
    assert_eq!(status(&run, "power.numa"), "warn", "{}", run.context());
    assert!(
        run.stdout().contains("store disk nvme1n1 on node1"),
        "{}",
        run.context()
    );

    std::fs::write(device.join("numa_node"), "0\n").unwrap();
    let run = common::check_root(root, &[]);
    assert_eq!(status(&run, "power.numa"), "pass", "{}", run.context());
}

#[test]
fn dev_root_is_resolved_through_the_device_number() {
    let dir = tuned_copy();
    let root = dir.path();
    let mountinfo = root.join("proc/self/mountinfo");
    let text = std::fs::read_to_string(&mountinfo).unwrap();
    std::fs::write(
        &mountinfo,
        text.replace("xfs /dev/nvme1n1p1", "xfs /dev/root"),
    )
    .unwrap();
    let run = common::check_root(root, &[]);
    // Without the sysfs link the device is unknown.
    assert_eq!(
        status(&run, "storage.rotational"),
        "skip",
        "{}",
        run.context()
    );
    std::fs::create_dir_all(root.join("sys/dev/block")).unwrap();
    std::os::unix::fs::symlink(
        "../../devices/pci0000:00/0000:00:1d.0/nvme/nvme1/nvme1n1/nvme1n1p1",
        root.join("sys/dev/block/259:5"),
    )
    .unwrap();
    std::fs::write(root.join("sys/block/nvme1n1/queue/rotational"), "1\n").unwrap();
    let run = common::check_root(root, &[]);
    assert_eq!(
        status(&run, "storage.rotational"),
        "fail",
        "{}",
        run.context()
    );
    assert!(
        run.stdout().contains("nvme1n1 rotational=1"),
        "{}",
        run.context()
    );
}

#[test]
fn cores_the_host_lacks_fail() {
    let dir = tuned_copy();
    let root = dir.path();
    let config = std::fs::read_to_string(root.join("pier.toml")).unwrap();
    std::fs::write(
        root.join("pier.toml"),
        config.replace("cpus = \"2-7\"", "cpus = \"2-9\""),
    )
    .unwrap();
    std::fs::write(root.join("sys/devices/system/cpu/online"), "0-6\n").unwrap();
    let run = common::check_root(root, &[]);
    assert_eq!(status(&run, "cpu.online"), "fail", "{}", run.context());
    assert!(
        run.stdout().contains("cores 8-9 do not exist"),
        "{}",
        run.context()
    );
    // isolcpus=2-7 does not cover 8-9.
    assert_eq!(status(&run, "cpu.isolcpus"), "fail", "{}", run.context());
    let config = std::fs::read_to_string(root.join("pier.toml")).unwrap();
    std::fs::write(
        root.join("pier.toml"),
        config.replace("cpus = \"2-9\"", "cpus = \"2-7\""),
    )
    .unwrap();
    let run = common::check_root(root, &[]);
    assert_eq!(status(&run, "cpu.online"), "fail", "{}", run.context());
    assert!(
        run.stdout().contains("cores 7 are offline"),
        "{}",
        run.context()
    );
}

#[test]
fn command_line_changed_without_a_reboot_warns() {
    let dir = tuned_copy();
    let root = dir.path();
    std::fs::write(root.join("sys/devices/system/cpu/isolated"), "\n").unwrap();
    std::fs::write(root.join("sys/devices/system/cpu/nohz_full"), "(null)\n").unwrap();
    let run = common::check_root(root, &[]);
    assert_eq!(
        status(&run, "cpu.sysfs_isolated"),
        "warn",
        "{}",
        run.context()
    );
    assert_eq!(
        status(&run, "cpu.sysfs_nohz_full"),
        "warn",
        "{}",
        run.context()
    );

    // Isolated cores nats-server does not use, and isolcpus without the domain flag.
    let cmdline = std::fs::read_to_string(root.join("proc/cmdline")).unwrap();
    std::fs::write(
        root.join("proc/cmdline"),
        cmdline.replace("domain,2-7", "domain,1-7"),
    )
    .unwrap();
    let run = common::check_root(root, &[]);
    assert_eq!(status(&run, "cpu.isolcpus"), "warn", "{}", run.context());
    std::fs::write(
        root.join("proc/cmdline"),
        cmdline.replace("managed_irq,domain,2-7", "nohz,2-7"),
    )
    .unwrap();
    let run = common::check_root(root, &[]);
    assert_eq!(status(&run, "cpu.isolcpus"), "warn", "{}", run.context());
}

#[test]
fn an_unreadable_fact_is_an_error_naming_the_file() {
    let dir = tuned_copy();
    let root = dir.path();
    std::fs::write(root.join("proc/meminfo"), "garbage\n").unwrap();
    std::fs::remove_file(root.join("proc/interrupts")).unwrap();
    let run = common::check_root(root, &[]);
    run.expect_code(1);
    assert_eq!(
        status(&run, "memory.gomemlimit"),
        "error",
        "{}",
        run.context()
    );
    assert_eq!(status(&run, "irq.isolated"), "error", "{}", run.context());
    let json = run.json();
    let observed: Vec<&str> = json["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "error")
        .map(|c| c["observed"].as_str().unwrap())
        .collect();
    assert!(
        observed
            .iter()
            .any(|o| o.contains("proc/meminfo") && o.contains("MemTotal")),
        "{observed:?}"
    );
    assert!(
        observed.iter().any(|o| o.contains("proc/interrupts")),
        "{observed:?}"
    );
    assert_eq!(json["summary"]["error"], 2);
}

/// Each missing or unparseable host file turns the checks needing it into errors that name the
/// file actually read; none of them passes, and nothing panics on huge numbers.
#[test]
fn missing_or_hostile_host_files_are_errors_never_passes() {
    let cases: &[(&str, Option<&str>, &[&str])] = &[
        (
            "proc/net/tcp",
            None,
            &[
                "routes.listen.client",
                "routes.listen.monitor",
                "routes.listen.cluster",
            ],
        ),
        (
            "proc/net/tcp",
            Some("  sl local\n 0: zz:zz\n"),
            &["routes.listen.client"],
        ),
        (
            "proc/meminfo",
            Some("MemTotal: 18446744073709551615 kB\n"),
            &["memory.gomemlimit"],
        ),
        (
            "proc/sys/net/ipv4/tcp_rmem",
            Some("1 2\n"),
            &["limits.tcp_rmem"],
        ),
        ("proc/sys/net/core/somaxconn", None, &["limits.somaxconn"]),
        (
            "proc/sys/vm/swappiness",
            Some("lots\n"),
            &["power.swappiness"],
        ),
        (
            "proc/1234/status",
            Some("Name:\tnats-server\nCpus_allowed_list:\t9-1\n"),
            &[
                "pinning.threads",
                "pinning.others",
                "limits.nofile",
                "routes.listen.client",
            ],
        ),
        (
            "proc/self/mountinfo",
            Some("1 2 3\n"),
            &["storage.filesystem", "storage.local"],
        ),
    ];
    for (file, content, ids) in cases {
        let dir = tuned_copy();
        let root = dir.path();
        let path = root.join(file);
        match content {
            Some(text) => std::fs::write(&path, text).unwrap(),
            None => std::fs::remove_file(&path).unwrap(),
        }
        if *file == "proc/self/mountinfo" {
            // The fallback is read last, so it is the file the error names.
            std::fs::write(root.join("proc/1/mountinfo"), "1 2 3\n").unwrap();
        }
        let run = common::check_root(root, &[]);
        assert_eq!(run.code(), 1, "{file}: {content:?}\n{}", run.context());
        let json = run.json();
        for id in *ids {
            let check = json["checks"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["id"] == *id)
                .unwrap_or_else(|| panic!("{file}: no {id}\n{}", run.context()));
            assert_eq!(
                check["status"],
                "error",
                "{file}: {check}\n{}",
                run.context()
            );
            let named = if *file == "proc/self/mountinfo" {
                root.join("proc/1/mountinfo")
            } else {
                path.clone()
            };
            let observed = check["observed"].as_str().unwrap();
            assert!(
                observed.contains(&named.display().to_string()),
                "{file}: {id} should name {}: {observed}",
                named.display()
            );
        }
    }
}

/// A FIFO (no writer: an open would wait forever) and /dev/zero (never ends) planted in a captured
/// tree: `check` ends promptly and reports errors naming the files.
#[test]
fn a_fifo_or_dev_zero_in_the_tree_is_an_error_not_a_hang() {
    let dir = tuned_copy();
    let root = dir.path();
    let fifo = root.join("proc/meminfo");
    std::fs::remove_file(&fifo).unwrap();
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
    let zero = root.join("proc/sys/vm/swappiness");
    std::fs::remove_file(&zero).unwrap();
    std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();

    let config = root.join("pier.toml");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_pier-tuner"))
        .args(["check", "--format", "json", "--offline", "--root"])
        .arg(root)
        .arg("--config")
        .arg(&config)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            panic!("pier-tuner check hangs on a FIFO or /dev/zero in the tree");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let output = child.wait_with_output().unwrap();
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    for (id, file) in [("memory.gomemlimit", &fifo), ("power.swappiness", &zero)] {
        let check = json["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .unwrap_or_else(|| panic!("no {id}: {json}"));
        assert_eq!(check["status"], "error", "{check}");
        assert!(
            check["observed"]
                .as_str()
                .unwrap()
                .contains(&file.display().to_string()),
            "{check}"
        );
    }
}

/// Every id a check can emit belongs to a declared spec, carries its title, and every spec is
/// documented in docs/tuning.md.
#[test]
fn every_emitted_check_id_is_declared_and_documented() {
    use pier_tuner::checks::{spec_of, SPECS};
    let docs = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/tuning.md"),
    )
    .unwrap();
    for spec in SPECS.iter().flat_map(|s| s.iter()) {
        assert!(
            docs.contains(&spec.documented_as()),
            "{} is not documented in docs/tuning.md",
            spec.documented_as()
        );
    }
    let mut seen = std::collections::BTreeSet::new();
    for host in ["tuned", "seed", "rotational", "nfs", "irq-noisy", "wide"] {
        let run = check_fixture(host, &[]);
        for check in run.json()["checks"].as_array().unwrap() {
            let id = check["id"].as_str().unwrap();
            let spec = spec_of(id).unwrap_or_else(|| panic!("{id} has no spec"));
            if !spec.family {
                assert_eq!(check["title"], spec.title, "{id}");
            }
            seen.insert(spec.id);
        }
    }
    let dir = tempfile::tempdir().unwrap();
    common::copy_tree(&fixture("tuned"), dir.path());
    std::fs::remove_file(dir.path().join("sys/devices/system/cpu/online")).unwrap();
    // A single node without a cluster: routes.peers reports that.
    without_cluster(dir.path());
    let run = common::check_root(dir.path(), &[]);
    for check in run.json()["checks"].as_array().unwrap() {
        let id = check["id"].as_str().unwrap();
        seen.insert(spec_of(id).unwrap_or_else(|| panic!("{id} has no spec")).id);
    }
    let all: std::collections::BTreeSet<_> =
        SPECS.iter().flat_map(|s| s.iter()).map(|s| s.id).collect();
    assert_eq!(seen, all, "every spec is emitted by some fixture");
}

#[test]
fn irqbalance_without_a_ban_on_a_host_isolating_nothing_fails() {
    let dir = tempfile::tempdir().unwrap();
    common::copy_tree(&fixture("irq-noisy"), dir.path());
    for file in ["isolated", "nohz_full"] {
        std::fs::write(dir.path().join("sys/devices/system/cpu").join(file), "\n").unwrap();
    }
    let run = common::check_root(dir.path(), &[]);
    assert_eq!(status(&run, "irq.irqbalance"), "fail", "{}", run.context());
}

#[test]
fn a_64_cpu_mask_irqbalance_cannot_parse_bans_nothing() {
    let run = check_fixture("wide", &[]);
    run.expect_code(1);
    assert_statuses(&run, &[("irq.irqbalance", "fail")]);
    let json = run.json();
    let check = json["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "irq.irqbalance")
        .unwrap();
    let observed = check["observed"].as_str().unwrap();
    assert!(
        observed.contains("1.9.2")
            && observed.contains("IRQBALANCE_BANNED_CPUS")
            && observed.contains("cannot parse")
            && observed.contains("bans nothing"),
        "{observed}"
    );
}

/// One check of a run, by id.
fn check_of(run: &common::Run, id: &str) -> serde_json::Value {
    run.json()["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .cloned()
        .unwrap_or_else(|| panic!("no check {id}\n{}", run.context()))
}

/// Writes a process into a captured tree: its status (name, parent, cores) and open-files limit.
fn put_process(root: &std::path::Path, pid: u32, name: &str, ppid: u32, nofile: u64) {
    let dir = root.join(format!("proc/{pid}"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("status"),
        format!("Name:\t{name}\nPid:\t{pid}\nPPid:\t{ppid}\nVmSize:\t 1000 kB\nCpus_allowed_list:\t0-1\n"),
    )
    .unwrap();
    std::fs::write(
        dir.join("limits"),
        format!("Limit                     Soft Limit           Hard Limit           Units\nMax open files            {nofile}              {nofile}              files\n"),
    )
    .unwrap();
}

/// `limits.nofile` judges pier's own nats-server, the child of pier-broker (the unit's first),
/// never another program's that happens to be called nats-server; and says which it judged, or
/// that pier's is not running.
#[test]
fn open_files_are_judged_on_piers_own_nats_server() {
    let dir = tuned_copy();
    let root = dir.path();
    // Another program's nats-server, listed before pier's, with a limit far too low for pier.
    put_process(root, 900, "nats-server", 1, 1024);
    let run = common::check_root(root, &[]);
    let nofile = check_of(&run, "limits.nofile");
    assert_eq!(nofile["status"], "pass", "{nofile}");
    let observed = nofile["observed"].as_str().unwrap();
    assert!(
        observed.contains("1048576 for pier's nats-server (pid 1234, started by pier-broker pid 1200 of pier-broker.service)"),
        "{observed}"
    );

    // pier's own nats-server, under the unit, with that low limit: judged, and it fails.
    put_process(root, 1234, "nats-server", 1200, 1024);
    let run = common::check_root(root, &[]);
    assert_eq!(status(&run, "limits.nofile"), "fail", "{}", run.context());

    // A second supervisor started by hand (a local cluster beside the unit): the unit's is
    // still the one judged.
    put_process(root, 1300, "pier-broker", 1, 1024);
    put_process(root, 1301, "nats-server", 1300, 1_048_576);
    let run = common::check_root(root, &[]);
    let observed = check_of(&run, "limits.nofile")["observed"].to_string();
    assert!(observed.contains("pid 1234"), "{observed}");

    // Outside the unit, two supervisors' nats-servers cannot be told apart: skipped, saying so.
    std::fs::remove_file(root.join("proc/1200/cgroup")).unwrap();
    let run = common::check_root(root, &[]);
    let nofile = check_of(&run, "limits.nofile");
    assert_eq!(nofile["status"], "skip", "{nofile}");
    assert!(
        nofile["observed"]
            .as_str()
            .unwrap()
            .contains("2 nats-servers run under pier-broker (pids 1234, 1301)"),
        "{nofile}"
    );

    // One supervisor started by hand, none under the unit: its nats-server is pier's.
    std::fs::remove_dir_all(root.join("proc/1300")).unwrap();
    std::fs::remove_dir_all(root.join("proc/1301")).unwrap();
    let run = common::check_root(root, &[]);
    assert_eq!(status(&run, "limits.nofile"), "fail", "{}", run.context());
    let observed = check_of(&run, "limits.nofile")["observed"].to_string();
    assert!(
        observed.contains("started by pier-broker pid 1200)"),
        "{observed}"
    );

    // No pier-broker: pier's nats-server is not running, whatever else is; the others are named
    // and the unit's limit is judged against the kernel's instead.
    std::fs::remove_dir_all(root.join("proc/1200")).unwrap();
    let run = common::check_root(root, &[]);
    let nofile = check_of(&run, "limits.nofile");
    assert_eq!(nofile["status"], "pass", "{nofile}");
    let observed = nofile["observed"].as_str().unwrap();
    assert!(
        observed.starts_with(
            "pier's nats-server not running (nats-server pid 900, 1234 runs, but not under pier-broker: not judged); fs.nr_open"
        ),
        "{observed}"
    );
}

/// Makes the tree's pier.toml a single node without a cluster: routes.peers then says so, and a
/// run without --offline opens no connection.
fn without_cluster(root: &std::path::Path) {
    let config = std::fs::read_to_string(root.join("pier.toml")).unwrap();
    let single = format!(
        "[node]\nname = \"nats-node-1\"\n\n{}",
        &config[config.find("[jetstream]").unwrap()..]
    )
    .replace("replicas = 3", "replicas = 1");
    std::fs::write(root.join("pier.toml"), single).unwrap();
}

/// The clock is synchronised over the network: `--offline` skips its check and says why;
/// without it, the evidence in the tree decides.
#[test]
fn offline_skips_the_clock_check() {
    let dir = tuned_copy();
    let root = dir.path();
    without_cluster(root);
    let config = root.join("pier.toml");
    let online = |root: &std::path::Path| {
        tuner([
            "check".as_ref(),
            "--format".as_ref(),
            "json".as_ref(),
            "--root".as_ref(),
            root.as_os_str(),
            "--config".as_ref(),
            config.as_os_str(),
        ])
    };
    let run = online(root);
    let clock = check_of(&run, "clock.sync");
    assert_eq!(clock["status"], "pass", "{clock}");
    assert!(
        clock["observed"].as_str().unwrap().contains("chronyd"),
        "{clock}"
    );

    let run = common::check_root(root, &[]);
    let clock = check_of(&run, "clock.sync");
    assert_eq!(clock["status"], "skip", "{clock}");
    assert_eq!(
        clock["observed"], "--offline: clock synchronisation needs the network (NTP or PTP)",
        "{clock}"
    );

    // Without a time daemon the online run warns; offline it still only skips.
    std::fs::remove_dir_all(root.join("proc/640")).unwrap();
    assert_eq!(status(&online(root), "clock.sync"), "warn");
    assert_eq!(status(&common::check_root(root, &[]), "clock.sync"), "skip");
}
