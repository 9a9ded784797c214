//! `pier-broker run`: the supervisor. It renders the configuration, starts nats-server on its
//! cores, reports readiness and health to systemd, turns SIGHUP into a checked reload and
//! SIGTERM into lame duck mode, and re-emits nats-server's log. It is never in the message path.

pub mod child;
pub mod logs;
pub mod notify;
pub mod placement;
mod provisioner;
mod reload;
pub mod runtime_file;

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::future::OptionFuture;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use pier_config::{Config, ServerVersion};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::signal::unix::{signal, SignalKind};
use tokio::task::JoinHandle;

use crate::render::{render, RenderError, SecretFiles};
use child::{ServerSpec, SpawnError};
use notify::Notifier;
use pier_config::load::{check, ServerChoice};
use pier_monitor::{printable, summarize, Monitor};
use placement::{Placement, PlacementError};
use reload::Reload;
use runtime_file::{RuntimeDir, RuntimeFileError};

/// Beyond lame_duck_duration, how long a stop waits for nats-server before killing it.
pub const STOP_MARGIN: Duration = Duration::from_secs(10);
/// Health-check cadence before the first success, and when no watchdog asks for faster.
const STARTUP_PROBE: Duration = Duration::from_millis(250);
const STEADY_PROBE: Duration = Duration::from_secs(5);
/// However short a watchdog timeout systemd passes (WATCHDOG_USEC=1), probes neither spin nor
/// time out before a request can be answered.
const MIN_BEAT: Duration = Duration::from_millis(50);

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
    /// A reload's blocking read of pier.toml is under way (see [`Reload::reading`]).
    reading: Arc<AtomicBool>,
}

pub async fn run(prepared: Prepared) -> Result<Outcome, SuperviseError> {
    let notifier = Notifier::from_env();
    let config = &prepared.loaded.config;
    let runtime = RuntimeDir::from_env(&config.node.name)?;
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
    // USR1 and USR2 would kill the supervisor by default, and nats-server with it (its parent
    // death signal) without lame duck mode. `systemctl kill -s USR2` reaches both processes.
    let mut sigusr1 = signal(SignalKind::user_defined1()).map_err(SuperviseError::Signals)?;
    let mut sigusr2 = signal(SignalKind::user_defined2()).map_err(SuperviseError::Signals)?;

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
        (w / 3).clamp(MIN_BEAT, Duration::from_secs(2))
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
        reading: Arc::new(AtomicBool::new(false)),
    };
    let mut reloading: Option<JoinHandle<Option<Config>>> = None;
    // A SIGHUP during a reload is served once that reload is done: the file may have changed
    // again after it was read.
    let mut reload_again = false;
    let signal_name = loop {
        tokio::select! {
            status = supervisor.child.wait() => {
                health.abort();
                // A reload still running would signal a pid that may be reused by now, rewrite
                // the runtime file and tell systemd READY=1 after this exit.
                if let Some(reload) = reloading.take() {
                    reload.abort();
                }
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
            // nats-server reads USR2 as "lame duck mode, then exit", and `systemctl kill -s
            // USR2` delivers it there too: nats-server stops either way. Ignoring it here would
            // report that exit as a crash and have systemd restart the node; as a stop, the
            // supervisor drives the same lame duck and exits cleanly.
            _ = sigusr2.recv() => break "SIGUSR2",
            _ = sigusr1.recv() => supervisor.forward_log_reopen(),
            _ = sighup.recv() => {
                if reloading.is_some() {
                    tracing::info!("SIGHUP received during a reload: reloading again after it");
                    reload_again = true;
                } else {
                    reloading = supervisor.start_reload();
                }
            }
            Some(done) = OptionFuture::from(reloading.as_mut()) => {
                reloading = None;
                match done {
                    Ok(Some(config)) => supervisor.reloaded(config),
                    Ok(None) => {}
                    Err(e) => tracing::error!("reload task failed: {e}"),
                }
                if std::mem::take(&mut reload_again) {
                    reloading = supervisor.start_reload();
                }
            }
        }
    };
    // A stop does not wait for a reload: whatever it did, nats-server is stopping.
    if let Some(reload) = reloading {
        reload.abort();
    }
    health.abort();
    supervisor.provisioning.abort();
    supervisor.stop(signal_name).await;
    Ok(Outcome::Stopped)
}

