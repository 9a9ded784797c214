//! The nats-server configuration file `run` hands to nats-server: rendered to a temporary file
//! beside the live one (mode 0600: it holds secrets), checked with `nats-server -t`, and only then
//! renamed over the live file, so a bad configuration never replaces a good one.

use std::io::Write;
use std::path::{Path, PathBuf};

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
    #[error("cannot run {} -t: {source}", binary.display())]
    Run {
        binary: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("nats-server -t refused the rendered configuration: {output}")]
    Refused { output: String },
}

/// Where the live configuration lives: systemd's RuntimeDirectory (`$RUNTIME_DIRECTORY`, e.g.
/// /run/pier) or, outside systemd, a private temporary directory removed on exit.
pub struct RuntimeDir {
    path: PathBuf,
    _temp: Option<TempDir>,
}

impl RuntimeDir {
    pub fn from_env() -> Result<Self, RuntimeFileError> {
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
        let temp = tempfile::Builder::new()
            .prefix("pier-broker-")
            .tempdir()
            .map_err(RuntimeFileError::Dir)?;
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

/// How long `nats-server -t` may take.
const CHECK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15);

/// Asks nats-server itself whether it accepts the file (`nats-server -t -c FILE`).
pub async fn check_with_server(binary: &Path, conf: &Path) -> Result<(), RuntimeFileError> {
    let run = tokio::process::Command::new(binary)
        .arg("-t")
        .arg("-c")
        .arg(conf)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    // A check stuck on a file (a TLS certificate on a hung mount) must not freeze the supervisor.
    let output = tokio::time::timeout(CHECK_TIMEOUT, run)
        .await
        .map_err(|_| RuntimeFileError::Run {
            binary: binary.to_owned(),
            source: std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("`-t` did not finish within {}s", CHECK_TIMEOUT.as_secs()),
            ),
        })?
        .map_err(|source| RuntimeFileError::Run {
            binary: binary.to_owned(),
            source,
        })?;
    if output.status.success() {
        return Ok(());
    }
    let text = String::from_utf8_lossy(&output.stderr).into_owned()
        + &String::from_utf8_lossy(&output.stdout);
    Err(RuntimeFileError::Refused {
        output: text.split_whitespace().collect::<Vec<_>>().join(" "),
    })
}
