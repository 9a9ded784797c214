//! Sets of CPU numbers in the kernel's list syntax ("0-3,6") and mask syntax ("4f" or "00000000,0000004f").

use std::collections::BTreeSet;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The kernel's largest NR_CPUS: no CPU number reaches it.
const MAX_CPUS: usize = 8192;

/// An ordered set of logical CPU numbers; two sets are equal whatever syntax they were written in.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct CpuSet(BTreeSet<usize>);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid CPU list {input:?}: {reason}")]
pub struct CpuSetError {
    pub input: String,
    pub reason: String,
}

impl CpuSet {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn from_cpus(cpus: impl IntoIterator<Item = usize>) -> Self {
        CpuSet(cpus.into_iter().collect())
    }

    /// Parses a hexadecimal mask in the kernel's bitmap syntax, as in `/proc/irq/*/smp_affinity`
    /// and irqbalance's `IRQBALANCE_BANNED_CPUS`: comma-separated chunks, each of exactly 32
    /// bits, most significant first. As the kernel's (and irqbalance's) `__bitmap_parse`, a
    /// chunk worth more than 32 bits is refused rather than read as one wide number: a 64-CPU
    /// mask written `fffffffffffffffc` means nothing to irqbalance.
    pub fn from_mask(mask: &str) -> Result<Self, CpuSetError> {
        let err = |reason: String| CpuSetError {
            input: mask.to_owned(),
            reason,
        };
        let mut chunks = Vec::new();
        for chunk in mask.trim().split(',') {
            if chunk.is_empty() {
                return Err(err(
                    "empty chunk (expected hexadecimal digits between commas)".into(),
                ));
            }
            let digits = chunk.trim_start_matches('0');
            if digits.len() > 8 {
                return Err(err(format!(
                    "chunk {chunk:?} is wider than 32 bits (write one comma-separated chunk per 32 CPUs)"
                )));
            }
            let value = if digits.is_empty() {
                0
            } else {
                u32::from_str_radix(digits, 16)
                    .map_err(|_| err(format!("{chunk:?} is not hexadecimal")))?
            };
            chunks.push(value);
        }
        if chunks.len() * 32 > MAX_CPUS {
            return Err(err(format!("more than {MAX_CPUS} CPUs")));
        }
        let mut set = BTreeSet::new();
        for (i, value) in chunks.iter().rev().enumerate() {
            set.extend(
                (0..32)
                    .filter(|bit| value & (1 << bit) != 0)
                    .map(|bit| i * 32 + bit),
            );
        }
        Ok(CpuSet(set))
    }

    /// The kernel's bitmap syntax (`ffffffff,fffffffc`): one zero-padded 32-bit chunk per 32
    /// CPUs, comma-separated, as `smp_affinity` prints it and irqbalance's
    /// `IRQBALANCE_BANNED_CPUS` parses it.
    pub fn to_mask(&self) -> String {
        let chunks = self.0.iter().next_back().map_or(1, |max| max / 32 + 1);
        (0..chunks)
            .rev()
            .map(|chunk| {
                let value: u32 = (0..32)
                    .filter(|bit| self.0.contains(&(chunk * 32 + bit)))
                    .map(|bit| 1u32 << bit)
                    .sum();
                format!("{value:08x}")
            })
            .collect::<Vec<_>>()
            .join(",")
    }

    /// A CPU list as the kernel writes it in sysfs (`online`, `isolated`): empty text and
    /// `(null)` mean no CPU.
    pub fn from_kernel_list(text: &str) -> Result<Self, CpuSetError> {
        let text = text.trim();
        if text == "(null)" {
            return Ok(CpuSet::new());
        }
        text.parse()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn contains(&self, cpu: usize) -> bool {
        self.0.contains(&cpu)
    }

    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.0.iter().copied()
    }

    pub fn is_subset(&self, other: &CpuSet) -> bool {
        self.0.is_subset(&other.0)
    }

