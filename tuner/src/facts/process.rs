//! `/proc/PID/status` and `/proc/PID/limits`.
//!
//! Parsed here rather than with procfs: its `Status` requires some twenty fields (captured trees
//! keep the three the checks use), and its `Limits` subtracts from a line's word count
//! unchecked, so a blank or short line underflows.

use pier_config::CpuSet;

use crate::host::{is_gone, Host, HostError};

#[derive(Debug, Clone)]
pub struct Process {
    pub pid: u32,
    pub status: Status,
}

/// Every process under ROOT/proc, from one pass over their status files.
pub fn processes(host: &Host) -> Result<Vec<Process>, HostError> {
    let mut out = Vec::new();
    for pid in host.list_numeric("/proc")? {
        match host.parse(format!("/proc/{pid}/status"), status) {
            Ok(status) => out.push(Process { pid, status }),
            // Exited since the directory was listed.
            Err(e) if is_gone(&e) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// The command name (`comm`, at most 15 characters).
    pub name: String,
    pub cpus_allowed: CpuSet,
    /// Kernel threads have no memory map, hence no `VmSize` line.
    pub kernel_thread: bool,
}

pub fn status(text: &str) -> Result<Status, String> {
    let mut name = None;
    let mut cpus = None;
    let mut vm = false;
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        match key {
            "Name" => name = Some(value.trim().to_owned()),
            "Cpus_allowed_list" => cpus = Some(super::cpu_list(value)?),
            "VmSize" => vm = true,
            _ => {}
        }
    }
    Ok(Status {
        name: name.ok_or("no Name line")?,
        cpus_allowed: cpus.ok_or("no Cpus_allowed_list line")?,
        kernel_thread: !vm,
    })
}

/// The soft and hard limits on open files from `/proc/PID/limits`.
pub fn open_files_limit(text: &str) -> Result<(u64, u64), String> {
    let line = text
        .lines()
        .find(|line| line.starts_with("Max open files"))
        .ok_or("no \"Max open files\" line")?;
    let numbers: Vec<u64> = line["Max open files".len()..]
        .split_whitespace()
        .map_while(|w| match w {
            "unlimited" => Some(u64::MAX),
            n => n.parse().ok(),
        })
        .collect();
    match numbers[..] {
        [soft, hard, ..] => Ok((soft, hard)),
        _ => Err(format!("bad line {line:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_status_and_limits() {
        let s = status("Name:\tnats-server\nState:\tS\nVmSize:\t 100 kB\nCpus_allowed:\tfc\nCpus_allowed_list:\t2-7\n").unwrap();
        assert_eq!(s.name, "nats-server");
        assert_eq!(s.cpus_allowed.to_string(), "2-7");
        assert!(!s.kernel_thread);
        assert!(
            status("Name:\tkworker/0:1\nCpus_allowed_list:\t0\n")
                .unwrap()
                .kernel_thread
        );
        assert!(status("State: S\n").is_err());
        let limits = "Limit                     Soft Limit           Hard Limit           Units\n\
                      Max open files            1048576              1048576              files\n";
        assert_eq!(open_files_limit(limits).unwrap(), (1048576, 1048576));
    }
}
