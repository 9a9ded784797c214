//! `/proc/PID/status`, `/proc/PID/limits` and `/proc/PID/cgroup`, and which nats-server is
//! pier's own.
//!
//! Parsed here rather than with procfs: its `Status` requires some twenty fields (captured trees
//! keep the few the checks use), and its `Limits` subtracts from a line's word count
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
    /// The parent's pid (`PPid`); None when the line is missing (a captured tree without it).
    pub ppid: Option<u32>,
    pub cpus_allowed: CpuSet,
    /// Kernel threads have no memory map, hence no `VmSize` line.
    pub kernel_thread: bool,
}

pub fn status(text: &str) -> Result<Status, String> {
    let mut name = None;
    let mut ppid = None;
    let mut cpus = None;
    let mut vm = false;
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        match key {
            "Name" => name = Some(value.trim().to_owned()),
            "PPid" => {
                ppid = Some(
                    value
                        .trim()
                        .parse()
                        .map_err(|_| format!("bad PPid line {line:?}"))?,
                )
            }
            "Cpus_allowed_list" => cpus = Some(super::cpu_list(value)?),
            "VmSize" => vm = true,
            _ => {}
        }
    }
    Ok(Status {
        name: name.ok_or("no Name line")?,
        ppid,
        cpus_allowed: cpus.ok_or("no Cpus_allowed_list line")?,
        kernel_thread: !vm,
    })
}

/// The command name of pier's supervisor, `pier-broker run`: nats-server is its child.
pub const SUPERVISOR: &str = "pier-broker";
/// The unit the package runs the supervisor as.
pub const UNIT: &str = "pier-broker.service";

/// A nats-server started by pier's supervisor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PierServer {
    pub pid: u32,
    pub supervisor: u32,
    /// The supervisor is the main process of [`UNIT`] (its cgroup is the unit's).
    pub in_unit: bool,
}

/// The nats-servers pier's supervisors started, those of [`UNIT`] first. Any other process named
/// nats-server (another program's, one started by hand) is not pier's: nothing about it says
/// which pier.toml it runs, or that it runs under the unit's limits.
pub fn pier_servers(host: &Host, processes: &[Process]) -> Result<Vec<PierServer>, HostError> {
    let mut out = Vec::new();
    for server in processes.iter().filter(|p| p.status.name == "nats-server") {
        let Some(parent) = server
            .status
            .ppid
            .and_then(|ppid| processes.iter().find(|p| p.pid == ppid))
            .filter(|p| p.status.name == SUPERVISOR)
        else {
            continue;
        };
        let in_unit = match host.read_optional(format!("/proc/{}/cgroup", parent.pid)) {
            Ok(text) => text.as_deref().is_some_and(in_unit),
            // Exited since the process list was read: no longer anyone's server.
            Err(e) if is_gone(&e) => continue,
            Err(e) => return Err(e),
        };
        out.push(PierServer {
            pid: server.pid,
            supervisor: parent.pid,
            in_unit,
        });
    }
    out.sort_by_key(|s| !s.in_unit);
    Ok(out)
}

/// What `/proc/PID/cgroup` says of [`UNIT`]: the process's cgroup is the unit's (cgroup v2's
/// `0::/system.slice/pier-broker.service`, or v1's `name=systemd` hierarchy).
pub fn in_unit(cgroup: &str) -> bool {
    cgroup.lines().any(|line| {
        line.splitn(3, ':')
            .nth(2)
            .is_some_and(|path| path.trim_end().rsplit('/').next() == Some(UNIT))
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
        assert_eq!(s.ppid, None);
        assert_eq!(s.cpus_allowed.to_string(), "2-7");
        assert!(!s.kernel_thread);
        assert!(
            status("Name:\tkworker/0:1\nCpus_allowed_list:\t0\n")
                .unwrap()
                .kernel_thread
        );
        assert!(status("State: S\n").is_err());
        let child = status("Name:\tnats-server\nPPid:\t812\nCpus_allowed_list:\t0\n").unwrap();
        assert_eq!(child.ppid, Some(812));
        assert!(status("Name:\tx\nPPid:\tone\nCpus_allowed_list:\t0\n").is_err());
        let limits = "Limit                     Soft Limit           Hard Limit           Units\n\
                      Max open files            1048576              1048576              files\n";
        assert_eq!(open_files_limit(limits).unwrap(), (1048576, 1048576));
    }

    #[test]
    fn the_unit_is_read_from_either_cgroup_version() {
        assert!(in_unit("0::/system.slice/pier-broker.service\n"));
        assert!(in_unit(
            "12:cpu,cpuacct:/system.slice/pier-broker.service\n1:name=systemd:/system.slice/pier-broker.service\n"
        ));
        assert!(!in_unit("0::/user.slice/user-0.slice/session-3.scope\n"));
        assert!(!in_unit("0::/system.slice/not-pier-broker.service\n"));
        assert!(!in_unit(""));
    }
}