    pub fn intersection(&self, other: &CpuSet) -> CpuSet {
        CpuSet(self.0.intersection(&other.0).copied().collect())
    }

    pub fn union(&self, other: &CpuSet) -> CpuSet {
        CpuSet(self.0.union(&other.0).copied().collect())
    }

    pub fn difference(&self, other: &CpuSet) -> CpuSet {
        CpuSet(self.0.difference(&other.0).copied().collect())
    }
}

impl FromStr for CpuSet {
    type Err = CpuSetError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason: String| CpuSetError {
            input: s.to_owned(),
            reason,
        };
        let mut set = BTreeSet::new();
        for part in s.trim().split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let number = |n: &str| {
                let cpu = n
                    .trim()
                    .parse::<usize>()
                    .map_err(|_| err(format!("{n:?} is not a CPU number")))?;
                if cpu >= MAX_CPUS {
                    return Err(err(format!(
                        "CPU {cpu} is beyond the kernel's limit of {MAX_CPUS}"
                    )));
                }
                Ok(cpu)
            };
            match part.split_once('-') {
                Some((lo, hi)) => {
                    let (lo, hi) = (number(lo)?, number(hi)?);
                    if lo > hi {
                        return Err(err(format!("range {part:?} runs backwards")));
                    }
                    set.extend(lo..=hi);
                }
                None => {
                    set.insert(number(part)?);
                }
            }
        }
        Ok(CpuSet(set))
    }
}

impl fmt::Display for CpuSet {
    /// Writes the canonical list syntax, with ranges collapsed: "0-3,6".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        let mut iter = self.0.iter().copied().peekable();
        while let Some(start) = iter.next() {
            let mut end = start;
            while iter.peek() == Some(&(end + 1)) {
                end += 1;
                iter.next();
            }
            if !first {
                f.write_str(",")?;
            }
            first = false;
            if start == end {
                write!(f, "{start}")?;
            } else {
                write!(f, "{start}-{end}")?;
            }
        }
        Ok(())
    }
}

impl<'de> Deserialize<'de> for CpuSet {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl Serialize for CpuSet {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Where the kernel lists its online CPUs.
pub const SYSFS_ONLINE: &str = "/sys/devices/system/cpu/online";
/// Where the kernel lists the CPUs isolated from the scheduler domains (`isolcpus=domain,...`).
pub const SYSFS_ISOLATED: &str = "/sys/devices/system/cpu/isolated";

/// The host facts `cpus = "auto"` is resolved from. `pier-broker run` and `pier-tuner` both read
/// them with [`HostCpus::read`] and resolve with [`HostCpus::auto_cores`], so the two tools
/// cannot conclude differently from the same host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostCpus {
    pub online: CpuSet,
    pub isolated: CpuSet,
}

/// A sysfs CPU file that could not be read or parsed; names the file actually read.
#[derive(Debug, thiserror::Error)]
pub enum HostCpusError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot parse {}: {source}", path.display())]
    Parse {
        path: PathBuf,
        #[source]
        source: CpuSetError,
    },
}

impl HostCpus {
    /// Reads `online` and `isolated` under `root` (`/` on the live host, a captured tree in
    /// tests).
    ///
    /// A missing `online` is an error, in both tools: every kernel pier supports has the file,
    /// so its absence means a broken or incomplete tree, and guessing (all possible CPUs, or
    /// none) would pin nats-server, or report it isolated, on evidence that is not there. A
    /// missing `isolated` (older kernels) means nothing is isolated.
    pub fn read(root: &Path) -> Result<Self, HostCpusError> {
        let read = |logical: &str, required: bool| -> Result<CpuSet, HostCpusError> {
            let path = root.join(logical.trim_start_matches('/'));
            let text = match std::fs::read_to_string(&path) {
                Ok(text) => text,
                Err(e) if e.kind() == io::ErrorKind::NotFound && !required => String::new(),
                Err(source) => return Err(HostCpusError::Read { path, source }),
            };
            CpuSet::from_kernel_list(&text).map_err(|source| HostCpusError::Parse { path, source })
        };
        Ok(HostCpus {
            online: read(SYSFS_ONLINE, true)?,
            isolated: read(SYSFS_ISOLATED, false)?,
        })
    }

