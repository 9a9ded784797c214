//! Finding the nats-server binary and asking it its version.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::version::ServerVersion;

/// Where the pier package installs its own nats-server, looked at before PATH.
pub const BUNDLED_SERVER: &str = "/usr/lib/pier/nats-server";

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

/// Runs `nats-server --version`.
pub fn version(binary: &Path) -> Result<ServerVersion, ServerBinaryError> {
    let output = Command::new(binary)
        .arg("--version")
        .output()
        .map_err(|source| ServerBinaryError::Run {
            path: binary.to_owned(),
            source,
        })?;
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    ServerVersion::from_version_output(&text).ok_or_else(|| ServerBinaryError::NoVersion {
        path: binary.to_owned(),
        output: text.trim().to_owned(),
    })
}