impl Supervisor {
    /// Starts a reload task, unless nats-server is still starting.
    fn start_reload(&self) -> Option<JoinHandle<Option<Config>>> {
        // Before READY=1 nats-server may not even handle SIGHUP yet, and a READY=1 after the
        // reload would tell systemd it is up when it is not.
        if !self.shared.ready.load(std::sync::atomic::Ordering::SeqCst) {
            tracing::warn!(
                "SIGHUP ignored: nats-server is still starting; send it again once ready"
            );
            return None;
        }
        let reload = Reload {
            config_path: self.prepared.config_path.clone(),
            running: self.prepared.loaded.clone(),
            runtime_dir: self.runtime.path().to_owned(),
            monitor: self.monitor.clone(),
            pid: self.pid,
            notifier: self.notifier.clone(),
            shared: self.shared.clone(),
            reading: self.reading.clone(),
        };
        Some(tokio::spawn(reload.run()))
    }

    /// Adopts the configuration a reload applied.
    fn reloaded(&mut self, config: Config) {
        self.prepared.loaded.config = config;
        // The declared streams may have changed with the file: reconcile them again.
        self.provisioning.abort();
        self.provisioning = tokio::spawn(provisioner::provision_when_ready(
            self.prepared.loaded.config.clone(),
            self.monitor.clone(),
            self.shared.clone(),
        ));
    }

    /// SIGUSR1 asks nats-server to reopen its log file. `systemctl kill -s USR1` reaches it too;
    /// a second reopen is harmless.
    fn forward_log_reopen(&self) {
        tracing::info!("SIGUSR1 received: forwarded to nats-server (log file reopen)");
        if let Err(e) = kill(self.pid, Signal::SIGUSR1) {
            tracing::warn!("cannot forward SIGUSR1 to nats-server: {e}");
        }
    }

    async fn stop(&mut self, signal_name: &str) {
        let limits = &self.prepared.loaded.config.limits;
        let wait = limits.lame_duck_duration.get().saturating_add(STOP_MARGIN);
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
        .map_or(STEADY_PROBE, |w| (w / 2).clamp(MIN_BEAT, STEADY_PROBE));
    let mut ready = false;
    let mut failing = false;
    // A beat, not a sleep after each probe: the time a probe and its status line take does not
    // push the next watchdog ping later.
    let mut beat = tokio::time::interval(STARTUP_PROBE);
    beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        beat.tick().await;
        let probe = {
            let monitor = monitor.clone();
            tokio::task::spawn_blocking(move || monitor.local_health()).await
        };
        let healthy = match probe {
            Ok(Ok(health)) if health.is_ok() => Ok(()),
            // Logged and put in STATUS=: whatever the port sent, escaped.
            Ok(Ok(health)) => Err(printable(&health.error.unwrap_or(health.status)).into_owned()),
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
                    beat = tokio::time::interval(steady);
                    // The first tick one period from now, not at once.
                    beat.reset();
                    beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
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
                    // "Fails", not "not answering": a full store answers, with JetStream disabled.
                    let then = match notifier.watchdog() {
                        Some(_) => " (the watchdog restarts it unless it recovers)",
                        None => "",
                    };
                    notifier.status(&format!("nats-server fails its health check{then}: {e}"));
                }
            }
        }
    }
}

/// The STATUS= line, within one request's timeout whatever the monitoring port does (its
/// snapshot makes four requests).
async fn status_text(monitor: &Monitor, shared: &Shared) -> String {
    let limit = monitor.timeout();
    let monitor = monitor.clone();
    let expected = shared.expected_peers();
    let snapshot = tokio::time::timeout(
        limit,
        tokio::task::spawn_blocking(move || monitor.snapshot(false)),
    )
    .await;
    let mut text = match snapshot {
        Ok(Ok(Ok(snapshot))) => summarize(&snapshot, &expected).status_line(),
        Ok(Ok(Err(e))) => format!("monitoring incomplete: {e}"),
        Ok(Err(e)) => format!("monitoring incomplete: {e}"),
        Err(_) => format!("monitoring incomplete: no answer within {limit:?}"),
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
