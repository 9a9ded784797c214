//! irqbalance: which cores its settings ban, read the way irqbalance itself reads them, and which
//! of its two keys the installed release understands.
//!
//! irqbalance's `setup_banned_cpus()` (cputree.c, 1.8.0 to 1.9.x and master) decides in this
//! order, first match wins:
//! 1. `IRQBALANCE_BANNED_CPUS`, when set and non-empty: a mask in the kernel's bitmap syntax
//!    (`cpumask_parse_user`: comma-separated chunks of at most 32 bits each; a wider chunk fails
//!    with EOVERFLOW and bans nothing). Deprecated since 1.9.0, still read first.
//! 2. `IRQBALANCE_BANNED_CPULIST` (since 1.8.0): a CPU list such as `2-7`.
//! 3. Neither: the kernel's isolated and nohz_full cores (since 1.1.0).
//!
//! Writing follows the installed release: 1.8.0 and later get the list alone (and any mask,
//! which would take precedence, removed); older ones the mask alone; when the release is unknown
//! both, each in a syntax every release parses, the mask winning as it always does.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use pier_config::CpuSet;

use super::env_file;
use crate::host::{Host, HostError};

/// irqbalance's settings (read by its unit as an EnvironmentFile), Debian's path first.
pub const FILES: &[&str] = &["/etc/default/irqbalance", "/etc/sysconfig/irqbalance"];
pub const MASK_KEY: &str = "IRQBALANCE_BANNED_CPUS";
pub const LIST_KEY: &str = "IRQBALANCE_BANNED_CPULIST";
/// The first release reading `IRQBALANCE_BANNED_CPULIST`.
pub const LIST_SINCE: Version = Version(1, 8, 0);

const DPKG_STATUS: &str = "/var/lib/dpkg/status";
/// `irqbalance --version` answers at once; a binary that hangs must not hang the tuner.
const VERSION_TIMEOUT: Duration = Duration::from_secs(2);

/// An irqbalance release, `major.minor.patch`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version(pub u32, pub u32, pub u32);

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.0, self.1, self.2)
    }
}

impl Version {
    /// The upstream part of a version string: `1.9.3`, a Debian `1:1.9.2-1+b1`, an RPM
    /// `1.9.4-1.el9`. A missing patch level is 0.
    pub fn parse(text: &str) -> Option<Version> {
        let text = text.trim();
        let upstream = text.split_once(':').map_or(text, |(_, rest)| rest);
        let upstream = upstream.split(['-', '+', '~']).next()?;
        let mut parts = upstream.split('.').map(|p| p.parse::<u32>());
        let major = parts.next()?.ok()?;
        let minor = parts.next()?.ok()?;
        let patch = match parts.next() {
            None => 0,
            Some(p) => p.ok()?,
        };
        Some(Version(major, minor, patch))
    }

    pub fn reads_list(&self) -> bool {
        *self >= LIST_SINCE
    }
}

/// The installed release and where that was learnt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installed {
    pub version: Version,
    pub source: String,
}

/// The installed irqbalance release: from dpkg's status file under the root, else, on the live
/// host only, from `irqbalance --version` (RPM's database is not text). None when neither says.
pub fn installed(host: &Host) -> Result<Option<Installed>, HostError> {
    if let Some(text) = host.read_optional(DPKG_STATUS)? {
        if let Some(version) = dpkg_version(&text, "irqbalance") {
            return Ok(Some(Installed {
                version,
                source: host.path(DPKG_STATUS).display().to_string(),
            }));
        }
    }
    if host.is_live() {
        if let Some(version) = binary_version() {
            return Ok(Some(Installed {
                version,
                source: "irqbalance --version".to_owned(),
            }));
        }
    }
    Ok(None)
}

/// The version of an installed package in a dpkg status file (paragraphs of `Key: value`).
pub fn dpkg_version(status: &str, package: &str) -> Option<Version> {
    status.split("\n\n").find_map(|paragraph| {
        let field = |key: &str| {
            paragraph
                .lines()
                .find_map(|line| line.strip_prefix(key)?.strip_prefix(':'))
                .map(str::trim)
        };
        let installed = field("Status").is_some_and(|s| s.ends_with(" installed"));
        (field("Package") == Some(package) && installed)
            .then(|| field("Version").and_then(Version::parse))
            .flatten()
    })
}

