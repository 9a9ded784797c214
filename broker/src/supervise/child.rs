//! nats-server's process. Started already on its cores (so Go sizes GOMAXPROCS from them),
//! stripped of capabilities, with GOMEMLIMIT, in its own process group (a terminal's Ctrl-C
//! reaches only the supervisor, which then drives the shutdown); stopped in lame duck mode.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use caps::{CapSet, Capability};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use pier_config::units::Bytes;
use pier_config::CpuSet;
use tokio::task::JoinHandle;

use super::last_words::LastWords;
use super::load::Loaded;
use super::logs;
use super::placement::{to_affinity, Placement, PlacementError};

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

impl ServerSpec {
    /// nats-server for `loaded`'s configuration, rendered at `conf`, on `placement`'s cores.
    pub fn new(loaded: &Loaded, conf: &Path, placement: &Placement) -> Self {
        let node = &loaded.config.node;
        ServerSpec {
            binary: loaded.binary.clone(),
            conf: conf.to_owned(),
            cpus: placement.server.clone(),
            memory_limit: loaded.config.resources.memory_limit,
            bind_low_ports: [node.client_listen, node.cluster_listen, node.monitor_listen]
                .iter()
                .any(|a| a.port() < 1024),
        }
    }
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

/// Beyond lame_duck_duration, how long a stop waits for nats-server before killing it.
pub const STOP_MARGIN: Duration = Duration::from_secs(10);

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

/// nats-server (Go) raises its soft open-files limit to the hard one it inherits from here; a
/// host clamp (fs.nr_open, a container) below what LimitNOFILE asked for is worth seeing.
pub fn log_open_files_limit() {
    /// Streams × 2 plus connections for a busy node; below it the journal says so.
    const ADVISED: u64 = 65_536;
    match nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE) {
        Ok((_, hard)) if hard < ADVISED => tracing::warn!(
            "nats-server may open at most {hard} files (hard limit); raise LimitNOFILE or fs.nr_open to {ADVISED} or more"
        ),
        Ok((_, hard)) => tracing::info!("nats-server may open up to {hard} files"),
        Err(e) => tracing::warn!("cannot read the open-files limit: {e}"),
    }
}

/// A nats-server the supervisor started: its process, its pid and the tasks re-emitting its
/// output.
pub struct Server {
    pub process: tokio::process::Child,
    /// Never 0: kill(0, ...) would signal the supervisor's own process group.
    pub pid: Pid,
    log_tasks: Vec<JoinHandle<LastWords>>,
}

/// What a start gave.
pub enum Started {
    Running(Server),
    /// It exited before it had a pid: why supervision ended.
    ExitedAtOnce(String),
}

/// Starts nats-server as `spec` says, its output re-emitted under `server`'s name.
pub async fn start(spec: &ServerSpec, server: &str) -> Result<Started, SpawnError> {
    let mut process = spawn(spec)?;
    let pid = match process.id().and_then(|id| i32::try_from(id).ok()) {
        Some(id) if id > 0 => Pid::from_raw(id),
        _ => {
            let status = process.wait().await;
            return Ok(Started::ExitedAtOnce(format!(
                "nats-server exited at once: {status:?}"
            )));
        }
    };
    let log_tasks = logs::forward_output(&mut process, server);
    Ok(Started::Running(Server {
        process,
        pid,
        log_tasks,
    }))
}

impl Server {
    /// SIGUSR1 asks nats-server to reopen its log file. `systemctl kill -s USR1` reaches it too;
    /// a second reopen is harmless.
    pub fn forward_log_reopen(&self) {
        tracing::info!("SIGUSR1 received: forwarded to nats-server (log file reopen)");
        if let Err(e) = kill(self.pid, Signal::SIGUSR1) {
            tracing::warn!("cannot forward SIGUSR1 to nats-server: {e}");
        }
    }

    /// Lame duck mode (SIGUSR2), then a kill if nats-server is still running after
    /// `lame_duck` and [`STOP_MARGIN`].
    pub async fn stop(&mut self, signal_name: &str, lame_duck: Duration) {
        let wait = lame_duck.saturating_add(STOP_MARGIN);
        tracing::info!(
            "{signal_name} received: nats-server enters lame duck mode (waiting up to {}s)",
            wait.as_secs()
        );
        if let Err(e) = kill(self.pid, Signal::SIGUSR2) {
            tracing::warn!("cannot signal lame duck mode to nats-server: {e}");
        }
        let started = Instant::now();
        let waited = tokio::time::timeout(wait, self.process.wait()).await;
        let took = started.elapsed();
        if waited.is_err() {
            tracing::warn!(
                "nats-server still running after {}s: killing it",
                wait.as_secs()
            );
            if let Err(e) = self.process.kill().await {
                tracing::error!("cannot kill nats-server: {e}");
            }
        }
        // nats-server's own last lines (the clients it closed) come before the word that it
        // stopped, however far the forwarding lags behind.
        self.drain_logs().await;
        match waited {
            Ok(Ok(status)) => tracing::info!(
                "nats-server stopped after {:.1}s: {status}",
                took.as_secs_f64()
            ),
            Ok(Err(e)) => tracing::warn!("lost track of nats-server while stopping: {e}"),
            Err(_) => {}
        }
    }

    /// Lets the last lines (often the reason for an exit) reach the log; returns what they said
    /// about the store.
    pub async fn drain_logs(&mut self) -> LastWords {
        let mut words = LastWords::default();
        for task in self.log_tasks.drain(..) {
            if let Ok(Ok(said)) = tokio::time::timeout(Duration::from_secs(2), task).await {
                words.merge(said);
            }
        }
        words
    }
}
