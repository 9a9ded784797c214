//! `/proc/PID/mountinfo`: which mount holds a path.

use std::path::{Path, PathBuf};

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

pub fn parse(text: &str) -> Result<Vec<Mount>, String> {
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .map(parse_line)
        .collect()
}

fn parse_line(line: &str) -> Result<Mount, String> {
    let bad = || format!("bad mountinfo line {line:?}");
    let (before, after) = line.split_once(" - ").ok_or_else(bad)?;
    let fields: Vec<&str> = before.split_whitespace().collect();
    let tail: Vec<&str> = after.split_whitespace().collect();
    if fields.len() < 6 || tail.len() < 2 {
        return Err(bad());
    }
    Ok(Mount {
        device: fields[2].to_owned(),
        mount_point: PathBuf::from(unescape(fields[4])),
        options: fields[5].split(',').map(str::to_owned).collect(),
        fs_type: tail[0].to_owned(),
        source: unescape(tail[1]),
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
