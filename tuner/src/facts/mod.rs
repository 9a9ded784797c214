//! The host facts: pure parsers over a file's text (tested on captured text), and beside each the
//! reader that fetches it through [`crate::host::Host`] and names the file in every error.
//! `checks`, `apply` and `boot_args` all depend on these, never on each other.
//!
//! procfs parses `/proc/net/tcp*` and mountinfo here; the other files keep their own parsers,
//! each module saying why.

pub mod cmdline;
pub mod cpus;
pub mod env_file;
pub mod interrupts;
pub mod irqbalance;
pub mod meminfo;
pub mod mountinfo;
pub mod process;
pub mod sockets;

use pier_config::CpuSet;

/// A kernel CPU list (`0-3,6`); empty text and the kernel's `(null)` mean no CPU.
pub fn cpu_list(text: &str) -> Result<CpuSet, String> {
    CpuSet::from_kernel_list(text).map_err(|e| e.to_string())
}

/// The chosen value of a sysfs selector such as `always [madvise] never`; a file holding a single
/// word (as written by `apply` into a captured tree) is that word.
pub fn selected(text: &str) -> Option<&str> {
    let text = text.trim();
    match (text.find('['), text.find(']')) {
        (Some(open), Some(close)) if open < close => Some(&text[open + 1..close]),
        _ => text.split_whitespace().next(),
    }
}

/// A single integer sysctl such as `/proc/sys/vm/swappiness`.
pub fn integer(text: &str) -> Result<u64, String> {
    text.trim()
        .parse()
        .map_err(|_| format!("{:?} is not a number", text.trim()))
}

/// A sysctl holding several integers (`net.ipv4.tcp_rmem`: min default max).
pub fn integers(text: &str) -> Result<Vec<u64>, String> {
    text.split_whitespace().map(integer).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_selectors_and_lists() {
        assert_eq!(selected("always [madvise] never\n"), Some("madvise"));
        assert_eq!(selected("never\n"), Some("never"));
        assert_eq!(cpu_list("(null)\n").unwrap(), CpuSet::new());
        assert_eq!(cpu_list("2-7\n").unwrap().to_string(), "2-7");
        assert!(cpu_list("x").is_err());
        assert_eq!(integers("4096 131072 6291456\n").unwrap()[2], 6291456);
    }
}
