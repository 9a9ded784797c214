// Test code: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

//! `pier-broker bench` and `pier-broker demo` hand over to pier-bench with every argument as
//! given; the demo's nodes run the pier-broker found next to pier-bench, else on PATH; a missing
//! companion is named, with exit status 2, before anything starts.

mod support {
    pub mod binaries;
}

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use support::binaries::{pier_broker, run, PIER_BENCH};

/// A copy of `binary` alone in a fresh directory: what it finds next to itself is only what the
/// test puts there. A hard link when the filesystem allows, so that 100 MB debug builds are
/// not copied.
fn alone(binary: &Path, dir: &Path) -> PathBuf {
    let name = binary.file_name().expect("a file name");
    let path = dir.join(name);
    fs::hard_link(binary, &path)
        .or_else(|_| fs::copy(binary, &path).map(drop))
        .unwrap_or_else(|e| panic!("copy {} to {}: {e}", binary.display(), path.display()));
    path
}

#[test]
fn help_is_pier_benchs_own() {
    for subcommand in ["bench", "demo"] {
        let (direct, _) = run(Command::new(PIER_BENCH).args([subcommand, "--help"]), 0);
        let (handed, _) = run(Command::new(pier_broker()).args([subcommand, "--help"]), 0);
        assert_eq!(handed, direct, "pier-broker {subcommand} --help");
        assert!(direct.contains("Usage: pier-bench"), "{direct}");
    }
}

#[test]
fn arguments_arrive_as_given() {
    // Refused by pier-bench's own option check, before connecting anywhere.
    let bad = ["bench", "--servers", "nats://127.0.0.1:1", "--size", "8"];
    let (_, direct) = run(Command::new(PIER_BENCH).args(bad), 2);
    let (_, handed) = run(Command::new(pier_broker()).args(bad), 2);
    assert!(direct.contains("--size must be at least 16"), "{direct}");
    assert_eq!(handed, direct);
    // A leading `--` too, which clap alone would have dropped.
    let dashed = ["demo", "--", "--runs", "1"];
    let (_, direct) = run(Command::new(PIER_BENCH).args(dashed), 2);
    let (_, handed) = run(Command::new(pier_broker()).args(dashed), 2);
    assert!(direct.contains("unexpected argument '--runs'"), "{direct}");
    assert_eq!(handed, direct);
}

#[test]
fn pier_bench_is_found_on_path_when_not_beside_pier_broker() {
    let lone = tempfile::tempdir().expect("tempdir");
    let bin = tempfile::tempdir().expect("tempdir");
    let broker = alone(pier_broker(), lone.path());
    alone(Path::new(PIER_BENCH), bin.path());
    let (stdout, _) = run(
        Command::new(broker)
            .args(["bench", "--help"])
            .env("PATH", bin.path()),
        0,
    );
    assert!(stdout.contains("Usage: pier-bench bench"), "{stdout}");
}

#[test]
fn pier_bench_beside_pier_broker_comes_before_path() {
    let bin = tempfile::tempdir().expect("tempdir");
    let impostor = bin.path().join("pier-bench");
    fs::write(&impostor, "#!/bin/sh\necho impostor\nexit 7\n").expect("write impostor");
    fs::set_permissions(&impostor, fs::Permissions::from_mode(0o755)).expect("chmod impostor");
    let (stdout, _) = run(
        Command::new(pier_broker())
            .args(["bench", "--help"])
            .env("PATH", bin.path()),
        0,
    );
    assert!(stdout.contains("Usage: pier-bench bench"), "{stdout}");
}

#[test]
fn a_missing_pier_bench_is_named_with_status_2() {
    let lone = tempfile::tempdir().expect("tempdir");
    let empty = tempfile::tempdir().expect("tempdir");
    let broker = alone(pier_broker(), lone.path());
    for subcommand in ["bench", "demo"] {
        let (stdout, stderr) = run(
            Command::new(&broker)
                .args([subcommand, "--help"])
                .env("PATH", empty.path()),
            2,
        );
        assert_eq!(stdout, "");
        let expected = format!(
            "error: pier-bench not found in {} nor on PATH",
            lone.path().display()
        );
        assert!(stderr.starts_with(&expected), "{stderr}");
        assert!(
            stderr.contains("cargo build --release -p pier-bench"),
            "{stderr}"
        );
    }
}

#[test]
fn the_demo_without_pier_broker_starts_nothing() {
    let lone = tempfile::tempdir().expect("tempdir");
    let empty = tempfile::tempdir().expect("tempdir");
    let work = tempfile::tempdir().expect("tempdir");
    let bench = alone(Path::new(PIER_BENCH), lone.path());
    let (_, stderr) = run(
        Command::new(bench)
            .arg("demo")
            .env("PATH", empty.path())
            .env("TMPDIR", work.path()),
        2,
    );
    let expected = format!(
        "error: demo: pier-broker not found in {} nor on PATH",
        lone.path().display()
    );
    assert!(stderr.starts_with(&expected), "{stderr}");
    let written: Vec<_> = fs::read_dir(work.path()).expect("TMPDIR").collect();
    assert!(written.is_empty(), "written: {written:?}");
}
