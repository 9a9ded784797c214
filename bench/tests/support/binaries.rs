//! pier-bench and pier-broker side by side, as the package installs them.
//!
//! Cargo builds only this package's binaries for its tests, so pier-broker is built here, once
//! per test binary, by the cargo running the tests, into the directory that holds pier-bench.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// pier-bench as cargo built it for these tests.
pub const PIER_BENCH: &str = env!("CARGO_BIN_EXE_pier-bench");

/// pier-broker, next to [`PIER_BENCH`].
pub fn pier_broker() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let dir = Path::new(PIER_BENCH)
            .parent()
            .expect("pier-bench's directory");
        let target_dir = dir.parent().expect("cargo's target directory");
        // target/debug holds the `dev` profile; every other profile has a directory of its name.
        let profile = match dir.file_name().and_then(|name| name.to_str()) {
            Some("debug") => "dev",
            Some(name) => name,
            None => panic!("no profile directory in {}", dir.display()),
        };
        let status = Command::new(env!("CARGO"))
            .args([
                "build",
                "--quiet",
                "-p",
                "pier-broker",
                "--bin",
                "pier-broker",
            ])
            .args(["--profile", profile])
            .arg("--target-dir")
            .arg(target_dir)
            .status()
            .expect("run cargo build -p pier-broker");
        assert!(status.success(), "cargo build -p pier-broker: {status}");
        let path = dir.join("pier-broker");
        assert!(path.is_file(), "cargo built no {}", path.display());
        path
    })
}

/// Runs `command` to completion; panics with what it printed when it exits with another status
/// than `code`. Returns (stdout, stderr).
pub fn run(command: &mut Command, code: i32) -> (String, String) {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("{command:?}: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(
        output.status.code(),
        Some(code),
        "{command:?}\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    (stdout, stderr)
}
