//! `pier-tuner pin`: confine every thread of a running process to a CPU list.
//!
//! Go starts threads at will, so one pass over /proc/PID/task can miss a thread created during
//! the walk by a thread not yet pinned; the walk repeats until a pass finds no new thread.

use std::collections::BTreeMap;
use std::fmt;

use nix::errno::Errno;
use nix::sched::{sched_setaffinity, CpuSet as NixCpuSet};
use nix::unistd::Pid;
use pier_config::CpuSet;

use crate::facts::process;
use crate::host::{is_gone, Host, HostError};

/// Passes over the thread list before giving up on a process that keeps spawning threads.
const MAX_WALKS: usize = 50;

#[derive(Debug, thiserror::Error)]
pub enum PinError {
    #[error("no process {pid}")]
    NoProcess { pid: u32 },
    #[error("CPU {cpu} is beyond what sched_setaffinity accepts")]
    CpuOutOfRange { cpu: usize },
    #[error(transparent)]
    Host(#[from] HostError),
    #[error("threads of pid {pid} kept appearing after {MAX_WALKS} passes")]
    Unstable { pid: u32 },
}

/// What pinning one thread came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PinOutcome {
    Pinned,
    /// Exited between listing and pinning: nothing to do.
    Exited,
    Failed(String),
}

#[derive(Debug, Clone)]
pub struct Thread {
    pub tid: u32,
    pub name: String,
    pub before: Option<CpuSet>,
    pub after: CpuSet,
    pub outcome: PinOutcome,
}

impl Thread {
    pub fn pinned(&self) -> bool {
        self.outcome == PinOutcome::Pinned
    }

    pub fn failed(&self) -> bool {
        matches!(self.outcome, PinOutcome::Failed(_))
    }
}

impl fmt::Display for Thread {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let before = self
            .before
            .as_ref()
            .map(|b| b.to_string())
            .unwrap_or_else(|| "?".into());
        match &self.outcome {
            PinOutcome::Pinned => write!(
                f,
                "✓ tid {} {}: {before} → {}",
                self.tid, self.name, self.after
            ),
            PinOutcome::Exited => write!(
                f,
                "- tid {} {}: exited during the walk",
                self.tid, self.name
            ),
            PinOutcome::Failed(e) => write!(f, "✗ tid {} {}: {e}", self.tid, self.name),
        }
    }
}

/// Pins every thread of `pid` to `cpus` on the live host.
pub fn pin(pid: u32, cpus: &CpuSet) -> Result<Vec<Thread>, PinError> {
    let mut mask = NixCpuSet::new();
    for cpu in cpus.iter() {
        mask.set(cpu).map_err(|_| PinError::CpuOutOfRange { cpu })?;
    }
    let host = Host::new("/");
    let mut done: BTreeMap<u32, Thread> = BTreeMap::new();
    for _ in 0..MAX_WALKS {
        let tids = match host.list_numeric(format!("/proc/{pid}/task")) {
            Ok(tids) if tids.is_empty() && done.is_empty() => {
                return Err(PinError::NoProcess { pid })
            }
            Ok(tids) => tids,
            Err(e) => return Err(e.into()),
        };
        let new: Vec<u32> = tids.into_iter().filter(|t| !done.contains_key(t)).collect();
        if new.is_empty() {
            return Ok(done.into_values().collect());
        }
        for tid in new {
            done.insert(tid, pin_thread(&host, pid, tid, cpus, &mask)?);
        }
    }
    Err(PinError::Unstable { pid })
}

fn pin_thread(
    host: &Host,
    pid: u32,
    tid: u32,
    cpus: &CpuSet,
    mask: &NixCpuSet,
) -> Result<Thread, PinError> {
    let status = match host.parse(format!("/proc/{pid}/task/{tid}/status"), process::status) {
        Ok(s) => Some(s),
        Err(e) if is_gone(&e) => None,
        Err(e) => return Err(e.into()),
    };
    let name = status.as_ref().map(|s| s.name.clone()).unwrap_or_default();
    let before = status.map(|s| s.cpus_allowed);
    let outcome = match i32::try_from(tid) {
        Err(_) => PinOutcome::Failed("thread id out of range".into()),
        // nix rather than core_affinity: core_affinity only pins the calling thread, and this
        // pins every thread of another process by its thread id.
        Ok(raw) => match sched_setaffinity(Pid::from_raw(raw), mask) {
            Ok(()) => PinOutcome::Pinned,
            Err(Errno::ESRCH) => PinOutcome::Exited,
            Err(e) => PinOutcome::Failed(format!("sched_setaffinity: {e}")),
        },
    };
    Ok(Thread {
        tid,
        name,
        before,
        after: cpus.clone(),
        outcome,
    })
}