    /// The cores `cpus = "auto"` stands for here; None when nothing is isolated (nats-server
    /// is then not pinned).
    pub fn auto_cores(&self) -> Option<CpuSet> {
        crate::model::CpuPlacement::auto_cores(&self.isolated, &self.online)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_and_mask_agree() {
        let list: CpuSet = "2-5".parse().unwrap();
        assert_eq!(CpuSet::from_mask("3c").unwrap(), list);
        assert_eq!(CpuSet::from_mask("00000000,0000003c").unwrap(), list);
        assert_eq!(list.to_mask(), "0000003c");
        assert_eq!(CpuSet::from_mask(&list.to_mask()).unwrap(), list);
        assert_eq!(list.to_string(), "2-5");
    }

    #[test]
    fn masks_are_32_bit_chunks_as_the_kernel_and_irqbalance_parse_them() {
        let high: CpuSet = "2-63".parse().unwrap();
        assert_eq!(high.to_mask(), "ffffffff,fffffffc");
        assert_eq!(CpuSet::from_mask("ffffffff,fffffffc").unwrap(), high);
        // A short chunk is still a whole 32-bit word: "1,0" is CPU 32.
        assert_eq!(CpuSet::from_mask("1,0").unwrap().to_string(), "32");
        assert_eq!(CpuSet::from_mask("000000001").unwrap().to_string(), "0");
        let wide = CpuSet::from_mask("fffffffffffffffc").unwrap_err();
        assert!(wide.reason.contains("wider than 32 bits"), "{wide}");
        assert!(CpuSet::from_mask("ff,,ff").is_err());
        assert!(CpuSet::from_mask("").is_err());
        assert!(CpuSet::from_mask("0x3c").is_err());
        assert_eq!(CpuSet::new().to_mask(), "00000000");
    }

    #[test]
    fn lists_are_canonicalised() {
        let set: CpuSet = "7, 1-3,2,9-10".parse().unwrap();
        assert_eq!(set.to_string(), "1-3,7,9-10");
        assert_eq!("".parse::<CpuSet>().unwrap().len(), 0);
    }

    #[test]
    fn bad_lists_are_refused() {
        assert!("3-1".parse::<CpuSet>().is_err());
        assert!("a".parse::<CpuSet>().is_err());
        assert!("0-4000000000".parse::<CpuSet>().is_err());
        assert!(CpuSet::from_mask("xyz").is_err());
    }

    #[test]
    fn host_cpus_need_online_and_default_isolated_to_none() {
        let dir = tempfile::tempdir().unwrap();
        let cpu = dir.path().join("sys/devices/system/cpu");
        std::fs::create_dir_all(&cpu).unwrap();
        let err = HostCpus::read(dir.path()).unwrap_err().to_string();
        assert!(err.contains(&format!("{}/online", cpu.display())), "{err}");
        std::fs::write(cpu.join("online"), "0-7\n").unwrap();
        let host = HostCpus::read(dir.path()).unwrap();
        assert!(host.isolated.is_empty());
        assert_eq!(host.auto_cores(), None);
        std::fs::write(cpu.join("isolated"), "2-7,9\n").unwrap();
        let host = HostCpus::read(dir.path()).unwrap();
        assert_eq!(host.auto_cores(), Some("2-7".parse().unwrap()));
        std::fs::write(cpu.join("isolated"), "(null)\n").unwrap();
        assert_eq!(HostCpus::read(dir.path()).unwrap().auto_cores(), None);
        std::fs::write(cpu.join("isolated"), "x\n").unwrap();
        let err = HostCpus::read(dir.path()).unwrap_err().to_string();
        assert!(err.contains("isolated") && err.contains("\"x\""), "{err}");
    }
}
