//! Finding the nats-server binary and asking it its version.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::version::ServerVersion;

/// Where the pier package installs its own nats-server, looked at before PATH.
pub const BUNDLED_SERVER: &str = "/usr/lib/pier/nats-server";

/// How long `nats-server --version` may take: it answers in milliseconds, so a binary still
/// running after this is not a nats-server (or is hung) and is killed.
pub const VERSION_TIMEOUT: Duration = Duration::from_secs(5);
/// How much of its output is read: the version line is about 25 bytes.
const VERSION_OUTPUT_LIMIT: u64 = 4096;

#[derive(Debug, thiserror::Error)]
pub enum ServerBinaryError {
    #[error("nats-server not found: not at {BUNDLED_SERVER} nor on PATH; install it or set node.nats_server")]
    NotFound,
    #[error("cannot run {}: {source}", path.display())]
    Run {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} --version printed no version: {output:?}", path.display())]
    NoVersion { path: PathBuf, output: String },
    #[error("{} --version did not finish within {}s; killed it", path.display(), VERSION_TIMEOUT.as_secs())]
    Hung { path: PathBuf },
}

/// The binary to run: the configured one, else pier's bundled one, else the first on PATH.
pub fn locate(configured: Option<&Path>) -> Result<PathBuf, ServerBinaryError> {
    if let Some(path) = configured {
        return Ok(path.to_owned());
    }
    let bundled = Path::new(BUNDLED_SERVER);
    if bundled.is_file() {
        return Ok(bundled.to_owned());
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join("nats-server"))
        .find(|candidate| candidate.is_file())
        .ok_or(ServerBinaryError::NotFound)
}

/// Runs `nats-server --version`, killing it after [`VERSION_TIMEOUT`] and reading at most a few
/// KiB of what it prints.
pub fn version(binary: &Path) -> Result<ServerVersion, ServerBinaryError> {
    version_within(binary, VERSION_TIMEOUT)
}

fn version_within(binary: &Path, timeout: Duration) -> Result<ServerVersion, ServerBinaryError> {
    let run_error = |source| ServerBinaryError::Run {
        path: binary.to_owned(),
        source,
    };
    let mut child = Command::new(binary)
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(run_error)?;
    // Each pipe is drained on its own thread, so a chatty binary cannot block on a full pipe and
    // a silent one cannot block this thread; what a thread has not sent by the deadline is lost.
    let (sender, receiver) = mpsc::channel();
    for pipe in [
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    ]
    .into_iter()
    .flatten()
    {
        let sender = sender.clone();
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.take(VERSION_OUTPUT_LIMIT).read_to_end(&mut bytes);
            let _ = sender.send(bytes);
        });
    }
    drop(sender);
    let deadline = Instant::now() + timeout;
    if !exited_by(&mut child, deadline).map_err(run_error)? {
        let _ = child.kill();
        let _ = child.wait();
        return Err(ServerBinaryError::Hung {
            path: binary.to_owned(),
        });
    }
    let mut text = String::new();
    while let Ok(bytes) = receiver.recv_timeout(deadline.saturating_duration_since(Instant::now()))
    {
        text.push_str(&String::from_utf8_lossy(&bytes));
    }
    ServerVersion::from_version_output(&text).ok_or_else(|| ServerBinaryError::NoVersion {
        path: binary.to_owned(),
        output: text.trim().chars().take(200).collect(),
    })
}

/// Waits for `child` to exit until `deadline`; false when it is still running then.
fn exited_by(child: &mut Child, deadline: Instant) -> std::io::Result<bool> {
    // std has no wait with a timeout; polling every 10ms costs nothing next to a process start.
    loop {
        if child.try_wait()?.is_some() {
            return Ok(true);
        }
        if Instant::now() >= deadline {
            return Ok(false);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn script(dir: &Path, body: &str) -> PathBuf {
        let path = dir.join("fake-nats-server");
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    #[test]
    fn a_hanging_binary_is_killed_and_named() {
        let dir = tempfile::tempdir().unwrap();
        let binary = script(dir.path(), "exec sleep 60");
        let started = Instant::now();
        let err = version_within(&binary, Duration::from_millis(300)).unwrap_err();
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
        assert!(matches!(err, ServerBinaryError::Hung { .. }), "{err}");
        assert!(
            err.to_string().contains(&binary.display().to_string()),
            "{err}"
        );
    }

    #[test]
    fn endless_output_is_capped() {
        let dir = tempfile::tempdir().unwrap();
        // The reader stops after the cap and closes the pipe, so `cat` ends on SIGPIPE.
        let binary = script(dir.path(), "exec cat /dev/zero");
        let started = Instant::now();
        let err = version_within(&binary, Duration::from_secs(5)).unwrap_err();
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
        let ServerBinaryError::NoVersion { output, .. } = err else {
            panic!("{err}")
        };
        assert!(output.chars().count() <= 200, "{}", output.len());
    }

    #[test]
    fn the_real_server_answers() {
        let version = version(Path::new(BUNDLED_SERVER)).unwrap();
        assert_eq!(version, ServerVersion::new(2, 15, 1));
    }
}
