//! The supervisor's words for systemd (`STATUS=`) and its start log: pure functions of the typed
//! state (`state.rs`), so every line is tested here without a server. The notifier escapes and
//! caps whatever they return.

use pier_monitor::NodeView;

use super::placement::Placement;
use super::state::{LastReload, Monitoring, Phase, Provisioning, ServerHealth, SupervisorState};

/// The STATUS= line for `state`: the stop or the exit when there is one, a failing health check,
/// else [`summary_line`].
pub fn status_line(state: &SupervisorState) -> String {
    match (&state.phase, &state.health) {
        (Phase::Stopping, _) => "stopping: nats-server in lame duck mode".to_owned(),
        (Phase::Exited { reason }, _) => reason.clone(),
        (_, ServerHealth::Failing { error }) => {
            // "Fails", not "not answering": a full store answers, with JetStream disabled.
            let then = if state.watchdog {
                " (the watchdog restarts it unless it recovers)"
            } else {
                ""
            };
            format!("nats-server fails its health check{then}: {error}")
        }
        _ => summary_line(state),
    }
}

/// What READY=1 carries, at the start and after each reload: the cluster as last seen, then
/// provisioning and the last reload.
pub fn summary_line(state: &SupervisorState) -> String {
    let mut text = match &state.monitoring {
        Monitoring::Seen(view) => cluster_line(view),
        Monitoring::Incomplete { error } => format!("monitoring incomplete: {error}"),
        Monitoring::NotYet => "monitoring not read yet".to_owned(),
    };
    let extras = [
        state.provisioning.as_ref().map(provisioning_text),
        state.last_reload.as_ref().map(reload_text),
    ];
    for extra in extras.into_iter().flatten() {
        text.push_str("; ");
        text.push_str(&extra);
    }
    text
}

/// Routes reached of those expected, the meta leader, the streams.
pub fn cluster_line(view: &NodeView) -> String {
    let peers = view.routes.expected.len();
    let routed = view.routes.routed.len().min(peers);
    let leader = match &view.jetstream.meta_leader {
        Some(leader) => format!("meta leader {leader}"),
        None if view.jetstream.enabled && peers > 0 => "no meta leader".to_owned(),
        None if view.jetstream.enabled => "JetStream standalone".to_owned(),
        None => "JetStream off".to_owned(),
    };
    let streams = view.jetstream.streams;
    format!(
        "routes {routed}/{peers}, {leader}, {streams} stream{}",
        if streams == 1 { "" } else { "s" }
    )
}

pub fn provisioning_text(provisioning: &Provisioning) -> String {
    match provisioning {
        Provisioning::WaitingForLeader => "provisioning waits for a meta leader".to_owned(),
        Provisioning::Provisioned(s) => format!(
            "provisioned ({} created, {} updated, {} unchanged)",
            s.create + s.recreate,
            s.update,
            s.unchanged
        ),
        Provisioning::Refused(s) => format!("provisioning REFUSED ({} drift)", s.drift),
        Provisioning::Lost { streams } => {
            format!("provisioning found LOST streams: {}", streams.join("; "))
        }
        Provisioning::Failed { error } => format!("provisioning FAILED: {error}"),
    }
}

pub fn reload_text(reload: &LastReload) -> String {
    let at = humantime::format_rfc3339_seconds(reload.at);
    match &reload.error {
        None => format!("last reload ok at {at}"),
        Some(error) => format!("last reload FAILED at {at}: {error}"),
    }
}

