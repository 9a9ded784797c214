//! A demo node: `pier-broker run` started as a child, exactly as systemd would start it.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use pier_monitor::Monitor;

use super::layout::DemoNode;

/// How long a node may take to answer its health check.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// Lame duck duration plus the supervisor's margin: the longest a clean stop takes.
const STOP_TIMEOUT: Duration = Duration::from_secs(45);

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("cannot start pier-broker run for {node}: {source}")]
    Spawn {
        node: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{node} exited before it was ready ({status}); its log: {log}")]
    Exited {
        node: String,
        status: String,
        log: String,
    },
    #[error("{node} not ready after {}s; its log: {log}", READY_TIMEOUT.as_secs())]
    NotReady { node: String, log: String },
}

pub struct NodeProcess {
    pub node: DemoNode,
    child: Child,
    log: PathBuf,
}

impl NodeProcess {
    /// Starts `<pier_broker> run --config <node>` with its output in `<dir>/<node>.log`.
    pub fn start(pier_broker: &Path, node: &DemoNode, dir: &Path) -> Result<Self, NodeError> {
        let spawn_error = |source| NodeError::Spawn {
            node: node.name.clone(),
            source,
        };
        let log = dir.join(format!("{}.log", node.name));
        let out = File::create(&log).map_err(spawn_error)?;
        let err = out.try_clone().map_err(spawn_error)?;
        let child = Command::new(pier_broker)
            .arg("run")
            .arg("--config")
            .arg(&node.config)
            // The demo is not a systemd service, even when started from one.
            .env_remove("NOTIFY_SOCKET")
            .env_remove("WATCHDOG_USEC")
            .env_remove("WATCHDOG_PID")
            .env_remove("JOURNAL_STREAM")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(spawn_error)?;
        Ok(NodeProcess {
            node: node.clone(),
            child,
            log,
        })
    }

    /// Waits until the node's nats-server answers its health check.
    pub fn wait_ready(&mut self) -> Result<(), NodeError> {
        let monitor = Monitor::new(self.node.monitor, Duration::from_secs(1));
        let deadline = Instant::now() + READY_TIMEOUT;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(NodeError::Exited {
                    node: self.node.name.clone(),
                    status: status.to_string(),
                    log: self.log_tail(),
                });
            }
            if monitor.local_health().is_ok_and(|h| h.is_ok()) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(NodeError::NotReady {
            node: self.node.name.clone(),
            log: self.log_tail(),
        })
    }

    pub fn monitor(&self) -> Monitor {
        Monitor::new(self.node.monitor, Duration::from_secs(2))
    }

    /// SIGTERM (lame duck), then waits for the supervisor; true when it stopped cleanly.
    pub fn stop(mut self) -> bool {
        self.terminate()
    }

    fn terminate(&mut self) -> bool {
        if let Ok(Some(status)) = self.child.try_wait() {
            return status.success();
        }
        if let Ok(pid) = i32::try_from(self.child.id()) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
        }
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        false
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

impl Drop for NodeProcess {
    /// A demo that fails half-way still leaves no server behind.
    fn drop(&mut self) {
        self.terminate();
    }
}
