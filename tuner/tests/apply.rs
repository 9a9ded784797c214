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
    // No dpkg status in the tree: the release is unknown, so both keys, each in a syntax every
    // release parses (the mask as 32-bit chunks).
    assert!(
        irqbalance.contains("IRQBALANCE_BANNED_CPUS=\"000000fc\""),
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

/// Host files pier rewrites keep whatever they held; the dry run's script must write them back
/// byte for byte and run nothing of theirs.
const HOSTILE: &str = "# Options for irqbalance\nPIER_EOF\nEOF\n'\n'; touch INJECTED_QUOTE; '\n\
$(touch INJECTED_SUBST)\n`touch INJECTED_BACKTICK`\n\\\n%s %n %b\n\x01\x02\x1b[31m\r\x7f\n\
\u{0}NUL\nIRQBALANCE_ONESHOT=0\nno newline at the end";

#[test]
fn the_dry_run_script_is_safe_whatever_the_host_files_hold() {
    let by_apply = untuned_copy();
    let by_script = untuned_copy();
    for dir in [&by_apply, &by_script] {
        std::fs::write(dir.path().join("etc/default/irqbalance"), HOSTILE).unwrap();
    }
    let script = apply(by_script.path(), true).expect_code(0).stdout();
    let syntax = std::process::Command::new("sh")
        .arg("-n")
        .arg("-c")
        .arg(&script)
        .output()
        .unwrap();
    assert!(
        syntax.status.success(),
        "sh -n: {}\n{script}",
        String::from_utf8_lossy(&syntax.stderr)
    );
    let cwd = tempfile::tempdir().unwrap();
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(&script)
        .current_dir(cwd.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "script failed: {}\n{script}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read_dir(cwd.path()).unwrap().count(),
        0,
        "the script ran host content as commands\n{script}"
    );
    apply(by_apply.path(), false).expect_code(0);
    assert_eq!(snapshot(by_apply.path()), snapshot(by_script.path()));
    let written = read(by_script.path(), "etc/default/irqbalance");
    for line in HOSTILE.lines().filter(|l| !l.starts_with("IRQBALANCE")) {
        assert!(
            written.lines().any(|w| w == line),
            "{line:?} not kept in {written:?}"
        );
    }
    let originals = read(by_script.path(), "var/lib/pier/tuner/originals.json");
    let originals: serde_json::Value = serde_json::from_str(&originals).unwrap();
    assert_eq!(originals["files"]["/etc/default/irqbalance"], HOSTILE);
}

/// The captured 64-CPU host (`fixtures/wide`, irqbalance settings the seed wrote), with the
/// installed irqbalance release given in dpkg's status file, or none.
fn wide_copy(dpkg_irqbalance: Option<&str>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&fixture("wide"), dir.path());
    let status = dir.path().join("var/lib/dpkg/status");
    match dpkg_irqbalance {
        Some(version) => std::fs::write(
            &status,
            format!(
                "Package: adduser\nStatus: install ok installed\nVersion: 3.134\n\n\
                 Package: irqbalance\nStatus: install ok installed\nVersion: {version}\n"
            ),
        )
        .unwrap(),
        None => std::fs::remove_file(&status).unwrap(),
    }
    dir
}