/// Where nats-server runs, for the start log.
pub fn placement_text(placement: &Placement) -> String {
    match (&placement.server, &placement.supervisor) {
        (Some(server), Some(own)) => format!("CPUs {server} (supervisor on {own})"),
        (Some(server), None) => format!("CPUs {server}"),
        (None, _) => "all CPUs".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use pier_monitor::{summarize, Snapshot};

    use super::*;
    use crate::provision::plan::Summary;

    /// The view of node n0 with `routez` and `jsz` as its monitoring port answers them.
    fn view(routez: &str, jsz: &str, peers: &[&str]) -> NodeView {
        let snapshot = Snapshot {
            varz: serde_json::from_str(
                r#"{"server_id":"NA","server_name":"n0","version":"2.15.1","uptime":"6s"}"#,
            )
            .unwrap(),
            routez: serde_json::from_str(routez).unwrap(),
            jsz: serde_json::from_str(jsz).unwrap(),
            health: serde_json::from_str(r#"{"status":"ok"}"#).unwrap(),
        };
        let peers: Vec<String> = peers.iter().map(|p| (*p).to_owned()).collect();
        summarize(&snapshot, &peers)
    }

    const LEADER_N1: &str =
        r#"{"config":{},"streams":1,"meta_cluster":{"leader":"n1","cluster_size":3}}"#;
    const NAMED: &str = r#"{"num_routes":2,"routes":[{"remote_id":"NB","remote_name":"n1"},{"remote_id":"NC","remote_name":"n2"}]}"#;

    fn state(monitoring: Monitoring) -> SupervisorState {
        SupervisorState {
            phase: Phase::Running,
            watchdog: false,
            placement: Placement {
                server: None,
                supervisor: None,
            },
            expected_peers: vec!["n1".into(), "n2".into()],
            health: ServerHealth::Healthy,
            monitoring,
            last_reload: None,
            provisioning: None,
        }
    }

    #[test]
    fn the_cluster_line_counts_routes_and_names_the_meta_leader() {
        let formed = view(NAMED, LEADER_N1, &["n1", "n2"]);
        assert_eq!(
            cluster_line(&formed),
            "routes 2/2, meta leader n1, 1 stream"
        );
        let no_leader = view(
            NAMED,
            r#"{"config":{},"meta_cluster":{"cluster_size":3}}"#,
            &["n1", "n2"],
        );
        assert_eq!(
            cluster_line(&no_leader),
            "routes 2/2, no meta leader, 0 streams"
        );
        // nats-server 2.9 does not name route peers: distinct servers are counted.
        let unnamed = r#"{"num_routes":1,"routes":[{"rid":8,"remote_id":"NB"}]}"#;
        assert_eq!(
            cluster_line(&view(unnamed, LEADER_N1, &["n1", "n2"])),
            "routes 1/2, meta leader n1, 1 stream"
        );
        let alone = r#"{"num_routes":0,"routes":[]}"#;
        assert_eq!(
            cluster_line(&view(alone, r#"{"config":{},"streams":2}"#, &[])),
            "routes 0/0, JetStream standalone, 2 streams"
        );
        assert_eq!(
            cluster_line(&view(alone, r#"{"disabled":true}"#, &[])),
            "routes 0/0, JetStream off, 0 streams"
        );
    }

    #[test]
    fn the_summary_adds_provisioning_then_the_last_reload() {
        let mut state = state(Monitoring::Seen(Box::new(view(
            NAMED,
            LEADER_N1,
            &["n1", "n2"],
        ))));
        assert_eq!(summary_line(&state), "routes 2/2, meta leader n1, 1 stream");
        state.provisioning = Some(Provisioning::Provisioned(Summary {
            create: 1,
            recreate: 1,
            update: 2,
            unchanged: 3,
            ..Summary::default()
        }));
        state.last_reload = Some(LastReload {
            at: SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
            error: None,
        });
        assert_eq!(
            summary_line(&state),
            "routes 2/2, meta leader n1, 1 stream; provisioned (2 created, 2 updated, 3 \
             unchanged); last reload ok at 2027-01-15T08:00:00Z"
        );
        state.monitoring = Monitoring::Incomplete {
            error: "no answer within 2s".into(),
        };
        state.provisioning = None;
        state.last_reload = Some(LastReload {
            at: SystemTime::UNIX_EPOCH,
            error: Some("nats-server -t refused it".into()),
        });
        assert_eq!(
            summary_line(&state),
            "monitoring incomplete: no answer within 2s; last reload FAILED at \
             1970-01-01T00:00:00Z: nats-server -t refused it"
        );
    }

    #[test]
    fn provisioning_says_what_it_waits_for_refused_or_failed() {
        let drift = Summary {
            drift: 2,
            ..Summary::default()
        };
        assert_eq!(
            provisioning_text(&Provisioning::WaitingForLeader),
            "provisioning waits for a meta leader"
        );
        assert_eq!(
            provisioning_text(&Provisioning::Refused(drift)),
            "provisioning REFUSED (2 drift)"
        );
        let failed = Provisioning::Failed {
            error: "no responders".into(),
        };
        assert_eq!(
            provisioning_text(&failed),
            "provisioning FAILED: no responders"
        );
        let lost = Provisioning::Lost {
            streams: vec!["LOGS (held 5 messages up to sequence 5; gone from the cluster)".into()],
        };
        assert_eq!(
            provisioning_text(&lost),
            "provisioning found LOST streams: LOGS (held 5 messages up to sequence 5; gone from the cluster)"
        );
    }

    #[test]
    fn a_stop_an_exit_or_a_failing_check_takes_the_whole_line() {
        let mut state = state(Monitoring::NotYet);
        state.last_reload = Some(LastReload {
            at: SystemTime::UNIX_EPOCH,
            error: None,
        });
        assert_eq!(
            status_line(&state),
            "monitoring not read yet; last reload ok at 1970-01-01T00:00:00Z"
        );
        state.health = ServerHealth::Failing {
            error: "JetStream not enabled".into(),
        };
        assert_eq!(
            status_line(&state),
            "nats-server fails its health check: JetStream not enabled"
        );
        state.watchdog = true;
        assert_eq!(
            status_line(&state),
            "nats-server fails its health check (the watchdog restarts it unless it recovers): \
             JetStream not enabled"
        );
        state.phase = Phase::Stopping;
        assert_eq!(
            status_line(&state),
            "stopping: nats-server in lame duck mode"
        );
        state.phase = Phase::Exited {
            reason: "nats-server exited on its own: signal: 9 (SIGKILL)".into(),
        };
        assert_eq!(
            status_line(&state),
            "nats-server exited on its own: signal: 9 (SIGKILL)"
        );
    }

    #[test]
    fn the_placement_names_both_sets_of_cores() {
        let cpus = |s: &str| Some(s.parse().unwrap());
        let placement = |server, supervisor| Placement { server, supervisor };
        assert_eq!(
            placement_text(&placement(cpus("2-7"), cpus("0-1"))),
            "CPUs 2-7 (supervisor on 0-1)"
        );
        assert_eq!(placement_text(&placement(cpus("0-1"), None)), "CPUs 0-1");
        assert_eq!(placement_text(&placement(None, None)), "all CPUs");
    }
}
