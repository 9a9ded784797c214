//! `/proc/meminfo`.
//!
//! Parsed here rather than with procfs's `Meminfo`: that requires a dozen fields a captured tree
//! need not have, and multiplies kB by 1024 unchecked, so a huge `MemTotal` overflows.

use crate::host::{Host, HostError};

/// A field of /proc/meminfo in bytes (the file counts in kB); a value too large for bytes in a
/// u64 is refused, never wrapped.
pub fn field(text: &str, name: &str) -> Result<u64, String> {
    let line = text
        .lines()
        .find(|line| line.split(':').next() == Some(name))
        .ok_or_else(|| format!("no {name} line"))?;
    let bad = || format!("bad {name} line {line:?}");
    let mut words = line.split_whitespace().skip(1);
    let kb: u64 = words.next().and_then(|n| n.parse().ok()).ok_or_else(bad)?;
    if words.next() != Some("kB") {
        return Err(bad());
    }
    kb.checked_mul(1024)
        .ok_or_else(|| format!("{name} {kb} kB does not fit in 64 bits of bytes"))
}

/// The host's memory in bytes.
pub fn mem_total(host: &Host) -> Result<u64, HostError> {
    host.parse("/proc/meminfo", |t| field(t, "MemTotal"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_mem_total() {
        let text = "MemTotal:       32768000 kB\nMemFree:  100 kB\n";
        assert_eq!(super::field(text, "MemTotal").unwrap(), 32768000 * 1024);
        assert!(super::field(text, "MemAvailable").is_err());
        let huge = "MemTotal: 18446744073709551615 kB\n";
        let err = super::field(huge, "MemTotal").unwrap_err();
        assert!(err.contains("64 bits"), "{err}");
        assert!(super::field("MemTotal: 12\n", "MemTotal").is_err());
        assert!(super::field("MemTotal: -1 kB\n", "MemTotal").is_err());
    }
}
