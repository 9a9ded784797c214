//! Starting nats-server: already on its cores (so Go sizes GOMAXPROCS from them), stripped of
//! capabilities, with GOMEMLIMIT, in its own process group (a terminal's Ctrl-C reaches only the
//! supervisor, which then drives the shutdown).

use std::path::PathBuf;
use std::process::Stdio;

use caps::{CapSet, Capability};
use pier_config::units::Bytes;
use pier_config::CpuSet;

use super::placement::{to_affinity, PlacementError};

/// What the child needs beyond its configuration file.
#[derive(Debug, Clone)]
pub struct ServerSpec {
    pub binary: PathBuf,
    pub conf: PathBuf,
    pub cpus: Option<CpuSet>,
    pub memory_limit: Option<Bytes>,
    /// Keep CAP_NET_BIND_SERVICE: some listener port is below 1024.
    pub bind_low_ports: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    #[error(transparent)]
    Placement(#[from] PlacementError),
    #[error("cannot start {}: {source}", binary.display())]
    Spawn {
        binary: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Variables meant for the supervisor only: nats-server must not talk to systemd itself.
const SUPERVISOR_ONLY_ENV: [&str; 5] = [
    "NOTIFY_SOCKET",
    "WATCHDOG_USEC",
    "WATCHDOG_PID",
    "LISTEN_FDS",
    "LISTEN_PID",
];

pub fn spawn(spec: &ServerSpec) -> Result<tokio::process::Child, SpawnError> {
    let mut command = tokio::process::Command::new(&spec.binary);
    command
        .arg("-c")
        .arg(&spec.conf)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    for name in SUPERVISOR_ONLY_ENV {
        command.env_remove(name);
    }
    if let Some(limit) = spec.memory_limit {
        command.env("GOMEMLIMIT", limit.get().to_string());
    }

    // Everything the child does between fork and exec is prepared here: only syscalls remain.
    let affinity = spec.cpus.as_ref().map(to_affinity).transpose()?;
    let keep = spec
        .bind_low_ports
        .then_some(Capability::CAP_NET_BIND_SERVICE);
    let unwanted = |set: CapSet| -> Vec<Capability> {
        caps::read(None, set)
            .map(|caps| caps.into_iter().filter(|c| Some(*c) != keep).collect())
            .unwrap_or_default()
    };
    // Only capabilities actually held are dropped: under systemd the supervisor usually holds
    // none, and then the child makes no capset call at all (the unit's filter denies it).
    let ambient = unwanted(CapSet::Ambient);
    let inheritable = unwanted(CapSet::Inheritable);
    // Without CAP_SETPCAP the bounding set cannot shrink (and holds nothing usable for an
    // unprivileged user): skip it rather than fail.
    let bounding =
        if caps::has_cap(None, CapSet::Effective, Capability::CAP_SETPCAP).unwrap_or(false) {
            unwanted(CapSet::Bounding)
        } else {
            Vec::new()
        };

    let supervisor = nix::unistd::getpid();
    // SAFETY: the closure runs in the forked child before exec. It only makes syscalls
    // (prctl, sched_setaffinity, capget/capset) on data prepared before the fork; errors,
    // which allocate, only on the way to failing the spawn.
    unsafe {
        command.pre_exec(move || {
            // If the supervisor dies without stopping it, nats-server stops too; a supervisor
            // already gone before the death signal was armed would never send it.
            nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGTERM)?;
            if nix::unistd::getppid() != supervisor {
                return Err(std::io::Error::other(
                    "the supervisor exited during the start",
                ));
            }
            if let Some(affinity) = &affinity {
                nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), affinity)?;
            }
            for cap in &ambient {
                caps::drop(None, CapSet::Ambient, *cap).map_err(std::io::Error::other)?;
            }
            for cap in &inheritable {
                caps::drop(None, CapSet::Inheritable, *cap).map_err(std::io::Error::other)?;
            }
            for cap in &bounding {
                caps::drop(None, CapSet::Bounding, *cap).map_err(std::io::Error::other)?;
            }
            Ok(())
        });
    }
    command.spawn().map_err(|source| SpawnError::Spawn {
        binary: spec.binary.clone(),
        source,
    })
}
