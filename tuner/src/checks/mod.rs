//! Host checks as data: each check has a stable id, a category, a title, what was observed, what
//! was expected and how to fix it. One module per area; [`run`] runs them all.

mod clock;
mod cpu;
mod durability;
pub mod irq;
mod limits;
mod memory;
mod pinning;
mod power;
mod routes;
mod storage;

use std::fmt;
use std::time::{Duration, Instant};

use pier_config::model::CpuPlacement;
use pier_config::{Config, CpuSet, ServerVersion};
use serde::Serialize;

use crate::facts::cmdline::Cmdline;
use crate::facts::process;
use crate::host::{is_gone, Host, HostError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Warn,
    Fail,
    Skip,
    /// The check could not read or understand a host fact.
    Error,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Status::Pass => "pass",
            Status::Warn => "warn",
            Status::Fail => "fail",
            Status::Skip => "skip",
            Status::Error => "error",
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    Cpu,
    Pinning,
    Irq,
    Power,
    Limits,
    Storage,
    Durability,
    Memory,
    Clock,
    Routes,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub id: String,
    pub category: Category,
    pub title: String,
    pub status: Status,
    pub observed: String,
    pub expected: String,
    /// How to fix it; None when the check passed or was skipped.
    pub remediation: Option<String>,
}

/// A check being written: id and title first, then what was seen and wanted, then the verdict.
pub struct Draft {
    id: String,
    category: Category,
    title: String,
    observed: String,
    expected: String,
}

pub fn check(id: impl Into<String>, category: Category, title: impl Into<String>) -> Draft {
    Draft {
        id: id.into(),
        category,
        title: title.into(),
        observed: String::new(),
        expected: String::new(),
    }
}

impl Draft {
    pub fn observed(mut self, observed: impl fmt::Display) -> Self {
        self.observed = observed.to_string();
        self
    }

    pub fn expected(mut self, expected: impl fmt::Display) -> Self {
        self.expected = expected.to_string();
        self
    }

    fn finish(self, status: Status, remediation: Option<String>) -> Check {
        Check {
            id: self.id,
            category: self.category,
            title: self.title,
            status,
            observed: self.observed,
            expected: self.expected,
            remediation,
        }
    }

    pub fn pass(self) -> Check {
        self.finish(Status::Pass, None)
    }

    pub fn warn(self, remediation: impl Into<String>) -> Check {
        self.finish(Status::Warn, Some(remediation.into()))
    }

    pub fn fail(self, remediation: impl Into<String>) -> Check {
        self.finish(Status::Fail, Some(remediation.into()))
    }

    /// Not applicable here; the reason goes into `observed`.
    pub fn skip(mut self, reason: impl fmt::Display) -> Check {
        self.observed = reason.to_string();
        self.finish(Status::Skip, None)
    }

    pub fn error(mut self, error: &HostError) -> Check {
        self.observed = error.to_string();
        self.finish(
            Status::Error,
            Some("make the file readable (run as root) or fix the captured tree".to_owned()),
        )
    }
}

/// The cores nats-server is meant to run on, as resolved from `resources.cpus` and the kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NatsCores {
    /// `cpus = "2-7"`.
    Listed(CpuSet),
    /// `cpus = "auto"` on a host with isolated cores.
    Isolated(CpuSet),
    /// `cpus = "auto"` and nothing isolated: nats-server is not pinned.
    AutoNothingIsolated,
    /// `cpus = "all"`.
    All,
}

impl NatsCores {
    /// The cores, when nats-server is meant to be confined to some.
    pub fn set(&self) -> Option<&CpuSet> {
        match self {
            NatsCores::Listed(set) | NatsCores::Isolated(set) => Some(set),
            NatsCores::AutoNothingIsolated | NatsCores::All => None,
        }
    }

    pub fn describe(&self) -> String {
        match self {
            NatsCores::Listed(set) => format!("cpus = \"{set}\""),
            NatsCores::Isolated(set) => format!("cpus = \"auto\" (isolated cores {set})"),
            NatsCores::AutoNothingIsolated => "cpus = \"auto\" with no isolated cores".to_owned(),
            NatsCores::All => "cpus = \"all\"".to_owned(),
        }
    }
}

/// Online, present and possible CPUs.
#[derive(Debug, Clone)]
pub struct Topology {
    pub online: CpuSet,
    pub present: CpuSet,
    pub possible: CpuSet,
}

impl Topology {
    pub fn read(host: &Host) -> Result<Self, HostError> {
        Ok(Topology {
            online: host.cpu_list("/sys/devices/system/cpu/online")?,
            present: host.cpu_list("/sys/devices/system/cpu/present")?,
            possible: host.cpu_list("/sys/devices/system/cpu/possible")?,
        })
    }

