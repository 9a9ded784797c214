//! The nats-server configuration file `run` hands to nats-server: rendered to a temporary file
//! beside the live one (mode 0600: it holds secrets), checked with `nats-server -t`, and only then
//! renamed over the live file, so a bad configuration never replaces a good one.

use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use pier_config::server_binary::{self, ServerBinaryError};
use tempfile::{NamedTempFile, TempDir};

/// The live file's name inside the runtime directory.
pub const CONF_NAME: &str = "nats-server.conf";

#[derive(Debug, thiserror::Error)]
pub enum RuntimeFileError {
    #[error("cannot create a runtime directory: {0}")]
    Dir(#[source] std::io::Error),
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// `-t` could not give a verdict: the binary did not start, or hung and was killed.
    #[error("nats-server -t could not check the rendered configuration: {0}")]
    Check(#[source] ServerBinaryError),
    #[error("nats-server -t refused the rendered configuration: {output}")]
    Refused { output: String },
}

/// Where the live configuration lives: systemd's RuntimeDirectory (`$RUNTIME_DIRECTORY`, e.g.
/// /run/pier, 0700 by the unit) or, outside systemd, a private directory of this supervisor in
/// $TMPDIR, removed on exit (see [`RuntimeDir::from_env`]).
pub struct RuntimeDir {
    path: PathBuf,
    _temp: Option<TempDir>,
}

/// In a private runtime directory: the pid of the supervisor that owns it.
const PID_FILE: &str = "supervisor.pid";

impl RuntimeDir {
    /// Outside systemd the directory is `pier-broker-NODE-XXXXXX`, mode 0700, holding
    /// [`PID_FILE`]. A supervisor killed with SIGKILL cannot remove its own, so the next start of
    /// the same node removes those whose supervisor is gone (see [`remove_stale`]).
    pub fn from_env(node: &str) -> Result<Self, RuntimeFileError> {
        // systemd separates several RuntimeDirectory= entries with ':'; pier's unit has one.
        if let Some(dirs) = std::env::var_os("RUNTIME_DIRECTORY") {
            if let Some(first) = std::env::split_paths(&dirs).next() {
                if !first.as_os_str().is_empty() {
                    return Ok(RuntimeDir {
                        path: first,
                        _temp: None,
                    });
                }
            }
        }
        let parent = std::env::temp_dir();
        let prefix = private_prefix(node);
        remove_stale(&parent, &prefix);
        let temp = tempfile::Builder::new()
            .prefix(&prefix)
            .permissions(std::fs::Permissions::from_mode(0o700))
            .tempdir_in(&parent)
            .map_err(RuntimeFileError::Dir)?;
        let pid_file = temp.path().join(PID_FILE);
        std::fs::write(&pid_file, format!("{}\n", nix::unistd::getpid())).map_err(|source| {
            RuntimeFileError::Write {
                path: pid_file,
                source,
            }
        })?;
        Ok(RuntimeDir {
            path: temp.path().to_owned(),
            _temp: Some(temp),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn conf_path(&self) -> PathBuf {
        self.path.join(CONF_NAME)
    }
}

/// `pier-broker-NODE-`, with anything but letters, digits, '.', '_' and '-' in the node name
/// replaced: it becomes part of a file name.
fn private_prefix(node: &str) -> String {
    let safe: String = node
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("pier-broker-{safe}-")
}

/// Removes private runtime directories in `parent` left by supervisors that are gone. Only what
/// is certainly pier's own and dead goes: a directory (not a symlink) named `prefix...`, owned
/// by this user, mode 0700, whose [`PID_FILE`] names a process that no longer exists. Anything
/// else (a live or unknown owner, a missing or odd pid file) is left alone.
fn remove_stale(parent: &Path, prefix: &str) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    let me = nix::unistd::geteuid().as_raw();
    for entry in entries.flatten() {
        if !entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.starts_with(prefix))
        {
            continue;
        }
        let path = entry.path();
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if !meta.is_dir() || meta.uid() != me || meta.mode() & 0o777 != 0o700 {
            continue;
        }
        let Some(pid) = owner_pid(&path) else {
            continue;
        };
        // EPERM means the process exists (as another user): only ESRCH proves it gone.
        if nix::sys::signal::kill(pid, None) != Err(nix::errno::Errno::ESRCH) {
            continue;
        }
        match std::fs::remove_dir_all(&path) {
            Ok(()) => tracing::info!(
                "removed {}, left by supervisor {pid} which is gone",
                path.display()
            ),
            Err(e) => tracing::warn!("cannot remove stale {}: {e}", path.display()),
        }
    }
}

/// The pid in a private runtime directory's [`PID_FILE`]: a small regular file holding a
/// positive number (0 or less would address process groups).
fn owner_pid(dir: &Path) -> Option<nix::unistd::Pid> {
    let file = dir.join(PID_FILE);
    let meta = std::fs::symlink_metadata(&file).ok()?;
    if !meta.is_file() || meta.len() > 32 {
        return None;
    }
    let pid: i32 = std::fs::read_to_string(&file).ok()?.trim().parse().ok()?;
    (pid > 0).then(|| nix::unistd::Pid::from_raw(pid))
}

/// A rendered configuration written beside the live file but not yet in its place.
pub struct Staged {
    file: NamedTempFile,
}

impl Staged {
    pub fn path(&self) -> &Path {
        self.file.path()
    }

    /// Atomically replaces `live` with this file.
    pub fn commit(self, live: &Path) -> Result<(), RuntimeFileError> {
        self.file
            .persist(live)
            .map(|_| ())
            .map_err(|e| RuntimeFileError::Write {
                path: live.to_owned(),
                source: e.error,
            })
    }
}

/// Writes `text` to a new 0600 file in `dir` (NamedTempFile creates files owner-only).
pub fn stage(dir: &Path, text: &str) -> Result<Staged, RuntimeFileError> {
    let err = |source| RuntimeFileError::Write {
        path: dir.to_owned(),
        source,
    };
    let mut file = tempfile::Builder::new()
        .prefix(".nats-server.conf.")
        .tempfile_in(dir)
        .map_err(err)?;
    file.write_all(text.as_bytes()).map_err(err)?;
    file.as_file().sync_all().map_err(err)?;
    Ok(Staged { file })
}

/// Asks nats-server itself whether it accepts the file (`nats-server -t -c FILE`), off the
/// runtime's threads: a check stuck on a file (a TLS certificate on a hung mount) is killed
/// after [`server_binary::TEST_TIMEOUT`] and must not freeze the supervisor meanwhile. A reload
/// a stop aborts leaves its `-t` to end by itself or at that timeout, or with the unit's
/// control group: it starts no server and writes nothing, so nothing waits for it.
pub async fn check_with_server(binary: &Path, conf: &Path) -> Result<(), RuntimeFileError> {
    let (path, conf) = (binary.to_owned(), conf.to_owned());
    let binary = path.clone();
    let verdict = tokio::task::spawn_blocking(move || server_binary::test_config(&binary, &conf))
        .await
        .unwrap_or_else(|e| {
            Err(ServerBinaryError::Run {
                path,
                source: std::io::Error::other(e),
            })
        });
    match verdict {
        Ok(()) => Ok(()),
        Err(ServerBinaryError::Refused { output, .. }) => Err(RuntimeFileError::Refused { output }),
        Err(e) => Err(RuntimeFileError::Check(e)),
    }
}
