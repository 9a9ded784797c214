//! Watching nats-server: the health check on a steady beat (READY=1 after the first pass,
//! WATCHDOG=1 after each), and the look at the cluster that STATUS= reports. Both publish what
//! they see in the supervisor's state.

use std::time::Duration;

use pier_monitor::{printable, summarize, Monitor};

use super::notify::Notifier;
use super::state::{Monitoring, ServerHealth, StatePublisher};
use super::status_text::status_line;

/// Health-check cadence before the first success, and when no watchdog asks for faster.
const STARTUP_PROBE: Duration = Duration::from_millis(250);
const STEADY_PROBE: Duration = Duration::from_secs(5);
/// However short a watchdog timeout systemd passes (WATCHDOG_USEC=1), probes neither spin nor
/// time out before a request can be answered.
const MIN_BEAT: Duration = Duration::from_millis(50);

/// How long one monitoring request may take: within the watchdog's timeout, so that a hung port
/// is noticed before systemd gives up.
pub fn probe_timeout(notifier: &Notifier) -> Duration {
    notifier.watchdog().map_or(Duration::from_secs(2), |w| {
        (w / 3).clamp(MIN_BEAT, Duration::from_secs(2))
    })
}

/// Probes health on a steady beat: READY=1 after the first success, WATCHDOG=1 after each.
pub async fn watch_health(monitor: Monitor, notifier: Notifier, state: StatePublisher) {
    let steady = notifier
        .watchdog()
        .map_or(STEADY_PROBE, |w| (w / 2).clamp(MIN_BEAT, STEADY_PROBE));
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
        // This task is the only writer of `health`: what it read is still so when it writes.
        let before = state.read(|s| s.health.clone());
        match healthy {
            Ok(()) => {
                notifier.watchdog_ping();
                if matches!(before, ServerHealth::Failing { .. }) {
                    tracing::info!("nats-server answers health checks again");
                }
                look_at_cluster(&monitor, &state).await;
                state.update(|s| s.health = ServerHealth::Healthy);
                let (status, paused) = state.read(|s| (status_line(s), s.paused()));
                if before == ServerHealth::Starting {
                    tracing::info!("nats-server is ready: {status}");
                    notifier.ready(&status);
                    beat = tokio::time::interval(steady);
                    // The first tick one period from now, not at once.
                    beat.reset();
                    beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                } else if !paused {
                    notifier.status(&status);
                }
            }
            // Before the first success nats-server is starting (JetStream recovery can be long):
            // the start timeout bounds that phase, so the watchdog keeps being fed meanwhile.
            Err(_) if before == ServerHealth::Starting => notifier.watchdog_ping(),
            Err(error) => {
                if before == ServerHealth::Healthy {
                    tracing::warn!("nats-server fails its health check: {error}");
                }
                state.update(|s| s.health = ServerHealth::Failing { error });
                let (status, paused) = state.read(|s| (status_line(s), s.paused()));
                if !paused {
                    notifier.status(&status);
                }
            }
        }
    }
}

/// Reads the cluster from the monitoring port into the state, within one request's timeout
/// whatever the port does (its snapshot makes four requests).
pub async fn look_at_cluster(monitor: &Monitor, state: &StatePublisher) {
    let limit = monitor.timeout();
    let monitor = monitor.clone();
    let expected = state.read(|s| s.expected_peers.clone());
    let snapshot = tokio::time::timeout(
        limit,
        tokio::task::spawn_blocking(move || monitor.snapshot(false)),
    )
    .await;
    let monitoring = match snapshot {
        Ok(Ok(Ok(snapshot))) => Monitoring::Seen(Box::new(summarize(&snapshot, &expected))),
        Ok(Ok(Err(e))) => Monitoring::Incomplete {
            error: e.to_string(),
        },
        Ok(Err(e)) => Monitoring::Incomplete {
            error: e.to_string(),
        },
        Err(_) => Monitoring::Incomplete {
            error: format!("no answer within {limit:?}"),
        },
    };
    state.update(|s| s.monitoring = monitoring);
}
