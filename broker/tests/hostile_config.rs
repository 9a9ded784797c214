// Test code: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

//! What a hostile or careless operator can hand `pier-broker validate`: files that never end or
//! never open, secrets with loose permissions, and files large enough to make validation
//! quadratic. Each must be answered quickly, with the key named and no secret printed.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_pier-broker");

const NODE: &str = "[node]\nname = \"nats-node-1\"\nclient_listen = \"127.0.0.1:4222\"\nmonitor_listen = \"127.0.0.1:8222\"\ncluster_listen = \"127.0.0.1:6222\"\n";

/// Runs `pier-broker validate` on `config`, killing it if it has not answered in `limit`.
fn validate(config: &Path, extra: &[&str], limit: Duration) -> (Output, Duration) {
    let started = Instant::now();
    let child = Command::new(BIN)
        .args(["validate", "--config"])
        .arg(config)
        .args(["--server-version", "2.15.1"])
        .args(extra)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run pier-broker");
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    // Collected on another thread, so a long report cannot fill the pipe and stall the child.
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || sender.send(child.wait_with_output()));
    match receiver.recv_timeout(limit) {
        Ok(out) => (out.expect("wait for pier-broker"), started.elapsed()),
        Err(_) => {
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
            panic!(
                "validate {} still running after {limit:?}",
                config.display()
            );
        }
    }
}

