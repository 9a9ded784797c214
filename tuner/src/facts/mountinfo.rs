//! `/proc/PID/mountinfo`: which mount holds a path.

use std::path::{Path, PathBuf};

use procfs::process::MountInfos;
use procfs::FromBufRead;

use crate::host::{Host, HostError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// `major:minor` of the mounted device.
    pub device: String,
    pub mount_point: PathBuf,
    /// Per-mount options (`rw,noatime`).
    pub options: Vec<String>,
    pub fs_type: String,
    pub source: String,
}

impl Mount {
    pub fn has_option(&self, option: &str) -> bool {
        self.options.iter().any(|o| o == option)
    }
}

/// Parsed by procfs, which splits the fields (optional fields and all) but leaves mountinfo's
/// octal escapes in place: they are undone here.
pub fn parse(text: &str) -> Result<Vec<Mount>, String> {
    let infos =
        MountInfos::from_buf_read(text.as_bytes()).map_err(|e| format!("bad mountinfo: {e}"))?;
    Ok(infos
        .into_iter()
        .map(|info| {
            let mut options: Vec<String> = info
                .mount_options
                .into_iter()
                .map(|(k, v)| v.map_or(k.clone(), |v| format!("{k}={v}")))
                .collect();
            options.sort();
            Mount {
                device: info.majmin,
                mount_point: PathBuf::from(unescape(&info.mount_point.to_string_lossy())),
                options,
                fs_type: info.fs_type,
                source: unescape(info.mount_source.as_deref().unwrap_or("none")),
            }
        })
        .collect())
}

/// The mounts of the host: `/proc/self/mountinfo` (the tuner's own view), else init's
/// `/proc/1/mountinfo`. When both fail the error names the fallback, unless it is absent: then
/// the first file's own error.
pub fn read(host: &Host) -> Result<Vec<Mount>, HostError> {
    host.parse("/proc/self/mountinfo", parse).or_else(|first| {
        match host.parse("/proc/1/mountinfo", parse) {
            Err(HostError::Read { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                Err(first)
            }
            other => other,
        }
    })
}

/// mountinfo writes space, tab, newline and backslash as octal escapes (`\040`).
fn unescape(field: &str) -> String {
    let mut out = String::with_capacity(field.len());
    let mut rest = field;
    while let Some(i) = rest.find('\\') {
        out.push_str(&rest[..i]);
        let code = rest
            .get(i + 1..i + 4)
            .and_then(|d| u8::from_str_radix(d, 8).ok());
        match code {
            Some(byte) => {
                out.push(char::from(byte));
                rest = &rest[i + 4..];
            }
            None => {
                out.push('\\');
                rest = &rest[i + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The mount holding `path`: the longest mount point that is a prefix of it; of several mounts
/// on the same point, the last (it hides the others).
pub fn holding<'a>(mounts: &'a [Mount], path: &Path) -> Option<&'a Mount> {
    mounts
        .iter()
        .enumerate()
        .filter(|(_, m)| path.starts_with(&m.mount_point))
        .max_by_key(|(i, m)| (m.mount_point.components().count(), *i))
        .map(|(_, m)| m)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "\
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard
40 27 259:1 / /var/lib/pier rw,noatime shared:5 - xfs /dev/nvme0n1p1 rw,attr2
41 27 0:50 / /mnt/with\\040space rw,relatime - nfs4 server:/export rw
";

    #[test]
    fn finds_the_longest_prefix() {
        let mounts = parse(TEXT).unwrap();
        let m = holding(&mounts, Path::new("/var/lib/pier/jetstream")).unwrap();
        assert_eq!(m.fs_type, "xfs");
        assert_eq!(m.source, "/dev/nvme0n1p1");
        assert!(m.has_option("noatime"));
        assert_eq!(
            holding(&mounts, Path::new("/var/lib/pierre"))
                .unwrap()
                .mount_point,
            Path::new("/")
        );
        assert_eq!(mounts[2].mount_point, Path::new("/mnt/with space"));
        assert!(parse("garbage").is_err());
    }
}