fn binary_version() -> Option<Version> {
    let mut child = Command::new("irqbalance")
        .arg("--version")
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let deadline = Instant::now() + VERSION_TIMEOUT;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
    let mut out = String::new();
    child
        .stdout
        .take()?
        .take(4096)
        .read_to_string(&mut out)
        .ok()?;
    version_line(&out)
}

/// `irqbalance version 1.9.3`.
pub fn version_line(text: &str) -> Option<Version> {
    text.lines()
        .find_map(|line| line.trim().strip_prefix("irqbalance version "))
        .and_then(Version::parse)
}

/// irqbalance's settings file: the first of [`FILES`] present, with its text.
pub fn settings(host: &Host) -> Result<Option<(&'static str, String)>, HostError> {
    for file in FILES {
        if let Some(text) = host.read_optional(file)? {
            return Ok(Some((file, text)));
        }
    }
    Ok(None)
}

/// What irqbalance bans, decided as irqbalance decides it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Banned {
    /// `IRQBALANCE_BANNED_CPUS`, which wins whenever it is set.
    Mask(CpuSet),
    /// `IRQBALANCE_BANNED_CPULIST`.
    List(CpuSet),
    /// A value irqbalance cannot parse: it bans nothing from it.
    Unparseable { key: &'static str, reason: String },
    /// Neither key (or only a list this release ignores): the kernel's isolated and nohz_full
    /// cores.
    Kernel(CpuSet),
}

impl Banned {
    /// The cores banned, empty when irqbalance cannot parse its setting.
    pub fn cpus(&self) -> CpuSet {
        match self {
            Banned::Mask(set) | Banned::List(set) | Banned::Kernel(set) => set.clone(),
            Banned::Unparseable { .. } => CpuSet::new(),
        }
    }
}

/// The cores irqbalance bans given its settings file's text; `version` None assumes a release
/// that reads both keys (the mask is read first by every release anyway).
pub fn banned(host: &Host, text: &str, version: Option<Version>) -> Result<Banned, HostError> {
    if let Some(mask) = env_file::value(text, MASK_KEY).filter(|v| !v.is_empty()) {
        return Ok(match CpuSet::from_mask(mask) {
            Ok(set) => Banned::Mask(set),
            Err(e) => Banned::Unparseable {
                key: MASK_KEY,
                reason: e.to_string(),
            },
        });
    }
    if version.map_or(true, |v| v.reads_list()) {
        if let Some(list) = env_file::value(text, LIST_KEY) {
            return Ok(match list.parse::<CpuSet>() {
                Ok(set) => Banned::List(set),
                Err(e) => Banned::Unparseable {
                    key: LIST_KEY,
                    reason: e.to_string(),
                },
            });
        }
    }
    let mut kernel = CpuSet::new();
    for file in [
        pier_config::cpuset::SYSFS_ISOLATED,
        "/sys/devices/system/cpu/nohz_full",
    ] {
        if let Some(set) = host.cpu_list_optional(file)? {
            kernel = kernel.union(&set);
        }
    }
    Ok(Banned::Kernel(kernel))
}

/// Which keys [`with_banned`] writes for a release.
pub fn keys_written(version: Option<Version>) -> String {
    match version {
        Some(v) if v.reads_list() => LIST_KEY.to_owned(),
        Some(_) => MASK_KEY.to_owned(),
        None => format!("{LIST_KEY} and {MASK_KEY}"),
    }
}

