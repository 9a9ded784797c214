//! pier's companion binaries. The load generator and the demo live in `pier-bench`, so the
//! service systemd runs does not link them: `pier-broker bench` and `pier-broker demo` hand over
//! to `pier-bench`, and the demo's nodes run `pier-broker run`. A companion is looked for next
//! to the running executable first (the package installs both in one directory, cargo builds
//! both into one target directory), then on PATH.

use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The service binary: validate, render, run, status, provision.
pub const PIER_BROKER: &str = "pier-broker";
/// The load generator and the demo.
pub const PIER_BENCH: &str = "pier-bench";

#[derive(Debug, thiserror::Error)]
pub enum CompanionError {
    #[error(
        "{name} not found in {} nor on PATH: pier installs pier-broker and pier-bench side by \
         side (from source: cargo build --release -p {name})",
        directory(beside)
    )]
    NotFound {
        name: &'static str,
        beside: Option<PathBuf>,
    },
    #[error("cannot run {}: {source}", path.display())]
    Exec {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Where `name` is: next to the running executable, else the first executable on PATH.
pub fn locate(name: &'static str) -> Result<PathBuf, CompanionError> {
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(Path::to_owned));
    // PATH lookup by hand rather than with the `which` crate: it is a few lines, and the
    // service binary should not gain a dependency for two hand-over subcommands.
    let path = std::env::var_os("PATH").unwrap_or_default();
    beside
        .iter()
        .cloned()
        .chain(std::env::split_paths(&path))
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
        .ok_or(CompanionError::NotFound { name, beside })
}

/// Replaces this process with `name subcommand ARGS...`, where ARGS are the arguments that
/// followed `subcommand` on this process's command line, so that the companion's output,
/// signals and exit status are the user's. Returns only when that could not be done.
pub fn hand_over(name: &'static str, subcommand: &str) -> CompanionError {
    let path = match locate(name) {
        Ok(path) => path,
        Err(e) => return e,
    };
    let source = Command::new(&path)
        .arg(subcommand)
        .args(args_after(subcommand))
        .exec();
    CompanionError::Exec { path, source }
}

/// The arguments after `subcommand`, exactly as given. Read from the command line rather than
/// taken from clap, which drops a leading `--`.
fn args_after(subcommand: &str) -> Vec<OsString> {
    std::env::args_os()
        .skip(1)
        .skip_while(|arg| arg != subcommand)
        .skip(1)
        .collect()
}

fn directory(beside: &Option<PathBuf>) -> String {
    beside.as_deref().map_or_else(
        || "this executable's directory".to_owned(),
        |dir| dir.display().to_string(),
    )
}

fn is_executable(path: &Path) -> bool {
    path.metadata()
        .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}