fn text_of(out: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn mkfifo(path: &Path) {
    nix::unistd::mkfifo(path, nix::sys::stat::Mode::S_IRWXU).expect("mkfifo");
}

#[test]
fn a_config_that_never_opens_or_never_ends_is_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("pier.toml");
    mkfifo(&fifo);
    let huge = dir.path().join("huge.toml");
    let mut big = String::from(NODE);
    while big.len() <= 1 << 20 {
        big.push_str("# padding padding padding padding padding padding padding padding\n");
    }
    std::fs::write(&huge, big).unwrap();
    for (config, expected) in [
        (fifo.as_path(), "FIFO"),
        (Path::new("/dev/zero"), "character device"),
        (huge.as_path(), "limit"),
    ] {
        let (out, _) = validate(config, &[], Duration::from_secs(10));
        assert_eq!(out.status.code(), Some(2), "{}", text_of(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(&config.display().to_string()) && stderr.contains(expected),
            "{}",
            text_of(&out)
        );
    }
}

#[test]
fn a_secret_that_is_a_fifo_is_refused_without_waiting() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("password");
    mkfifo(&fifo);
    let config = dir.path().join("pier.toml");
    std::fs::write(
        &config,
        format!(
            "{NODE}\n[[client.users]]\nuser = \"billing\"\npassword_file = \"{}\"\n",
            fifo.display()
        ),
    )
    .unwrap();
    let (out, _) = validate(&config, &["--format", "json"], Duration::from_secs(10));
    assert_eq!(out.status.code(), Some(1), "{}", text_of(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let error = &report["errors"][0];
    assert_eq!(error["key"], "client.users[0].password_file", "{report}");
    assert!(
        error["message"].as_str().unwrap().contains("FIFO"),
        "{report}"
    );
}

#[test]
fn loose_secrets_and_keys_warn_and_no_content_is_ever_printed() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, content: &[u8], mode: u32| {
        let path = dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path
    };
    let password = write("password", b"hunter2-open-secret\n", 0o644);
    let key = write(
        "server.key",
        b"-----BEGIN PRIVATE KEY----- key-material",
        0o640,
    );
    let cert = write("server.crt", b"cert-material", 0o644);
    let bad = write("bad-password", b"hunter3-\xff-secret\n", 0o600);
    let config = dir.path().join("pier.toml");
    std::fs::write(
        &config,
        format!(
            "{NODE}\n[client.tls]\ncert_file = \"{}\"\nkey_file = \"{}\"\n\n\
             [[client.users]]\nuser = \"billing\"\npassword_file = \"{}\"\n\n\
             [[client.users]]\nuser = \"audit\"\npassword_file = \"{}\"\n",
            cert.display(),
            key.display(),
            password.display(),
            bad.display()
        ),
    )
    .unwrap();
    for format in ["text", "json"] {
        let (out, _) = validate(&config, &["--format", format], Duration::from_secs(10));
        assert_eq!(out.status.code(), Some(1), "{}", text_of(&out));
        let all = text_of(&out);
        for secret in ["hunter2", "hunter3", "key-material", "cert-material"] {
            assert!(!all.contains(secret), "{secret} printed:\n{all}");
        }
        for key in [
            "client.users[0].password_file",
            "client.tls.key_file",
            "client.users[1].password_file",
        ] {
            assert!(all.contains(key), "{key} missing:\n{all}");
        }
        assert!(
            !all.contains("client.tls.cert_file"),
            "a certificate is public"
        );
    }
    let (out, _) = validate(&config, &["--format", "json"], Duration::from_secs(10));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let warnings: Vec<&str> = report["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["key"].as_str().unwrap())
        .collect();
    assert_eq!(
        warnings,
        ["client.tls.key_file", "client.users[0].password_file"],
        "{report}"
    );
}

/// `count` streams whose subjects all overlap: the worst case for pairwise checks.
fn overlapping_streams(count: usize) -> String {
    let mut text = String::from(NODE);
    for i in 0..count {
        text.push_str(&format!(
            "\n[[streams]]\nname = \"S{i}\"\nsubjects = [\"logs.>\"]\n"
        ));
    }
    text
}

#[test]
fn a_thousand_overlapping_streams_validate_quickly_with_output_proportional_to_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("pier.toml");
    std::fs::write(&config, overlapping_streams(1000)).unwrap();
    let (out, elapsed) = validate(&config, &["--format", "json"], Duration::from_secs(60));
    println!("1000 overlapping streams validated in {elapsed:?}");
    assert_eq!(out.status.code(), Some(1), "{}", text_of(&out));
    // Debug builds are several times slower than release, where this takes well under a second.
    assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let errors = report["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 999, "one finding per overlapping subject");
    let last = &errors[998];
    assert_eq!(last["key"], "streams[999].subjects[0]");
    assert!(last["line"].as_u64().unwrap() > 4000, "{last}");
    let message = last["message"].as_str().unwrap();
    assert!(message.contains("and 996 more"), "{message}");
    assert!(out.stdout.len() < 1 << 20, "{} bytes", out.stdout.len());
}

#[test]
fn a_file_too_wild_to_check_is_refused_within_a_bound() {
    // 8000 subjects led by a wildcard beside 8000 distinct literal ones: no two overlap, but
    // finding that out visits every pair; validation stops at its budget and says so.
    let mut text = String::from(NODE);
    text.push_str("\n[[streams]]\nname = \"WILD\"\nsubjects = [");
    for i in 0..8000 {
        text.push_str(&format!("\"*.x{i}\", \"y{i}.z\", "));
    }
    text.push_str("]\n");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("pier.toml");
    std::fs::write(&config, text).unwrap();
    let (out, elapsed) = validate(&config, &["--format", "json"], Duration::from_secs(60));
    println!("wildcard-heavy file validated in {elapsed:?}");
    assert_eq!(out.status.code(), Some(1), "{}", text_of(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let budget = report["errors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["key"] == "streams")
        .unwrap_or_else(|| panic!("no budget error: {}", text_of(&out)));
    assert!(budget["message"]
        .as_str()
        .unwrap()
        .contains("too many or too wild"));
}

#[test]
fn a_nats_server_that_hangs_is_killed_and_named() {
    let dir = tempfile::tempdir().unwrap();
    let binary = dir.path().join("nats-server");
    std::fs::write(&binary, "#!/bin/sh\nexec sleep 600\n").unwrap();
    std::fs::set_permissions(&binary, std::fs::Permissions::from_mode(0o755)).unwrap();
    let config = dir.path().join("pier.toml");
    std::fs::write(
        &config,
        format!("{NODE}nats_server = \"{}\"\n", binary.display()),
    )
    .unwrap();
    let started = Instant::now();
    let out = Command::new(BIN)
        .args(["validate", "--format", "json", "--config"])
        .arg(&config)
        .output()
        .expect("run pier-broker");
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(20), "took {elapsed:?}");
    assert_eq!(out.status.code(), Some(1), "{}", text_of(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let error = &report["errors"][0];
    assert_eq!(error["key"], "node.nats_server", "{report}");
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains(&binary.display().to_string()) && message.contains("killed"),
        "{message}"
    );
}
