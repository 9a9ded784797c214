//! Finding the nats-server binary and asking it: its version (`--version`), and whether it
//! accepts a configuration file (`-t`).

use std::ffi::OsStr;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::version::ServerVersion;

/// Where the pier package installs its own nats-server, looked at before PATH.
pub const BUNDLED_SERVER: &str = "/usr/lib/pier/nats-server";

/// How long `nats-server --version` may take: it answers in milliseconds, so a binary still
/// running after this is not a nats-server (or is hung) and is killed.
pub const VERSION_TIMEOUT: Duration = Duration::from_secs(5);
/// How long `nats-server -t` may take: a file on a hung mount must not hang pier with it.
pub const TEST_TIMEOUT: Duration = Duration::from_secs(15);
/// How much of its output is read: the version line is about 25 bytes, a refusal one line.
const OUTPUT_LIMIT: u64 = 4096;

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
    #[error("{} {what} did not finish within {}s; killed it", path.display(), within.as_secs())]
    Hung {
        path: PathBuf,
        what: &'static str,
        within: Duration,
    },
    /// `output`: what nats-server printed, whitespace collapsed.
    #[error("{} -t refused the configuration: {output}", path.display())]
    Refused { path: PathBuf, output: String },
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
    let (_, text) = run_bounded(binary, "--version", &["--version".as_ref()], timeout)?;
    ServerVersion::from_version_output(&text).ok_or_else(|| ServerBinaryError::NoVersion {
        path: binary.to_owned(),
        output: text.trim().chars().take(200).collect(),
    })
}

/// Runs `nats-server -t -c CONF`: Ok when nats-server accepts the file, else `Refused` with
/// what it said. It reads every file the configuration names (certificates, keys), so it
/// judges what pier cannot: whether a key matches its certificate.
pub fn test_config(binary: &Path, conf: &Path) -> Result<(), ServerBinaryError> {
    let args: [&OsStr; 3] = ["-t".as_ref(), "-c".as_ref(), conf.as_os_str()];
    let (status, text) = run_bounded(binary, "-t", &args, TEST_TIMEOUT)?;
    if status.success() {
        return Ok(());
    }
    Err(ServerBinaryError::Refused {
        path: binary.to_owned(),
        output: text.split_whitespace().collect::<Vec<_>>().join(" "),
    })
}

/// Runs `binary args`, killing it after `timeout` and reading at most a few KiB of what it
/// prints (stdout and stderr); `what` names the run in errors.
fn run_bounded(
    binary: &Path,
    what: &'static str,
    args: &[&OsStr],
    timeout: Duration,
) -> Result<(ExitStatus, String), ServerBinaryError> {
    let run_error = |source| ServerBinaryError::Run {
        path: binary.to_owned(),
        source,
    };
    let mut child = Command::new(binary)
        .args(args)
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
            let _ = pipe.take(OUTPUT_LIMIT).read_to_end(&mut bytes);
            let _ = sender.send(bytes);
        });
    }
    drop(sender);
    let deadline = Instant::now() + timeout;
    let Some(status) = exited_by(&mut child, deadline).map_err(run_error)? else {
        let _ = child.kill();
        let _ = child.wait();
        return Err(ServerBinaryError::Hung {
            path: binary.to_owned(),
            what,
            within: timeout,
        });
    };
    let mut text = String::new();
    while let Ok(bytes) = receiver.recv_timeout(deadline.saturating_duration_since(Instant::now()))
    {
        text.push_str(&String::from_utf8_lossy(&bytes));
    }
    Ok((status, text))
}

/// Waits for `child` to exit until `deadline`; None when it is still running then.
fn exited_by(child: &mut Child, deadline: Instant) -> std::io::Result<Option<ExitStatus>> {
    // std has no wait with a timeout; polling every 10ms costs nothing next to a process start.
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        if Instant::now() >= deadline {
            return Ok(None);
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
    fn the_real_server_judges_a_configuration() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good.conf");
        std::fs::write(&good, "server_name: probe\n").unwrap();
        test_config(Path::new(BUNDLED_SERVER), &good).unwrap();
        let bad = dir.path().join("bad.conf");
        std::fs::write(
            &bad,
            "tls {\n  cert_file: \"/nonexistent/cert.pem\"\n  key_file: \"/nonexistent/key.pem\"\n}\n",
        )
        .unwrap();
        let err = test_config(Path::new(BUNDLED_SERVER), &bad).unwrap_err();
        let ServerBinaryError::Refused { output, .. } = &err else {
            panic!("{err}")
        };
        assert!(output.contains("/nonexistent/cert.pem"), "{output}");
        assert!(!output.contains('\n'), "{output}");
    }

    #[test]
    fn the_real_server_answers() {
        let version = version(Path::new(BUNDLED_SERVER)).unwrap();
        assert_eq!(version, ServerVersion::new(2, 15, 1));
    }
}
