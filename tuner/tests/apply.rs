// Test code: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

//! `apply` against copies of captured trees: what changes, what is saved, and that the dry run's
//! script does exactly what apply does. Never run against the real /.

mod common;

use std::path::Path;

use common::{copy_tree, fixture, snapshot, status, tuner, Run};

fn apply(root: &Path, dry_run: bool) -> Run {
    let config = root.join("pier.toml");
    let mut args = vec![
        "apply".as_ref(),
        "--root".as_ref(),
        root.as_os_str(),
        "--config".as_ref(),
        config.as_os_str(),
    ];
    if dry_run {
        args.push("--dry-run".as_ref());
    }
    tuner(args)
}

fn read(root: &Path, path: &str) -> String {
    std::fs::read_to_string(root.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A host needing every kind of change: the noisy-IRQ host with a powersave governor, THP
/// always and default sysctls.
fn untuned_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&fixture("irq-noisy"), dir.path());
    let root = dir.path();
    for cpu in 0..8 {
        std::fs::write(
            root.join(format!(
                "sys/devices/system/cpu/cpu{cpu}/cpufreq/scaling_governor"
            )),
            "powersave\n",
        )
        .unwrap();
    }
    std::fs::write(
        root.join("sys/kernel/mm/transparent_hugepage/enabled"),
        "[always] madvise never\n",
    )
    .unwrap();
    std::fs::write(root.join("proc/sys/vm/swappiness"), "60\n").unwrap();
    std::fs::write(root.join("proc/sys/net/core/somaxconn"), "65535\n").unwrap();
    std::fs::write(root.join("proc/sys/net/core/rmem_max"), "212992\n").unwrap();
    std::fs::write(
        root.join("proc/sys/net/ipv4/tcp_rmem"),
        "4096\t131072\t6291456\n",
    )
    .unwrap();
    dir
}

#[test]
fn dry_run_prints_a_script_and_changes_nothing() {
    let dir = untuned_copy();
    let before = snapshot(dir.path());
    let run = apply(dir.path(), true);
    run.expect_code(0);
    assert_eq!(before, snapshot(dir.path()), "dry run changed the tree");
    let script = run.stdout();
    assert!(script.starts_with("#!/bin/sh\n"), "{script}");
    assert!(script.contains("\nset -e\n"), "{script}");
    assert!(script.contains("# cpu2 runs nats-server"), "{script}");
    assert!(script.contains("originals.json"), "{script}");
    // Nothing outside the root.
    for line in script.lines().filter(|l| l.contains(" > ")) {
        assert!(
            line.contains(&dir.path().display().to_string()),
            "write outside the root: {line}"
        );
    }
    let syntax = std::process::Command::new("sh")
        .arg("-n")
        .arg("-c")
        .arg(&script)
        .status()
        .unwrap();
    assert!(syntax.success(), "sh -n rejects the script:\n{script}");
}

