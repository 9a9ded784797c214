//! Host checks as data: each check has a stable id, a category, a title, what was observed, what
//! was expected and how to fix it. One module per area; [`run`] runs them all.

mod clock;
mod cpu;
mod durability;
mod irq;
mod limits;
mod memory;
mod pinning;
mod power;
mod routes;
mod storage;

use std::fmt;
use std::time::{Duration, Instant};

use pier_config::{Config, ServerVersion};
use serde::Serialize;

use crate::facts::cmdline::Cmdline;
use crate::facts::cpus::{nats_cores, NatsCores, Topology};
use crate::facts::process::{processes, Process};
use crate::host::{Host, HostError};

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

/// A check's identity, declared once as a const beside the code that runs it; [`SPECS`] lists
/// them all (docs/tuning.md documents each, a test holds it to that).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spec {
    /// The stable id; for a family (one check per peer or port) the prefix before `.<name>`.
    pub id: &'static str,
    pub category: Category,
    /// The title; for a family a description, each member's title naming its peer or port.
    pub title: &'static str,
    pub family: bool,
}

impl Spec {
    pub const fn one(id: &'static str, category: Category, title: &'static str) -> Spec {
        Spec {
            id,
            category,
            title,
            family: false,
        }
    }

    pub const fn family(prefix: &'static str, category: Category, title: &'static str) -> Spec {
        Spec {
            id: prefix,
            category,
            title,
            family: true,
        }
    }

    /// A check of this spec being written.
    pub fn draft(&self) -> Draft {
        debug_assert!(!self.family, "{} is a family: use member()", self.id);
        Draft::new(self.id.to_owned(), self.category, self.title.to_owned())
    }

    /// The member `name` of a family, with its own title.
    pub fn member(&self, name: &str, title: String) -> Draft {
        debug_assert!(self.family, "{} is not a family", self.id);
        Draft::new(format!("{}.{name}", self.id), self.category, title)
    }

    /// Whether an emitted id is this check (or a member of this family).
    pub fn matches(&self, id: &str) -> bool {
        if self.family {
            id.strip_prefix(self.id)
                .and_then(|rest| rest.strip_prefix('.'))
                .is_some_and(|name| !name.is_empty())
        } else {
            id == self.id
        }
    }

    /// How docs/tuning.md names it: `cpu.online`, `routes.peer.<name>`.
    pub fn documented_as(&self) -> String {
        if self.family {
            format!("`{}.<name>`", self.id)
        } else {
            format!("`{}`", self.id)
        }
    }
}

/// Every check, in the order they run.
pub const SPECS: &[&[Spec]] = &[
    cpu::SPECS,
    pinning::SPECS,
    irq::SPECS,
    power::SPECS,
    limits::SPECS,
    storage::SPECS,
    durability::SPECS,
    memory::SPECS,
    clock::SPECS,
    routes::SPECS,
];

/// The spec an emitted id belongs to.
pub fn spec_of(id: &str) -> Option<&'static Spec> {
    SPECS.iter().flat_map(|s| s.iter()).find(|s| s.matches(id))
}

/// A check being written: id and title first, then what was seen and wanted, then the verdict.
pub struct Draft {
    id: String,
    category: Category,
    title: String,
    observed: String,
    expected: String,
}

impl Draft {
    fn new(id: String, category: Category, title: String) -> Draft {
        Draft {
            id,
            category,
            title,
            observed: String::new(),
            expected: String::new(),
        }
    }

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

/// Everything the checks share, read once.
pub struct Context<'a> {
    pub config: &'a Config,
    pub host: &'a Host,
    /// Skip every check that needs the network: the peers' routes, the clock.
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

/// Shared shape of "a fact these checks need could not be read": each of them is an error
/// naming the file, never a pass or a skip.
fn fact<'a, T>(
    out: &mut Vec<Check>,
    fact: &'a Result<T, HostError>,
    specs: &[Spec],
) -> Option<&'a T> {
    match fact {
        Ok(value) => Some(value),
        Err(e) => {
            out.extend(specs.iter().map(|spec| spec.draft().error(e)));
            None
        }
    }
}
