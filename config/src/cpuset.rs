//! Sets of CPU numbers in the kernel's list syntax ("0-3,6") and mask syntax ("4f" or "00000000,0000004f").

use std::collections::BTreeSet;
use std::fmt;
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

    /// Parses a hexadecimal mask as written in `/proc/irq/*/smp_affinity` (comma-separated 32-bit words).
    pub fn from_mask(mask: &str) -> Result<Self, CpuSetError> {
        let err = |reason: &str| CpuSetError {
            input: mask.to_owned(),
            reason: reason.to_owned(),
        };
        let digits: String = mask.trim().chars().filter(|c| *c != ',').collect();
        let digits = digits.trim_start_matches("0x");
        if digits.is_empty() {
            return Err(err("empty mask"));
        }
        let mut set = BTreeSet::new();
        for (i, c) in digits.chars().rev().enumerate() {
            let nibble = c
                .to_digit(16)
                .ok_or_else(|| err("not a hexadecimal mask"))?;
            for bit in 0..4 {
                if nibble & (1 << bit) != 0 {
                    set.insert(i * 4 + bit);
                }
            }
        }
        Ok(CpuSet(set))
    }

    /// The mask syntax the kernel accepts in `smp_affinity` and irqbalance's `IRQBALANCE_BANNED_CPUS`.
    pub fn to_mask(&self) -> String {
        let Some(&max) = self.0.iter().next_back() else {
            return "0".to_owned();
        };
        let nibbles = max / 4 + 1;
        let mut out = String::with_capacity(nibbles);
        for n in (0..nibbles).rev() {
            let v: u32 = (0..4)
                .filter(|b| self.0.contains(&(n * 4 + b)))
                .map(|b| 1 << b)
                .sum();
            out.push(char::from_digit(v, 16).unwrap_or('0'));
        }
        out
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_and_mask_agree() {
        let list: CpuSet = "2-5".parse().unwrap();
        assert_eq!(CpuSet::from_mask("3c").unwrap(), list);
        assert_eq!(CpuSet::from_mask("00000000,0000003c").unwrap(), list);
        assert_eq!(list.to_mask(), "3c");
        assert_eq!(list.to_string(), "2-5");
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
}