#[test]
fn apply_tunes_the_tree_and_saves_originals_once() {
    let dir = untuned_copy();
    let root = dir.path();
    let before = check_fixture_at(root);
    assert_eq!(status(&before, "irq.isolated"), "fail");
    assert_eq!(status(&before, "power.governor"), "warn");

    let run = apply(root, false);
    run.expect_code(0);
    for cpu in 2..8 {
        assert_eq!(
            read(
                root,
                &format!("sys/devices/system/cpu/cpu{cpu}/cpufreq/scaling_governor")
            ),
            "performance\n"
        );
    }
    // Only the nats-server cores get the governor.
    assert_eq!(
        read(root, "sys/devices/system/cpu/cpu0/cpufreq/scaling_governor"),
        "powersave\n"
    );
    assert_eq!(
        read(root, "sys/kernel/mm/transparent_hugepage/enabled"),
        "madvise\n"
    );
    assert_eq!(read(root, "proc/sys/vm/swappiness"), "10\n");
    assert_eq!(
        read(root, "proc/sys/net/core/somaxconn"),
        "65535\n",
        "a higher value is never lowered"
    );
    assert_eq!(
        read(root, "proc/sys/net/ipv4/tcp_rmem"),
        "4096 131072 16777216\n"
    );
    let drop_in = read(root, "etc/sysctl.d/60-pier.conf");
    assert!(
        drop_in.contains("vm.swappiness = 10\n")
            && drop_in.contains("net.core.somaxconn = 65535\n"),
        "{drop_in}"
    );
    for irq in [24, 25, 26, 41] {
        assert_eq!(
            read(root, &format!("proc/irq/{irq}/smp_affinity_list")),
            "0-1\n"
        );
    }
    let irqbalance = read(root, "etc/default/irqbalance");
    assert!(
        irqbalance.contains("IRQBALANCE_BANNED_CPULIST=\"2-7\""),
        "{irqbalance}"
    );
    assert!(
        irqbalance.contains("IRQBALANCE_BANNED_CPUS=\"fc\""),
        "{irqbalance}"
    );
    assert!(
        irqbalance.starts_with("# Options for irqbalance\n"),
        "{irqbalance}"
    );

    let originals: serde_json::Value =
        serde_json::from_str(&read(root, "var/lib/pier/tuner/originals.json")).unwrap();
    let files = &originals["files"];
    assert_eq!(files["/proc/sys/vm/swappiness"], "60\n");
    assert_eq!(
        files["/sys/devices/system/cpu/cpu2/cpufreq/scaling_governor"],
        "powersave\n"
    );
    assert_eq!(files["/etc/sysctl.d/60-pier.conf"], serde_json::Value::Null);
    assert!(files["/etc/default/irqbalance"]
        .as_str()
        .unwrap()
        .contains("#IRQBALANCE_BANNED_CPULIST="));

    // The tuned tree now passes what apply can fix (the interrupts' effective affinity is the
    // kernel's to update, so a captured tree keeps its old one).
    let after = check_fixture_at(root);
    for id in [
        "power.governor",
        "power.thp",
        "power.swappiness",
        "limits.rmem_max",
        "limits.tcp_rmem",
    ] {
        assert_eq!(status(&after, id), "pass", "{id}\n{}", after.context());
    }

    // A second run finds little to do and never overwrites the originals.
    std::fs::write(root.join("proc/sys/vm/swappiness"), "30\n").unwrap();
    let saved = read(root, "var/lib/pier/tuner/originals.json");
    apply(root, false).expect_code(0);
    assert_eq!(read(root, "var/lib/pier/tuner/originals.json"), saved);
    assert_eq!(read(root, "proc/sys/vm/swappiness"), "10\n");

    // A file pier had not touched before gets its original saved then, beside the others.
    let mut known: serde_json::Value = serde_json::from_str(&saved).unwrap();
    let files = known["files"].as_object_mut().unwrap();
    assert!(files.remove("/proc/sys/vm/swappiness").is_some());
    let others = files.len();
    std::fs::write(
        root.join("var/lib/pier/tuner/originals.json"),
        known.to_string(),
    )
    .unwrap();
    std::fs::write(root.join("proc/sys/vm/swappiness"), "40\n").unwrap();
    apply(root, false).expect_code(0);
    let now: serde_json::Value =
        serde_json::from_str(&read(root, "var/lib/pier/tuner/originals.json")).unwrap();
    assert_eq!(now["files"]["/proc/sys/vm/swappiness"], "40\n");
    assert_eq!(now["files"].as_object().unwrap().len(), others + 1);
}

#[test]
fn the_dry_run_script_does_what_apply_does() {
    let by_apply = untuned_copy();
    let by_script = untuned_copy();
    apply(by_apply.path(), false).expect_code(0);
    let script = apply(by_script.path(), true).stdout();
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(&script)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "script failed: {}\n{script}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(snapshot(by_apply.path()), snapshot(by_script.path()));
}

#[test]
fn a_tuned_host_needs_nothing() {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&fixture("tuned"), dir.path());
    // The drop-in is the one thing a captured tree lacks.
    apply(dir.path(), false).expect_code(0);
    let before = snapshot(dir.path());
    let run = apply(dir.path(), false);
    run.expect_code(0);
    assert!(
        run.stdout().contains("nothing to change"),
        "{}",
        run.context()
    );
    assert_eq!(before, snapshot(dir.path()));
}

fn check_fixture_at(root: &Path) -> Run {
    let config = root.join("pier.toml");
    tuner([
        "check".as_ref(),
        "--format".as_ref(),
        "json".as_ref(),
        "--offline".as_ref(),
        "--root".as_ref(),
        root.as_os_str(),
        "--config".as_ref(),
        config.as_os_str(),
    ])
}
