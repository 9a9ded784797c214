// Test code: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The conventions both binaries share (pier-cli): the same exit status for the same pier.toml,
//! `--format json` always a JSON document, a closed stdout ends a command quietly.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const BROKER: &str = env!("CARGO_BIN_EXE_pier-broker");
const LOCAL_NODE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../docs/examples/local/node-1.toml"
);
/// A captured host with its pier.toml (the tuner's fixture).
const TUNED_HOST: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tuner/tests/fixtures/tuned");

/// pier-tuner, built beside pier-broker by `cargo test --workspace`.
fn tuner() -> PathBuf {
    let path = Path::new(BROKER).with_file_name("pier-tuner");
    assert!(
        path.is_file(),
        "{} is missing: run the workspace's tests (cargo test --workspace)",
        path.display()
    );
    path
}

fn run(program: &Path, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn context(output: &Output) -> String {
    format!(
        "exit: {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn both_binaries_give_the_same_status_for_the_same_file() {
    let dir = tempfile::tempdir().unwrap();
    let invalid = dir.path().join("invalid.toml");
    std::fs::write(&invalid, "[node]\nname = \"n\"\nport = 4222\n").unwrap();
    let missing = dir.path().join("missing.toml");
    let valid = Path::new(LOCAL_NODE);
    let root = dir.path().join("root");
    std::fs::create_dir_all(root.join("proc")).unwrap();

    for (file, expected) in [(invalid.as_path(), 1), (missing.as_path(), 2)] {
        let file = file.to_str().unwrap();
        let broker = run(
            Path::new(BROKER),
            &["validate", "--config", file, "--server-version", "2.15.1"],
        );
        let tuner = run(
            &tuner(),
            &[
                "check",
                "--offline",
                "--root",
                root.to_str().unwrap(),
                "--config",
                file,
            ],
        );
        assert_eq!(broker.status.code(), Some(expected), "{}", context(&broker));
        assert_eq!(tuner.status.code(), Some(expected), "{}", context(&tuner));
        assert!(
            String::from_utf8_lossy(&tuner.stderr).contains(file),
            "the file is named\n{}",
            context(&tuner)
        );
    }
    // And a valid one passes both gates (the tuner then judges the captured host).
    let broker = run(
        Path::new(BROKER),
        &[
            "validate",
            "--config",
            valid.to_str().unwrap(),
            "--server-version",
            "2.15.1",
        ],
    );
    assert_eq!(broker.status.code(), Some(0), "{}", context(&broker));
}

#[test]
fn validate_prints_json_even_when_the_file_cannot_be_read() {
    for file in ["/nonexistent/pier.toml", "/"] {
        let output = run(
            Path::new(BROKER),
            &["validate", "--config", file, "--format", "json"],
        );
        assert_eq!(output.status.code(), Some(2), "{}", context(&output));
        let report: serde_json::Value = serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e})\n{}", context(&output)));
        assert_eq!(report["valid"], false);
        assert_eq!(report["readable"], false);
        assert_eq!(report["file"], file);
        assert!(report["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains(file));
    }
}

/// `pier-broker render | head -1`: the reader has gone before pier writes; pier ends quietly.
#[test]
fn a_closed_stdout_ends_a_command_quietly() {
    let (read, write) = nix::unistd::pipe().unwrap();
    drop(read);
    for (program, args) in [
        (
            PathBuf::from(BROKER),
            vec![
                "render",
                "--config",
                LOCAL_NODE,
                "--server-version",
                "2.15.1",
            ],
        ),
        (
            tuner(),
            vec![
                "check",
                "--offline",
                "--root",
                TUNED_HOST,
                "--config",
                &format!("{TUNED_HOST}/pier.toml"),
            ],
        ),
    ] {
        let output = Command::new(&program)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(write.try_clone().unwrap())
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            !stderr.contains("error") && !stderr.contains("panicked"),
            "{} {args:?}: {}",
            program.display(),
            context(&output)
        );
        assert_eq!(output.status.code(), Some(0), "{}", context(&output));
    }
}

/// `status` reads where the node listens, and answers for an operator who cannot read the node's
/// secrets: a password file it cannot read is no reason to refuse (the node is simply not
/// reachable here, exit 2, rather than "invalid", exit 1).
#[test]
fn status_does_not_need_the_nodes_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("pier.toml");
    let text = std::fs::read_to_string(LOCAL_NODE)
        .unwrap()
        .replace("127.0.0.1:8222", "127.0.0.1:1")
        .replace(
            "[jetstream]",
            "[cluster.authorization]\nuser = \"route\"\npassword_file = \"/nonexistent/route-password\"\n\n[jetstream]",
        );
    std::fs::write(&config, text).unwrap();
    let config = config.to_str().unwrap();
    let validate = run(Path::new(BROKER), &["validate", "--config", config]);
    assert_eq!(validate.status.code(), Some(1), "{}", context(&validate));
    let status = run(
        Path::new(BROKER),
        &[
            "status",
            "--config",
            config,
            "--timeout",
            "1",
            "--format",
            "json",
        ],
    );
    assert_eq!(status.status.code(), Some(2), "{}", context(&status));
    let report: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(report["reachable"], false, "{}", context(&status));
}