/// The settings file banning `cpus`, in the keys the installed release understands.
pub fn with_banned(text: &str, cpus: &CpuSet, version: Option<Version>) -> String {
    match version {
        Some(v) if v.reads_list() => {
            let text = env_file::without(text, MASK_KEY);
            env_file::with_value(&text, LIST_KEY, &cpus.to_string())
        }
        Some(_) => env_file::with_value(text, MASK_KEY, &cpus.to_mask()),
        None => {
            let text = env_file::with_value(text, LIST_KEY, &cpus.to_string());
            env_file::with_value(&text, MASK_KEY, &cpus.to_mask())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(s: &str) -> CpuSet {
        s.parse().unwrap()
    }

    #[test]
    fn versions_from_packages_and_the_binary() {
        assert_eq!(Version::parse("1:1.9.2-1+b1"), Some(Version(1, 9, 2)));
        assert_eq!(Version::parse("1.7.0-1"), Some(Version(1, 7, 0)));
        assert_eq!(Version::parse("1.9"), Some(Version(1, 9, 0)));
        assert_eq!(Version::parse("x"), None);
        assert_eq!(
            version_line("irqbalance version 1.9.4\n"),
            Some(Version(1, 9, 4))
        );
        let status = "Package: irqbalanced\nStatus: install ok installed\nVersion: 9.9.9\n\n\
                      Package: irqbalance\nStatus: deinstall ok config-files\nVersion: 1.9.2-1\n\n\
                      Package: irqbalance\nStatus: install ok installed\nPriority: optional\nVersion: 1.7.0-1\n";
        assert_eq!(dpkg_version(status, "irqbalance"), Some(Version(1, 7, 0)));
        assert_eq!(dpkg_version("Package: x\n", "irqbalance"), None);
    }

    #[test]
    fn the_mask_wins_as_in_irqbalance() {
        let host = Host::new("/nonexistent");
        let text = "IRQBALANCE_BANNED_CPULIST=2-63\nIRQBALANCE_BANNED_CPUS=fffffffffffffffc\n";
        let banned = banned(&host, text, Some(Version(1, 9, 3))).unwrap();
        assert!(
            matches!(banned, Banned::Unparseable { key: MASK_KEY, .. }),
            "{banned:?}"
        );
        assert!(banned.cpus().is_empty());
        let text = "IRQBALANCE_BANNED_CPUS=\"\"\nIRQBALANCE_BANNED_CPULIST=2-63\n";
        assert_eq!(
            super::banned(&host, text, None).unwrap(),
            Banned::List(set("2-63"))
        );
        // 1.7 does not know the list: it falls back to the kernel's isolated cores (none here).
        assert_eq!(
            super::banned(&host, text, Some(Version(1, 7, 0))).unwrap(),
            Banned::Kernel(CpuSet::new())
        );
    }

    #[test]
    fn writes_what_the_release_understands() {
        let cores = set("2-63");
        let text = "# keep\nIRQBALANCE_BANNED_CPUS=ff\nIRQBALANCE_ONESHOT=0\n";
        let modern = with_banned(text, &cores, Some(Version(1, 9, 3)));
        assert_eq!(env_file::value(&modern, MASK_KEY), None);
        assert_eq!(env_file::value(&modern, LIST_KEY), Some("2-63"));
        assert!(modern.contains("# keep\n") && modern.contains("IRQBALANCE_ONESHOT=0"));
        let old = with_banned(text, &cores, Some(Version(1, 7, 0)));
        assert_eq!(env_file::value(&old, MASK_KEY), Some("ffffffff,fffffffc"));
        assert_eq!(env_file::value(&old, LIST_KEY), None);
        let unknown = with_banned(text, &cores, None);
        assert_eq!(
            env_file::value(&unknown, MASK_KEY),
            Some("ffffffff,fffffffc")
        );
        assert_eq!(env_file::value(&unknown, LIST_KEY), Some("2-63"));
        let host = Host::new("/nonexistent");
        for (written, version) in [
            (modern, Version(1, 9, 3)),
            (old, Version(1, 7, 0)),
            (unknown.clone(), Version(1, 7, 0)),
            (unknown, Version(1, 9, 3)),
        ] {
            assert_eq!(
                banned(&host, &written, Some(version)).unwrap().cpus(),
                cores,
                "{version}: {written}"
            );
        }
    }
}
