//! Every host fact is read through [`Host`], which resolves absolute paths under a root directory
//! so that the same checks run against the live machine (`/`) and against captured trees in tests.
//!
//! Parsing lives in [`crate::facts`] as pure functions over strings; this module only does I/O and
//! attaches the path to every error.
//!
//! Files are opened here, never by the procfs crate's own readers (which look at the live /proc
//! only): most facts are in /sys, /etc and /run, and one reader keeps one root and one error
//! shape for all of them. Where procfs has a parser that fits, it parses the text read here
//! (see [`crate::facts`]).

use std::io;
use std::path::{Path, PathBuf};

use pier_config::limited_read::read_regular;
use pier_config::CpuSet;

/// The most pier reads of one host file. /proc/net/tcp of a node with 100 000 client connections
/// is about 15 MB; anything larger in a captured tree is not a host file pier should hold in
/// memory. Only regular files are read (procfs and sysfs files are), so a FIFO or /dev/zero
/// planted in a captured tree is refused at once instead of blocking or never ending.
pub const HOST_FILE_LIMIT: u64 = 64 << 20;

/// A host fact that could not be read or understood; always names the file.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot parse {}: {reason}", path.display())]
    Parse { path: PathBuf, reason: String },
}

impl HostError {
    pub fn parse(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        HostError::Parse {
            path: path.into(),
            reason: reason.into(),
        }
    }
}

/// A host file's text: a regular file, at most [`HOST_FILE_LIMIT`] bytes, UTF-8.
fn read_text(path: &Path) -> io::Result<String> {
    let bytes = read_regular(path, HOST_FILE_LIMIT)?;
    String::from_utf8(bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// Reads host files under a root directory.
#[derive(Debug, Clone)]
pub struct Host {
    root: PathBuf,
}

impl Host {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Host { root: root.into() }
    }

    /// The live host rather than a captured tree: only then may the tool ask the kernel directly
    /// (statvfs, adjtimex) or run the nats-server binary.
    pub fn is_live(&self) -> bool {
        self.root == Path::new("/")
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where an absolute host path (`/proc/cmdline`) lives under the root.
    pub fn path(&self, logical: impl AsRef<Path>) -> PathBuf {
        let logical = logical.as_ref();
        self.root.join(logical.strip_prefix("/").unwrap_or(logical))
    }

    pub fn read(&self, logical: impl AsRef<Path>) -> Result<String, HostError> {
        let path = self.path(logical);
        read_text(&path).map_err(|source| HostError::Read { path, source })
    }

    /// Like [`Host::read`], but a missing file is `None` (cpufreq in a VM, an absent sysctl).
    pub fn read_optional(&self, logical: impl AsRef<Path>) -> Result<Option<String>, HostError> {
        let path = self.path(logical);
        match read_text(&path) {
            Ok(text) => Ok(Some(text)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(HostError::Read { path, source }),
        }
    }

    /// Reads a file and parses it with a pure function, naming the file when parsing fails.
    pub fn parse<T>(
        &self,
        logical: impl AsRef<Path>,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<T, HostError> {
        let logical = logical.as_ref();
        let text = self.read(logical)?;
        parse(&text).map_err(|reason| HostError::parse(self.path(logical), reason))
    }

    /// A CPU list file such as `/sys/devices/system/cpu/online`; empty and `(null)` mean none.
    pub fn cpu_list(&self, logical: impl AsRef<Path>) -> Result<CpuSet, HostError> {
        self.parse(logical, crate::facts::cpu_list)
    }

    /// Like [`Host::cpu_list`], but a missing file is `None`.
    pub fn cpu_list_optional(
        &self,
        logical: impl AsRef<Path>,
    ) -> Result<Option<CpuSet>, HostError> {
        let logical = logical.as_ref();
        match self.read_optional(logical)? {
            None => Ok(None),
            Some(text) => crate::facts::cpu_list(&text)
                .map(Some)
                .map_err(|reason| HostError::parse(self.path(logical), reason)),
        }
    }

    pub fn exists(&self, logical: impl AsRef<Path>) -> bool {
        self.path(logical).exists()
    }

    /// Entry names of a directory, sorted; a missing directory is empty.
    pub fn list(&self, logical: impl AsRef<Path>) -> Result<Vec<String>, HostError> {
        let path = self.path(logical);
        let entries = match std::fs::read_dir(&path) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => return Err(HostError::Read { path, source }),
        };
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|source| HostError::Read {
                path: path.clone(),
                source,
            })?;
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
        names.sort();
        Ok(names)
    }

    /// Numeric entries of a directory (`/proc`, `/proc/PID/task`), in numeric order.
    pub fn list_numeric(&self, logical: impl AsRef<Path>) -> Result<Vec<u32>, HostError> {
        let mut ids: Vec<u32> = self
            .list(logical)?
            .iter()
            .filter_map(|name| name.parse().ok())
            .collect();
        ids.sort_unstable();
        Ok(ids)
    }

    pub fn read_link(&self, logical: impl AsRef<Path>) -> Result<PathBuf, HostError> {
        let path = self.path(logical);
        std::fs::read_link(&path).map_err(|source| HostError::Read { path, source })
    }
}

/// Whether an I/O error means the thing vanished under us (a process or thread that exited).
pub fn is_gone(error: &HostError) -> bool {
    matches!(error, HostError::Read { source, .. }
        if source.kind() == io::ErrorKind::NotFound || source.raw_os_error() == Some(libc::ESRCH))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_hang_off_the_root() {
        let host = Host::new("/tmp/tree");
        assert_eq!(
            host.path("/proc/cmdline"),
            Path::new("/tmp/tree/proc/cmdline")
        );
        assert!(!host.is_live());
        assert!(Host::new("/").is_live());
    }

    #[test]
    fn errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let host = Host::new(dir.path());
        let err = host.read("/proc/cmdline").unwrap_err().to_string();
        assert!(err.contains("proc/cmdline"), "{err}");
        assert!(host.read_optional("/proc/cmdline").unwrap().is_none());
        std::fs::write(dir.path().join("online"), "0-x\n").unwrap();
        let err = host.cpu_list("/online").unwrap_err().to_string();
        assert!(err.contains("online") && err.contains("0-x"), "{err}");
    }
}
