//! A reload (SIGHUP) runs as a task of its own: reading pier.toml (a FIFO, a hung mount),
//! validating, rendering (secret files) and `nats-server -t` may all be slow, and none of it may
//! delay SIGTERM or a watchdog ping. The blocking part runs on tokio's blocking pool under a time
//! limit; the supervisor's loop only learns the outcome.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use pier_config::changes::{self, Apply, KeyChange};
use pier_config::Config;
use tokio::time::Instant;

use super::health::look_at_cluster;
use super::notify::Notifier;
use super::runtime_file::{self, CONF_NAME};
use super::state::{expected_peers, LastReload, Phase, StatePublisher};
use super::status_text::summary_line;
use super::{load, Loaded};
use crate::render::{render, SecretFiles};
use pier_config::load::{ServerChoice, VersionSource};
use pier_monitor::Monitor;

/// How long reading, validating and rendering pier.toml may take.
const PREPARE_WAIT: Duration = Duration::from_secs(15);
/// How long a reload waits for nats-server to report the new configuration loaded.
const RELOAD_WAIT: Duration = Duration::from_secs(5);

/// What one reload needs from the supervisor.
pub(super) struct Reload {
    pub config_path: PathBuf,
    /// The configuration and binary nats-server runs now.
    pub running: Loaded,
    pub runtime_dir: PathBuf,
    pub monitor: Monitor,
    pub pid: Pid,
    pub notifier: Notifier,
    pub state: StatePublisher,
    /// Set while a blocking read of pier.toml runs: one stuck read (a FIFO) must not be joined
    /// by another at every SIGHUP until the blocking pool is full.
    pub reading: Arc<AtomicBool>,
}

impl Reload {
    /// Applies pier.toml and reports the result (RELOADING=1, then READY=1 with STATUS=);
    /// returns the configuration nats-server now runs when it changed.
    pub(super) async fn run(self) -> Option<Config> {
        self.state.update(|s| s.phase = Phase::Reloading);
        self.notifier.reloading();
        tracing::info!("SIGHUP received: reloading {}", self.config_path.display());
        let (error, applied) = match self.apply().await {
            Ok(config) => {
                tracing::info!("reload applied");
                (None, Some(config))
            }
            Err(e) => {
                tracing::error!("reload refused, nats-server keeps its configuration: {e}");
                (Some(e), None)
            }
        };
        let at = SystemTime::now();
        self.state.update(|s| {
            s.last_reload = Some(LastReload { at, error });
            // A stop that came meanwhile keeps STATUS=.
            if s.phase == Phase::Reloading {
                s.phase = Phase::Running;
            }
        });
        // The whole status line, reload result included, not the result alone.
        look_at_cluster(&self.monitor, &self.state).await;
        self.notifier.ready(&self.state.read(summary_line));
        applied
    }

    async fn apply(&self) -> Result<Config, String> {
        let (loaded, text) = self.prepare().await?;
        refuse_restart_changes(&self.running.config, &loaded.config)?;
        let conf = self.runtime_dir.join(CONF_NAME);
        let staged = runtime_file::stage(&self.runtime_dir, &text).map_err(|e| e.to_string())?;
        runtime_file::check_with_server(&self.running.binary, staged.path())
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

        let started = Instant::now();
        while started.elapsed() < RELOAD_WAIT {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let now = self.config_load_time().await;
            if now.is_some_and(|now| now != before) {
                let peers = expected_peers(&loaded.config);
                self.state.update(|s| s.expected_peers = peers);
                return Ok(loaded.config);
            }
        }
        // nats-server refused (its log says why): the live file goes back to what it runs.
        self.restore_runtime_file(&previous);
        Err(format!(
            "nats-server did not load the new configuration within {}s: it cannot reload a changed node.name, listener or cluster.name (its log says which); a restart applies those: `systemctl restart pier-broker`",
            RELOAD_WAIT.as_secs()
        ))
    }

    /// Reads, validates and renders pier.toml on the blocking pool, within [`PREPARE_WAIT`].
    async fn prepare(&self) -> Result<(Loaded, String), String> {
        if self.reading.swap(true, Ordering::SeqCst) {
            return Err(format!(
                "an earlier reload is still reading {}: is it a FIFO or on a hung mount?",
                self.config_path.display()
            ));
        }
        // Judge the new file against the nats-server that runs; a newly configured binary
        // applies at the next restart.
        let running = ServerChoice {
            binary: Some(self.running.binary.clone()),
            version: VersionSource::Given(self.running.version),
        };
        let path = self.config_path.clone();
        let reading = self.reading.clone();
        let work = tokio::task::spawn_blocking(move || {
            let result = load(&path, &running)
                .map_err(|e| e.to_string())
                .and_then(|loaded| {
                    let text = render(&loaded.config, loaded.version, &SecretFiles)
                        .map_err(|e| format!("{}: {e}", path.display()))?;
                    Ok((loaded, text))
                });
            reading.store(false, Ordering::SeqCst);
            result
        });
        match tokio::time::timeout(PREPARE_WAIT, work).await {
            Ok(Ok(result)) => result,
            Ok(Err(e)) => Err(format!(
                "reading {} failed: {e}",
                self.config_path.display()
            )),
            Err(_) => Err(format!(
                "reading and rendering {} did not finish within {}s",
                self.config_path.display(),
                PREPARE_WAIT.as_secs()
            )),
        }
    }

    /// Puts back the configuration nats-server runs, after a reload it did not take.
    fn restore_runtime_file(&self, previous: &str) {
        let restored = runtime_file::stage(&self.runtime_dir, previous)
            .and_then(|s| s.commit(&self.runtime_dir.join(CONF_NAME)));
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
}

/// A reload applies only what nats-server (or pier after it) takes on a reload; a change that
/// needs a restart refuses the whole reload, before nats-server sees anything, with the answer
/// `pier-broker diff` gives.
fn refuse_restart_changes(running: &Config, new: &Config) -> Result<(), String> {
    let restart: Vec<KeyChange> = changes::changes(running, new)
        .into_iter()
        .filter(|c| c.apply == Apply::Restart)
        .collect();
    let Some(first) = restart.first() else {
        return Ok(());
    };
    let keys: Vec<&str> = restart.iter().map(|c| c.key.as_str()).collect();
    Err(format!(
        "the new configuration did not load: {} changed, which a reload cannot apply ({}); nothing was applied, and `systemctl restart pier-broker` applies it (`pier-broker diff --from OLD --to NEW` lists every change)",
        keys.join(", "),
        first.why
    ))
}
