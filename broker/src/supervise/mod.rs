//! `pier-broker run`: the supervisor. It renders the configuration, starts nats-server on its
//! cores, reports readiness and health to systemd, turns SIGHUP into a checked reload and
//! SIGTERM into lame duck mode, and re-emits nats-server's log. It is never in the message path.

pub mod child;
pub mod logs;
pub mod notify;
pub mod placement;
mod provisioner;
pub mod runtime_file;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use pier_config::{Config, ServerVersion};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::signal::unix::{signal, SignalKind};
use tokio::task::JoinHandle;

use crate::monitor::{summarize, Monitor};
use crate::render::{render, RenderError, SecretFiles};
use child::{ServerSpec, SpawnError};
use notify::Notifier;
use pier_config::load::{check, ServerChoice, VersionSource};
use placement::{Placement, PlacementError};
use runtime_file::{RuntimeDir, RuntimeFileError};

/// Beyond lame_duck_duration, how long a stop waits for nats-server before killing it.
pub const STOP_MARGIN: Duration = Duration::from_secs(10);
/// How long a reload waits for nats-server to report the new configuration loaded.
const RELOAD_WAIT: Duration = Duration::from_secs(5);
/// Health-check cadence before the first success, and when no watchdog asks for faster.
const STARTUP_PROBE: Duration = Duration::from_millis(250);
const STEADY_PROBE: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum SuperviseError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Read(#[from] pier_config::ReadError),
    #[error("cannot find or run nats-server; set node.nats_server or give --nats-server")]
    NoServer,
    #[error(transparent)]
    Placement(#[from] PlacementError),
    #[error(transparent)]
    RuntimeFile(#[from] RuntimeFileError),
    #[error(transparent)]
    Spawn(#[from] SpawnError),
    #[error("{}: {source}", path.display())]
    Render {
        path: PathBuf,
        #[source]
        source: RenderError,
    },
    #[error("cannot handle signals: {0}")]
    Signals(#[source] std::io::Error),
}

/// How supervision ended.
#[derive(Debug)]
pub enum Outcome {
    /// Stopped on request (SIGTERM/SIGINT) after lame duck mode: a clean stop.
    Stopped,
    /// nats-server exited by itself; systemd should restart the service.
    ServerDied(String),
}

/// A configuration read, validated and matched with its nats-server binary.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub config: Config,
    pub version: ServerVersion,
    pub binary: PathBuf,
}

/// Reads and validates the configuration; warnings are logged, errors refuse it.
pub fn load(path: &Path, choice: &ServerChoice) -> Result<Loaded, SuperviseError> {
    let checked = check(path, choice)?;
    for warning in checked.warnings() {
        tracing::warn!("{warning}");
    }
    if checked.has_errors() {
        let errors: Vec<String> = checked.errors().map(ToString::to_string).collect();
        return Err(SuperviseError::Invalid(format!(
            "{} is invalid: {}",
            path.display(),
            errors.join("; ")
        )));
    }
    match (checked.config, checked.version, checked.server) {
        (Some(config), Some(version), Some(binary)) => Ok(Loaded {
            config,
            version,
            binary,
        }),
        _ => Err(SuperviseError::NoServer),
    }
}

/// Everything decided before the async runtime starts (placement must come first: threads
/// inherit the affinity of the thread that starts them).
pub struct Prepared {
    pub config_path: PathBuf,
    pub choice: ServerChoice,
    pub loaded: Loaded,
    pub placement: Placement,
}

pub fn prepare(config_path: &Path, choice: ServerChoice) -> Result<Prepared, SuperviseError> {
    let loaded = load(config_path, &choice)?;
    let placement = placement::resolve_here(&loaded.config.resources.cpus)?;
    if let Some(cpus) = &placement.supervisor {
        placement::pin_current_thread(cpus)?;
    }
    Ok(Prepared {
        config_path: config_path.to_owned(),
        choice,
        loaded,
        placement,
    })
}

/// What the health task and the main loop share.
#[derive(Default)]
struct Shared {
    last_reload: Mutex<Option<String>>,
    last_provision: Mutex<Option<String>>,
    /// A reload or stop owns STATUS= meanwhile.
    paused: std::sync::atomic::AtomicBool,
    /// nats-server has answered its first health check (READY=1 was sent).
    ready: std::sync::atomic::AtomicBool,
    /// The peers routes should reach, as of the configuration nats-server runs.
    expected_peers: Mutex<Vec<String>>,
}

impl Shared {
    fn last_reload(&self) -> Option<String> {
        self.last_reload.lock().map(|g| g.clone()).unwrap_or(None)
    }

    fn set_last_reload(&self, text: String) {
        if let Ok(mut guard) = self.last_reload.lock() {
            *guard = Some(text);
        }
    }

    fn last_provision(&self) -> Option<String> {
        self.last_provision
            .lock()
            .map(|g| g.clone())
            .unwrap_or(None)
    }

    fn set_last_provision(&self, text: Option<String>) {
        if let Ok(mut guard) = self.last_provision.lock() {
            *guard = text;
        }
    }

    fn expected_peers(&self) -> Vec<String> {
        self.expected_peers
            .lock()
            .map(|g| g.clone())
            .unwrap_or_default()
    }

    fn set_expected_peers(&self, config: &Config) {
        if let Ok(mut guard) = self.expected_peers.lock() {
            *guard = config.route_peers().map(|p| p.name.clone()).collect();
        }
    }

    fn paused(&self) -> bool {
        self.paused.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn pause(&self, paused: bool) {
        self.paused
            .store(paused, std::sync::atomic::Ordering::SeqCst);
    }
}

struct Supervisor {
    prepared: Prepared,
    runtime: RuntimeDir,
    notifier: Notifier,
    monitor: Monitor,
    shared: Arc<Shared>,
    child: tokio::process::Child,
    pid: Pid,
    log_tasks: Vec<JoinHandle<()>>,
    provisioning: JoinHandle<()>,
}

pub async fn run(prepared: Prepared) -> Result<Outcome, SuperviseError> {
    let notifier = Notifier::from_env();
    let config = &prepared.loaded.config;
    let runtime = RuntimeDir::from_env()?;
    let conf = runtime.conf_path();
    let text = render(config, prepared.loaded.version, &SecretFiles).map_err(|source| {
        SuperviseError::Render {
            path: prepared.config_path.clone(),
            source,
        }
    })?;
    let staged = runtime_file::stage(runtime.path(), &text)?;
    runtime_file::check_with_server(&prepared.loaded.binary, staged.path()).await?;
    staged.commit(&conf)?;

    let mut sighup = signal(SignalKind::hangup()).map_err(SuperviseError::Signals)?;
    let mut sigterm = signal(SignalKind::terminate()).map_err(SuperviseError::Signals)?;
    let mut sigint = signal(SignalKind::interrupt()).map_err(SuperviseError::Signals)?;

    let spec = ServerSpec {
        binary: prepared.loaded.binary.clone(),
        conf: conf.clone(),
        cpus: prepared.placement.server.clone(),
        memory_limit: config.resources.memory_limit,
        bind_low_ports: [
            config.node.client_listen,
            config.node.cluster_listen,
            config.node.monitor_listen,
        ]
        .iter()
        .any(|a| a.port() < 1024),
    };
    let mut child = child::spawn(&spec)?;
    // Never 0: kill(0, ...) would signal the supervisor's own process group.
    let pid = match child.id().and_then(|id| i32::try_from(id).ok()) {
        Some(id) if id > 0 => Pid::from_raw(id),
        _ => {
            let status = child.wait().await;
            return Ok(Outcome::ServerDied(format!(
                "nats-server exited at once: {status:?}"
            )));
        }
    };
    let server = config.node.name.clone();
    let mut log_tasks = Vec::new();
    if let Some(stderr) = child.stderr.take() {
        log_tasks.push(forward_lines(stderr, server.clone()));
    }
    if let Some(stdout) = child.stdout.take() {
        log_tasks.push(forward_lines(stdout, server.clone()));
    }
    tracing::info!(
        server,
        pid = pid.as_raw(),
        "started nats-server {} ({}) with {} on {}",
        prepared.loaded.version,
        prepared.loaded.binary.display(),
        conf.display(),
        placement_text(&prepared.placement),
    );

    log_open_files_limit();

    let probe_timeout = notifier.watchdog().map_or(Duration::from_secs(2), |w| {
        (w / 3).min(Duration::from_secs(2))
    });
    let monitor = Monitor::new(config.node.monitor_listen, probe_timeout);
    let shared = Arc::new(Shared::default());
    shared.set_expected_peers(config);
    let health = tokio::spawn(watch_health(
        monitor.clone(),
        notifier.clone(),
        shared.clone(),
    ));

    let provisioning = tokio::spawn(provisioner::provision_when_ready(
        config.clone(),
        monitor.clone(),
        shared.clone(),
    ));

    let mut supervisor = Supervisor {
        prepared,
        runtime,
        notifier,
        monitor,
        shared,
        child,
        pid,
        log_tasks,
        provisioning,
    };
    let signal_name = loop {
        tokio::select! {
            status = supervisor.child.wait() => {
                health.abort();
                supervisor.drain_logs().await;
                let reason = match status {
                    Ok(status) => format!("nats-server exited on its own: {status}"),
                    Err(e) => format!("lost track of nats-server: {e}"),
                };
                tracing::error!("{reason}");
                supervisor.notifier.status(&reason);
                return Ok(Outcome::ServerDied(reason));
            }
            _ = sigterm.recv() => break "SIGTERM",
            _ = sigint.recv() => break "SIGINT",
            _ = sighup.recv() => supervisor.reload().await,
        }
    };
    health.abort();
    supervisor.provisioning.abort();
    supervisor.stop(signal_name).await;
    Ok(Outcome::Stopped)
}

impl Supervisor {
    async fn reload(&mut self) {
        // Before READY=1 nats-server may not even handle SIGHUP yet, and a READY=1 after the
        // reload would tell systemd it is up when it is not.
        if !self.shared.ready.load(std::sync::atomic::Ordering::SeqCst) {
            tracing::warn!(
                "SIGHUP ignored: nats-server is still starting; send it again once ready"
            );
            return;
        }
        self.shared.pause(true);
        self.notifier.reloading();
        tracing::info!(
            "SIGHUP received: reloading {}",
            self.prepared.config_path.display()
        );
        let result = self.try_reload().await;
        let text = match &result {
            Ok(()) => {
                tracing::info!("reload applied");
                format!("last reload ok at {}", now_text())
            }
            Err(e) => {
                tracing::error!("reload refused, nats-server keeps its configuration: {e}");
                format!("last reload FAILED at {}: {e}", now_text())
            }
        };
        self.shared.set_last_reload(text);
        self.shared.pause(false);
        // The whole status line, reload result included, not the result alone.
        let status = status_text(&self.monitor, &self.shared).await;
        self.notifier.ready(&status);
    }

    async fn try_reload(&mut self) -> Result<(), String> {
        // Judge the new file against the nats-server that runs; a newly configured binary
        // applies at the next restart.
        let running = ServerChoice {
            binary: Some(self.prepared.loaded.binary.clone()),
            version: VersionSource::Given(self.prepared.loaded.version),
        };
        let loaded = load(&self.prepared.config_path, &running).map_err(|e| e.to_string())?;
        if loaded.config.node.nats_server != self.prepared.loaded.config.node.nats_server {
            tracing::warn!("node.nats_server changed: the new binary is used at the next restart");
        }
        if loaded.config.resources != self.prepared.loaded.config.resources {
            tracing::warn!(
                "resources changed: CPU placement and GOMEMLIMIT apply at the next restart"
            );
        }
        let text = render(&loaded.config, self.prepared.loaded.version, &SecretFiles)
            .map_err(|e| format!("{}: {e}", self.prepared.config_path.display()))?;
        let conf = self.runtime.conf_path();
        let staged = runtime_file::stage(self.runtime.path(), &text).map_err(|e| e.to_string())?;
        runtime_file::check_with_server(&self.prepared.loaded.binary, staged.path())
            .await
            .map_err(|e| e.to_string())?;

        let before = self
            .config_load_time()
            .await
            .ok_or("nats-server does not answer /varz: reload postponed, send SIGHUP again")?;
        let previous =
            std::fs::read_to_string(&conf).map_err(|e| format!("{}: {e}", conf.display()))?;
        staged.commit(&conf).map_err(|e| e.to_string())?;
        if let Err(e) = kill(self.pid, Signal::SIGHUP) {
            self.restore_runtime_file(&previous);
            return Err(format!("cannot signal nats-server: {e}"));
        }

        let deadline = Instant::now() + RELOAD_WAIT;
        while Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let now = self.config_load_time().await;
            if now.is_some_and(|now| now != before) {
                self.shared.set_expected_peers(&loaded.config);
                self.prepared.loaded.config = loaded.config;
                // The declared streams may have changed with the file: reconcile them again.
                self.provisioning.abort();
                self.provisioning = tokio::spawn(provisioner::provision_when_ready(
                    self.prepared.loaded.config.clone(),
                    self.monitor.clone(),
                    self.shared.clone(),
                ));
                return Ok(());
            }
        }
        // nats-server refused (its log says why): the live file goes back to what it runs.
        self.restore_runtime_file(&previous);
        Err(format!(
            "nats-server did not load the new configuration within {}s (see its log above)",
            RELOAD_WAIT.as_secs()
        ))
    }

    /// Puts back the configuration nats-server runs, after a reload it did not take.
    fn restore_runtime_file(&self, previous: &str) {
        let restored = runtime_file::stage(self.runtime.path(), previous)
            .and_then(|s| s.commit(&self.runtime.conf_path()));
        if let Err(e) = restored {
            tracing::error!("cannot restore the previous runtime configuration: {e}");
        }
    }

    async fn config_load_time(&self) -> Option<String> {
        let monitor = self.monitor.clone();
        match tokio::task::spawn_blocking(move || monitor.varz()).await {
            Ok(Ok(varz)) => Some(varz.config_load_time),
            _ => None,
        }
    }

    async fn stop(&mut self, signal_name: &str) {
        let limits = &self.prepared.loaded.config.limits;
        let wait = limits.lame_duck_duration.get() + STOP_MARGIN;
        self.shared.pause(true);
        self.notifier
            .stopping("stopping: nats-server in lame duck mode");
        tracing::info!(
            "{signal_name} received: nats-server enters lame duck mode (waiting up to {}s)",
            wait.as_secs()
        );
        if let Err(e) = kill(self.pid, Signal::SIGUSR2) {
            tracing::warn!("cannot signal lame duck mode to nats-server: {e}");
        }
        let started = Instant::now();
        match tokio::time::timeout(wait, self.child.wait()).await {
            Ok(Ok(status)) => tracing::info!(
                "nats-server stopped after {:.1}s: {status}",
                started.elapsed().as_secs_f64()
            ),
            Ok(Err(e)) => tracing::warn!("lost track of nats-server while stopping: {e}"),
            Err(_) => {
                tracing::warn!(
                    "nats-server still running after {}s: killing it",
                    wait.as_secs()
                );
                if let Err(e) = self.child.kill().await {
                    tracing::error!("cannot kill nats-server: {e}");
                }
            }
        }
        self.drain_logs().await;
    }

    /// Lets the last lines (often the reason for an exit) reach the log.
    async fn drain_logs(&mut self) {
        for task in self.log_tasks.drain(..) {
            let _ = tokio::time::timeout(Duration::from_secs(2), task).await;
        }
    }
}

/// Probes health on a steady beat: READY=1 after the first success, WATCHDOG=1 after each.
async fn watch_health(monitor: Monitor, notifier: Notifier, shared: Arc<Shared>) {
    let steady = notifier
        .watchdog()
        .map_or(STEADY_PROBE, |w| (w / 2).min(STEADY_PROBE));
    let mut ready = false;
    let mut failing = false;
    loop {
        let probe = {
            let monitor = monitor.clone();
            tokio::task::spawn_blocking(move || monitor.local_health()).await
        };
        let healthy = match probe {
            Ok(Ok(health)) if health.is_ok() => Ok(()),
            Ok(Ok(health)) => Err(health.error.unwrap_or(health.status)),
            Ok(Err(e)) => Err(e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        match healthy {
            Ok(()) => {
                notifier.watchdog_ping();
                if failing {
                    tracing::info!("nats-server answers health checks again");
                    failing = false;
                }
                let status = status_text(&monitor, &shared).await;
                if !ready {
                    ready = true;
                    shared
                        .ready
                        .store(true, std::sync::atomic::Ordering::SeqCst);
                    tracing::info!("nats-server is ready: {status}");
                    notifier.ready(&status);
                } else if !shared.paused() {
                    notifier.status(&status);
                }
            }
            // Before the first success nats-server is starting (JetStream recovery can be long):
            // the start timeout bounds that phase, so the watchdog keeps being fed meanwhile.
            Err(_) if !ready => notifier.watchdog_ping(),
            Err(e) => {
                if !failing {
                    tracing::warn!("nats-server fails its health check: {e}");
                    failing = true;
                }
                if !shared.paused() {
                    notifier.status(&format!("nats-server not answering health checks: {e}"));
                }
            }
        }
        tokio::time::sleep(if ready { steady } else { STARTUP_PROBE }).await;
    }
}

async fn status_text(monitor: &Monitor, shared: &Shared) -> String {
    let monitor = monitor.clone();
    let expected = shared.expected_peers();
    let snapshot = tokio::task::spawn_blocking(move || monitor.snapshot(false)).await;
    let mut text = match snapshot {
        Ok(Ok(snapshot)) => summarize(&snapshot, &expected).status_line(),
        Ok(Err(e)) => format!("monitoring incomplete: {e}"),
        Err(e) => format!("monitoring incomplete: {e}"),
    };
    for extra in [shared.last_provision(), shared.last_reload()]
        .into_iter()
        .flatten()
    {
        text.push_str("; ");
        text.push_str(&extra);
    }
    text
}

fn forward_lines(
    stream: impl AsyncRead + Unpin + Send + 'static,
    server: String,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut reader = BufReader::new(stream);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match reader.read_until(b'\n', &mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => logs::emit(&server, &String::from_utf8_lossy(&buf)),
            }
        }
    })
}

/// nats-server (Go) raises its soft open-files limit to the hard one it inherits from here; a
/// host clamp (fs.nr_open, a container) below what LimitNOFILE asked for is worth seeing.
fn log_open_files_limit() {
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

fn placement_text(placement: &Placement) -> String {
    match (&placement.server, &placement.supervisor) {
        (Some(server), Some(own)) => format!("CPUs {server} (supervisor on {own})"),
        (Some(server), None) => format!("CPUs {server}"),
        (None, _) => "all CPUs".to_owned(),
    }
}

fn now_text() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}