    pub fn last_cpu(&self) -> Option<usize> {
        self.possible.iter().last()
    }
}

#[derive(Debug, Clone)]
pub struct Process {
    pub pid: u32,
    pub status: process::Status,
}

/// Every process under ROOT/proc, from one pass over their status files.
pub fn processes(host: &Host) -> Result<Vec<Process>, HostError> {
    let mut out = Vec::new();
    for pid in host.list_numeric("/proc")? {
        match host.parse(format!("/proc/{pid}/status"), process::status) {
            Ok(status) => out.push(Process { pid, status }),
            // Exited since the directory was listed.
            Err(e) if is_gone(&e) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// Resolves `resources.cpus` as `pier-broker run` does: `auto` means the cores the kernel lists
/// in sysfs `isolated` (domain-isolated). An `isolcpus=` without the `domain` flag isolates
/// nothing from the scheduler, so it leaves nats-server unpinned there too.
pub fn nats_cores(placement: &CpuPlacement, host: &Host) -> Result<NatsCores, HostError> {
    Ok(match placement {
        CpuPlacement::List(set) => NatsCores::Listed(set.clone()),
        CpuPlacement::All => NatsCores::All,
        CpuPlacement::Auto => {
            let read = |path| -> Result<CpuSet, HostError> {
                Ok(host.cpu_list_optional(path)?.unwrap_or_default())
            };
            let isolated = read("/sys/devices/system/cpu/isolated")?;
            let online = read("/sys/devices/system/cpu/online")?;
            match CpuPlacement::auto_cores(&isolated, &online) {
                Some(cores) => NatsCores::Isolated(cores),
                None => NatsCores::AutoNothingIsolated,
            }
        }
    })
}

/// Everything the checks share, read once.
pub struct Context<'a> {
    pub config: &'a Config,
    pub host: &'a Host,
    /// Skip every check that opens a connection.
    pub offline: bool,
    /// The nats-server version, when known (asked on the live host, or given on the command line).
    pub server_version: Option<ServerVersion>,
    pub cmdline: Result<Cmdline, HostError>,
    pub topology: Result<Topology, HostError>,
    pub processes: Result<Vec<Process>, HostError>,
    pub cores: Result<NatsCores, HostError>,
}

impl<'a> Context<'a> {
    pub fn read(
        config: &'a Config,
        host: &'a Host,
        offline: bool,
        server_version: Option<ServerVersion>,
    ) -> Self {
        let cmdline = host.read("/proc/cmdline").map(|t| Cmdline::parse(&t));
        let topology = Topology::read(host);
        let cores = nats_cores(&config.resources.cpus, host);
        Context {
            config,
            host,
            offline,
            server_version,
            cmdline,
            topology,
            processes: processes(host),
            cores,
        }
    }

    /// The running nats-server processes.
    pub fn nats_servers(&self) -> impl Iterator<Item = &Process> {
        self.processes
            .iter()
            .flatten()
            .filter(|p| p.status.name == "nats-server")
    }

    pub fn running(&self, name: &str) -> Option<&Process> {
        self.processes
            .iter()
            .flatten()
            .find(|p| p.status.name == name)
    }

    pub fn last_cpu(&self) -> Option<usize> {
        self.topology.as_ref().ok().and_then(Topology::last_cpu)
    }
}

/// How long each area took, for `check --timings`.
pub type Timings = Vec<(&'static str, Duration)>;

/// Runs every check, in a stable order.
pub fn run(ctx: &Context) -> (Vec<Check>, Timings) {
    type Area = (&'static str, fn(&Context, &mut Vec<Check>));
    const AREAS: &[Area] = &[
        ("cpu", cpu::run),
        ("pinning", pinning::run),
        ("irq", irq::run),
        ("power", power::run),
        ("limits", limits::run),
        ("storage", storage::run),
        ("durability", durability::run),
        ("memory", memory::run),
        ("clock", clock::run),
        ("routes", routes::run),
    ];
    let mut checks = Vec::new();
    let mut timings = Vec::new();
    for (name, area) in AREAS {
        let start = Instant::now();
        area(ctx, &mut checks);
        timings.push((*name, start.elapsed()));
    }
    (checks, timings)
}

/// Shared shape of "a fact we needed could not be read": one error check.
fn fact<'a, T>(
    out: &mut Vec<Check>,
    fact: &'a Result<T, HostError>,
    draft: impl FnOnce() -> Draft,
) -> Option<&'a T> {
    match fact {
        Ok(value) => Some(value),
        Err(e) => {
            out.push(draft().error(e));
            None
        }
    }
}
