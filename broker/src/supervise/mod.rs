//! `pier-broker run`: the supervisor. It renders the configuration, starts nats-server on its
//! cores, reports readiness and health to systemd, turns SIGHUP into a checked reload and
//! SIGTERM into lame duck mode, and re-emits nats-server's log. It is never in the message path.
//! This file holds the loop; what the loop's tasks know is one typed state (`state.rs`) on a
//! watch channel, and STATUS= is drawn from it (`status_text.rs`).

pub mod child;
mod health;
mod last_words;
mod load;
pub mod logs;
pub mod notify;
pub mod placement;
mod provisioner;
mod reload;
pub mod runtime_file;
pub mod state;
pub mod status_text;

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use futures::future::OptionFuture;
use pier_config::Config;
use pier_monitor::Monitor;
use tokio::signal::unix::{signal, SignalKind};
use tokio::task::JoinHandle;

use crate::render::{render, RenderError, SecretFiles};
use child::{Server, ServerSpec, SpawnError, Started};
pub use load::{load, prepare, Loaded, Prepared};
use notify::Notifier;
use placement::PlacementError;
use reload::Reload;
use runtime_file::{RuntimeDir, RuntimeFileError};
use state::{Phase, StatePublisher, SupervisorState};
use status_text::{placement_text, status_line};

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
pub enum Ended {
    /// Stopped on request (SIGTERM/SIGINT) after lame duck mode: a clean stop.
    Stopped,
    /// nats-server exited by itself; systemd should restart the service.
    ServerDied(String),
}

struct Supervisor {
    prepared: Prepared,
    runtime: RuntimeDir,
    notifier: Notifier,
    monitor: Monitor,
    state: StatePublisher,
    server: Server,
    provisioning: JoinHandle<()>,
    /// A reload's blocking read of pier.toml is under way (see [`Reload::reading`]).
    reading: Arc<AtomicBool>,
}

pub async fn run(prepared: Prepared) -> Result<Ended, SuperviseError> {
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

    let spec = ServerSpec::new(&prepared.loaded, &conf, &prepared.placement);
    let name = config.node.name.as_str();
    let server = match child::start(&spec, name).await? {
        Started::Running(server) => server,
        Started::ExitedAtOnce(reason) => return Ok(Ended::ServerDied(reason)),
    };
    tracing::info!(
        server = name,
        pid = server.pid.as_raw(),
        "started nats-server {} ({}) with {} on {}",
        prepared.loaded.version,
        prepared.loaded.binary.display(),
        conf.display(),
        placement_text(&prepared.placement),
    );

    child::log_open_files_limit();

    let monitor = Monitor::new(config.node.monitor_listen, health::probe_timeout(&notifier));
    let state = StatePublisher::new(SupervisorState::new(
        config,
        prepared.placement.clone(),
        notifier.watchdog().is_some(),
    ));
    let health = tokio::spawn(health::watch_health(
        monitor.clone(),
        notifier.clone(),
        state.clone(),
    ));

    let provisioning = tokio::spawn(provisioner::provision_when_ready(
        config.clone(),
        monitor.clone(),
        state.clone(),
    ));

    let mut supervisor = Supervisor {
        prepared,
        runtime,
        notifier,
        monitor,
        state,
        server,
        provisioning,
        reading: Arc::new(AtomicBool::new(false)),
    };
    let mut reloading: Option<JoinHandle<Option<Config>>> = None;
    // A SIGHUP during a reload is served once that reload is done: the file may have changed
    // again after it was read.
    let mut reload_again = false;
    let signal_name = loop {
        tokio::select! {
            status = supervisor.server.process.wait() => {
                health.abort();
                // A reload still running would signal a pid that may be reused by now, rewrite
                // the runtime file and tell systemd READY=1 after this exit.
                if let Some(reload) = reloading.take() {
                    reload.abort();
                }
                let words = supervisor.server.drain_logs().await;
                let mut reason = match status {
                    Ok(status) => format!("nats-server exited on its own: {status}"),
                    Err(e) => format!("lost track of nats-server: {e}"),
                };
                if let Some(why) = words.explain() {
                    reason = format!("{reason}; {why}");
                }
                tracing::error!("{reason}");
                supervisor.state.update(|s| s.phase = Phase::Exited { reason: reason.clone() });
                supervisor.notifier.status(&supervisor.state.read(status_line));
                return Ok(Ended::ServerDied(reason));
            }
            _ = sigterm.recv() => break "SIGTERM",
            _ = sigint.recv() => break "SIGINT",
            // nats-server reads USR2 as "lame duck mode, then exit", and `systemctl kill -s
            // USR2` delivers it there too: nats-server stops either way. Ignoring it here would
            // report that exit as a crash and have systemd restart the node; as a stop, the
            // supervisor drives the same lame duck and exits cleanly.
            _ = sigusr2.recv() => break "SIGUSR2",
            _ = sigusr1.recv() => supervisor.server.forward_log_reopen(),
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
    Ok(Ended::Stopped)
}

impl Supervisor {
    /// Starts a reload task, unless nats-server is still starting.
    fn start_reload(&self) -> Option<JoinHandle<Option<Config>>> {
        // Before READY=1 nats-server may not even handle SIGHUP yet, and a READY=1 after the
        // reload would tell systemd it is up when it is not.
        if !self.state.read(SupervisorState::ready) {
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
            pid: self.server.pid,
            notifier: self.notifier.clone(),
            state: self.state.clone(),
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
            self.state.clone(),
        ));
    }

    async fn stop(&mut self, signal_name: &str) {
        self.state.update(|s| s.phase = Phase::Stopping);
        self.notifier.stopping(&self.state.read(status_line));
        let lame_duck = self.prepared.loaded.config.limits.lame_duck_duration.get();
        self.server.stop(signal_name, lame_duck).await;
    }
}
