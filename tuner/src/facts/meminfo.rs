//! `/proc/meminfo`.

/// A field of /proc/meminfo in bytes (the file counts in kB).
pub fn field(text: &str, name: &str) -> Result<u64, String> {
    let line = text
        .lines()
        .find(|line| line.split(':').next() == Some(name))
        .ok_or_else(|| format!("no {name} line"))?;
    let kb: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| format!("bad {name} line {line:?}"))?;
    Ok(kb * 1024)
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_mem_total() {
        let text = "MemTotal:       32768000 kB\nMemFree:  100 kB\n";
        assert_eq!(super::field(text, "MemTotal").unwrap(), 32768000 * 1024);
        assert!(super::field(text, "MemAvailable").is_err());
    }
}