#[test]
fn a_64_cpu_host_gets_an_irqbalance_setting_irqbalance_parses() {
    use pier_tuner::facts::irqbalance::{self, Version};
    use pier_tuner::host::Host;

    for (dpkg, version, list, mask) in [
        (Some("1.9.3-2"), Some(Version(1, 9, 3)), Some("2-63"), None),
        (
            Some("1.7.0-1"),
            Some(Version(1, 7, 0)),
            Some("2-63"),
            Some("ffffffff,fffffffc"),
        ),
        (None, None, Some("2-63"), Some("ffffffff,fffffffc")),
    ] {
        let dir = wide_copy(dpkg);
        let root = dir.path();
        // Before: irqbalance reads the unparseable mask first, so nothing is banned.
        let before = check_fixture_at(root);
        assert_eq!(
            status(&before, "irq.irqbalance"),
            "fail",
            "{}",
            before.context()
        );

        apply(root, false).expect_code(0);
        let text = read(root, "etc/default/irqbalance");
        let value = |key| {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("{key}=")))
                .map(|v| v.trim_matches('"').to_owned())
        };
        assert_eq!(
            value("IRQBALANCE_BANNED_CPULIST").as_deref(),
            list,
            "{dpkg:?}: {text}"
        );
        assert_eq!(
            value("IRQBALANCE_BANNED_CPUS").as_deref(),
            mask,
            "{dpkg:?}: {text}"
        );
        // What irqbalance of that release bans, read in its order; an unknown release may be
        // either side of 1.8.
        let host = Host::new(root);
        let releases = version.map_or(vec![Version(1, 7, 0), Version(1, 9, 3)], |v| vec![v]);
        for release in releases {
            let banned = irqbalance::banned(&host, &text, Some(release)).unwrap();
            assert_eq!(banned.cpus().to_string(), "2-63", "{release}: {banned:?}");
        }
        let after = check_fixture_at(root);
        assert_eq!(
            status(&after, "irq.irqbalance"),
            "pass",
            "{}",
            after.context()
        );
    }
}

#[test]
fn a_corrupt_or_unreadable_originals_file_stops_apply() {
    let dir = untuned_copy();
    let root = dir.path();
    let originals = root.join("var/lib/pier/tuner/originals.json");
    std::fs::create_dir_all(originals.parent().unwrap()).unwrap();
    std::fs::write(
        &originals,
        "{\"files\": {\"/proc/sys/vm/swappiness\": \"60\\n\"",
    )
    .unwrap();
    let before = snapshot(root);
    for dry_run in [false, true] {
        let run = apply(root, dry_run);
        run.expect_code(2);
        assert!(
            run.stderr().contains(&originals.display().to_string()),
            "{}",
            run.context()
        );
        assert_eq!(before, snapshot(root), "nothing may change");
    }
    // A directory where the file should be cannot be read either.
    std::fs::remove_file(&originals).unwrap();
    std::fs::create_dir(&originals).unwrap();
    let run = apply(root, false);
    run.expect_code(2);
    assert!(run.stderr().contains("originals.json"), "{}", run.context());
}

#[test]
fn originals_are_replaced_atomically() {
    let dir = untuned_copy();
    let root = dir.path();
    apply(root, false).expect_code(0);
    let tuner_dir = root.join("var/lib/pier/tuner");
    let names: Vec<_> = std::fs::read_dir(&tuner_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["originals.json"], "no temporary file left behind");
    // A later run that adds an entry renames a new file over the old one: the old inode is kept
    // by whoever had it open, never truncated in place.
    let old = std::fs::File::open(tuner_dir.join("originals.json")).unwrap();
    let old_len = old.metadata().unwrap().len();
    // somaxconn was high enough at first: now it needs a change, so a new entry is saved.
    std::fs::write(root.join("proc/sys/net/core/somaxconn"), "128\n").unwrap();
    apply(root, false).expect_code(0);
    assert_eq!(old.metadata().unwrap().len(), old_len);
    use std::os::unix::fs::MetadataExt;
    assert_ne!(
        old.metadata().unwrap().ino(),
        std::fs::metadata(tuner_dir.join("originals.json"))
            .unwrap()
            .ino()
    );
}

#[test]
fn apply_never_derives_a_value_from_an_unparseable_one() {
    let dir = untuned_copy();
    let root = dir.path();
    std::fs::write(root.join("proc/sys/net/ipv4/tcp_rmem"), "1 2\n").unwrap();
    let before = snapshot(root);
    let run = apply(root, false);
    run.expect_code(2);
    assert!(
        run.stderr().contains(
            &root
                .join("proc/sys/net/ipv4/tcp_rmem")
                .display()
                .to_string()
        ),
        "{}",
        run.context()
    );
    assert_eq!(before, snapshot(root));
    let check = check_fixture_at(root);
    assert_eq!(
        status(&check, "limits.tcp_rmem"),
        "error",
        "{}",
        check.context()
    );
}
