//! The supervisor's state, typed: what it knows of nats-server (its health, the cluster as its
//! monitoring port last showed it), of the last reload and of provisioning. The supervisor's tasks
//! publish it on one `tokio::sync::watch` channel, as ntpd-rs's daemon does for its observer;
//! STATUS= (`status_text.rs`) is a pure function of it, and whatever reports on the node (a
//! /metrics task) subscribes to the same channel instead of asking the tasks.

use std::sync::Arc;
use std::time::SystemTime;

use pier_config::Config;
use pier_monitor::NodeView;
use serde::Serialize;
use tokio::sync::watch;

use super::placement::Placement;
use crate::provision::plan::Summary;

/// One moment of the supervisor: cheap to clone, serializable for whoever shows it.
#[derive(Debug, Clone, Serialize)]
pub struct SupervisorState {
    pub phase: Phase,
    /// systemd's watchdog watches the supervisor: a failing health check then ends in a restart.
    pub watchdog: bool,
    pub placement: Placement,
    /// The peers routes should reach, as of the configuration nats-server runs.
    pub expected_peers: Vec<String>,
    pub health: ServerHealth,
    /// The cluster as nats-server's monitoring port showed it at the last look (after each
    /// passed health check and each reload).
    pub monitoring: Monitoring,
    pub last_reload: Option<LastReload>,
    /// None: nothing to tell (no streams declared, or a first look for a meta leader or a
    /// reconcile under way).
    pub provisioning: Option<Provisioning>,
}

/// What the supervisor is doing with nats-server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Started and watched (ready or not: see [`SupervisorState::ready`]).
    Running,
    /// A reload (SIGHUP) owns STATUS= until it reports.
    Reloading,
    /// Lame duck mode, on SIGTERM, SIGINT or SIGUSR2.
    Stopping,
    /// nats-server exited by itself.
    Exited { reason: String },
}

/// nats-server's answer to the local health check (`/healthz?js-enabled-only=true`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ServerHealth {
    /// No check has passed yet: nats-server is starting (JetStream recovery can be long), and a
    /// failed check is not a failure until the start timeout says so.
    Starting,
    Healthy,
    /// A check failed after the first passed; `error` is printable (escaped).
    Failing {
        error: String,
    },
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Monitoring {
    NotYet,
    Seen(Box<NodeView>),
    /// The last look did not get every answer (why, printable).
    Incomplete {
        error: String,
    },
}

/// The outcome of the last reload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LastReload {
    pub at: SystemTime,
    /// None: applied; else why nats-server keeps its configuration.
    pub error: Option<String>,
}

/// The outcome of the supervisor's provisioning for the configuration nats-server runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Provisioning {
    /// The cluster has no JetStream meta leader yet.
    WaitingForLeader,
    Provisioned(Summary),
    /// Drift that loses data or cannot be made in place: nothing applied.
    Refused(Summary),
    /// Declared streams that are gone, or whose last sequence went back, against this node's
    /// record: `NAME (what it held; what is left)` each.
    Lost {
        streams: Vec<String>,
    },
    Failed {
        error: String,
    },
}

impl SupervisorState {
    pub fn new(config: &Config, placement: Placement, watchdog: bool) -> Self {
        SupervisorState {
            phase: Phase::Running,
            watchdog,
            placement,
            expected_peers: expected_peers(config),
            health: ServerHealth::Starting,
            monitoring: Monitoring::NotYet,
            last_reload: None,
            provisioning: None,
        }
    }

    /// nats-server has passed its first health check (READY=1 was sent).
    pub fn ready(&self) -> bool {
        self.health != ServerHealth::Starting
    }

    /// A reload or a stop owns STATUS= meanwhile; an exit has said its last word.
    pub fn paused(&self) -> bool {
        self.phase != Phase::Running
    }
}

/// The peers this node's routes should reach under `config`.
pub fn expected_peers(config: &Config) -> Vec<String> {
    config.route_peers().map(|p| p.name.clone()).collect()
}

/// The sending side of the state channel, shared by the supervisor's tasks.
#[derive(Clone)]
pub struct StatePublisher(Arc<watch::Sender<SupervisorState>>);

impl StatePublisher {
    pub fn new(initial: SupervisorState) -> Self {
        StatePublisher(Arc::new(watch::channel(initial).0))
    }

    /// A receiver of the latest state, woken at each change (a slow one skips to the newest).
    pub fn subscribe(&self) -> watch::Receiver<SupervisorState> {
        self.0.subscribe()
    }

    /// Changes the state and tells every receiver. A task that reads before it changes (was the
    /// check already failing?) is the only writer of what it reads, so no other can slip in
    /// between.
    pub fn update(&self, change: impl FnOnce(&mut SupervisorState)) {
        self.0.send_modify(change);
    }

    /// Reads the current state (the channel's lock is held only while `read` runs: no await).
    pub fn read<R>(&self, read: impl FnOnce(&SupervisorState) -> R) -> R {
        read(&self.0.borrow())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> SupervisorState {
        let config = pier_config::Source::from_text("pier.toml", "[node]\nname = \"n1\"\n")
            .parse()
            .unwrap();
        let placement = Placement {
            server: None,
            supervisor: None,
        };
        SupervisorState::new(&config, placement, false)
    }

    #[test]
    fn ready_from_the_first_passed_check_on_even_when_a_later_one_fails() {
        let mut state = state();
        assert!(!state.ready());
        state.health = ServerHealth::Healthy;
        assert!(state.ready());
        state.health = ServerHealth::Failing {
            error: "down".into(),
        };
        assert!(state.ready());
    }

    #[test]
    fn a_subscriber_sees_each_change() {
        let publisher = StatePublisher::new(state());
        let mut receiver = publisher.subscribe();
        assert!(!receiver.has_changed().unwrap());
        publisher.update(|s| s.phase = Phase::Reloading);
        assert!(receiver.has_changed().unwrap());
        let seen = receiver.borrow_and_update().clone();
        assert!(seen.paused());
        assert_eq!(
            serde_json::to_value(&seen).unwrap()["phase"],
            serde_json::json!("reloading")
        );
        publisher.update(|s| s.phase = Phase::Running);
        assert!(!publisher.read(SupervisorState::paused));
    }
}
