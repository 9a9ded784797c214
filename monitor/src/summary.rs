//! From captured monitoring answers to what an operator (`status`, STATUS=, metrics) needs: pure,
//! so it is tested on captured JSON.

use std::collections::BTreeSet;

use serde::Serialize;

use super::model::{Health, Jsz, Routez, Varz};
use super::printable::printable;

/// The answers of one server's monitoring endpoints at one moment.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub varz: Varz,
    pub routez: Routez,
    pub jsz: Jsz,
    /// The full `/healthz` (meta leader and catch-up included).
    pub health: Health,
}

#[derive(Debug, Clone, Serialize)]
pub struct NodeView {
    pub server: String,
    pub server_id: String,
    pub version: String,
    pub uptime: String,
    pub connections: u64,
    pub healthy: bool,
    pub health_error: Option<String>,
    pub routes: RoutesView,
    pub jetstream: JetStreamView,
    pub streams: Vec<StreamView>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RoutesView {
    /// Peers the configuration routes to.
    pub expected: Vec<String>,
    /// Distinct peers with at least one route: names, or server ids when the server (2.9) does
    /// not tell names.
    pub routed: Vec<String>,
    /// Expected peers without a route; empty when names are unknown (see `routed`).
    pub missing: Vec<String>,
    pub connections: u64,
    pub all_routed: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct JetStreamView {
    pub enabled: bool,
    pub meta_leader: Option<String>,
    pub cluster_size: u64,
    pub peers: Vec<MetaPeerView>,
    pub streams: u64,
    pub consumers: u64,
    pub messages: u64,
    pub bytes: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct MetaPeerView {
    pub name: String,
    pub current: bool,
    pub offline: bool,
    pub active_ms: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct StreamView {
    pub account: String,
    pub name: String,
    pub leader: Option<String>,
    pub replicas: usize,
    pub messages: u64,
    pub bytes: u64,
    pub consumers: Vec<ConsumerView>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ConsumerView {
    pub name: String,
    /// Messages not yet delivered: the consumer's lag behind the stream.
    pub pending: u64,
    pub ack_pending: u64,
    pub redelivered: u64,
    pub waiting: u64,
}

/// Builds the view of one node; `expected_peers` are the names this node routes to. Every string
/// read from the server is made [`printable`] here, so no view of it (text, JSON, STATUS=) can
/// carry a control character.
pub fn summarize(snapshot: &Snapshot, expected_peers: &[String]) -> NodeView {
    let routes = routes_view(&snapshot.routez, expected_peers);
    let jsz = &snapshot.jsz;
    let meta = jsz.meta_cluster.as_ref();
    let jetstream = JetStreamView {
        enabled: !jsz.disabled && jsz.config.is_some(),
        meta_leader: meta
            .and_then(|m| m.leader.as_deref())
            .filter(|l| !l.is_empty())
            .map(text),
        cluster_size: meta.map_or(0, |m| m.cluster_size),
        peers: meta
            .map(|m| {
                m.replicas
                    .iter()
                    .map(|p| MetaPeerView {
                        name: text(&p.name),
                        current: p.current,
                        offline: p.offline,
                        active_ms: p.active / 1_000_000,
                    })
                    .collect()
            })
            .unwrap_or_default(),
        streams: jsz.streams,
        consumers: jsz.consumers,
        messages: jsz.messages,
        bytes: jsz.bytes,
    };
    let streams = jsz
        .account_details
        .iter()
        .flat_map(|account| {
            account.stream_detail.iter().map(move |s| StreamView {
                account: text(&account.name),
                name: text(&s.name),
                leader: s
                    .cluster
                    .as_ref()
                    .and_then(|c| c.leader.as_deref())
                    .map(text),
                replicas: s
                    .cluster
                    .as_ref()
                    .map_or(1, |c| c.size(&snapshot.varz.server_name)),
                messages: s.state.messages,
                bytes: s.state.bytes,
                consumers: s
                    .consumer_detail
                    .iter()
                    .map(|c| ConsumerView {
                        name: text(&c.name),
                        pending: c.num_pending,
                        ack_pending: c.num_ack_pending,
                        redelivered: c.num_redelivered,
                        waiting: c.num_waiting,
                    })
                    .collect(),
            })
        })
        .collect();
    NodeView {
        server: text(&snapshot.varz.server_name),
        server_id: text(&snapshot.varz.server_id),
        version: text(&snapshot.varz.version),
        uptime: text(&snapshot.varz.uptime),
        connections: snapshot.varz.connections,
        healthy: snapshot.health.is_ok(),
        health_error: snapshot.health.error.as_deref().map(text),
        routes,
        jetstream,
        streams,
    }
}

fn routes_view(routez: &Routez, expected: &[String]) -> RoutesView {
    let names: BTreeSet<&str> = routez
        .routes
        .iter()
        .filter_map(|r| r.remote_name.as_deref())
        .filter(|n| !n.is_empty())
        .collect();
    let (routed, missing, all_routed) = if names.is_empty() && !routez.routes.is_empty() {
        // nats-server 2.9 does not name route peers: count distinct servers instead.
        let ids: BTreeSet<&str> = routez.routes.iter().map(|r| r.remote_id.as_str()).collect();
        let all = ids.len() >= expected.len();
        (ids.iter().map(|s| text(s)).collect(), Vec::new(), all)
    } else {
        let missing: Vec<String> = expected
            .iter()
            .filter(|e| !names.contains(e.as_str()))
            .cloned()
            .collect();
        let all = missing.is_empty();
        (names.iter().map(|s| text(s)).collect(), missing, all)
    };
    RoutesView {
        expected: expected.to_vec(),
        routed,
        missing,
        connections: routez.num_routes,
        all_routed,
    }
}

fn text(s: &str) -> String {
    printable(s).into_owned()
}

impl NodeView {
    /// The rollout gate: every configured peer routed and, with JetStream, a meta leader known.
    pub fn cluster_formed(&self, jetstream_configured: bool) -> bool {
        let leader = !jetstream_configured
            || self.routes.expected.is_empty()
            || self.jetstream.meta_leader.is_some();
        self.routes.all_routed && leader
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(routez: &str, jsz: &str) -> Snapshot {
        Snapshot {
            varz: serde_json::from_str(
                r#"{"server_id":"NA","server_name":"n0","version":"2.15.1","uptime":"6s","connections":2}"#,
            )
            .unwrap(),
            routez: serde_json::from_str(routez).unwrap(),
            jsz: serde_json::from_str(jsz).unwrap(),
            health: serde_json::from_str(r#"{"status":"ok"}"#).unwrap(),
        }
    }

    const JSZ: &str = r#"{"config":{"max_memory":1},"streams":1,"consumers":1,"messages":5,
        "meta_cluster":{"name":"c","leader":"n1","cluster_size":3,
          "replicas":[{"name":"n1","current":true,"active":903153745},{"name":"n2","current":false,"active":0}]},
        "account_details":[{"name":"$G","stream_detail":[{"name":"LOGS",
          "cluster":{"leader":"n2","replicas":[{"name":"n0"},{"name":"n1"}]},
          "state":{"messages":5,"bytes":200},
          "consumer_detail":[{"name":"pull-worker","num_pending":3,"num_ack_pending":2,"num_redelivered":1,"num_waiting":0}]}]}]}"#;

    #[test]
    fn named_routes_are_matched_to_peers() {
        let routez = r#"{"num_routes":4,"routes":[
            {"rid":1,"remote_id":"NB","remote_name":"n1"},{"rid":2,"remote_id":"NB","remote_name":"n1"},
            {"rid":3,"remote_id":"NC","remote_name":"n2"},{"rid":4,"remote_id":"NC","remote_name":"n2"}]}"#;
        let view = summarize(&snapshot(routez, JSZ), &["n1".into(), "n2".into()]);
        assert_eq!(view.routes.routed, ["n1", "n2"]);
        assert!(view.routes.missing.is_empty());
        assert!(view.cluster_formed(true));
        let stream = &view.streams[0];
        assert_eq!(
            (stream.leader.as_deref(), stream.replicas, stream.messages),
            (Some("n2"), 3, 5)
        );
        assert_eq!(stream.consumers[0].pending, 3);
        assert_eq!(view.jetstream.peers[0].active_ms, 903);
    }

    #[test]
    fn a_missing_peer_or_leader_is_not_a_formed_cluster() {
        let routez = r#"{"num_routes":1,"routes":[{"rid":1,"remote_id":"NB","remote_name":"n1"}]}"#;
        let view = summarize(&snapshot(routez, JSZ), &["n1".into(), "n2".into()]);
        assert_eq!(view.routes.missing, ["n2"]);
        assert!(!view.cluster_formed(true));

        let no_leader = r#"{"config":{},"meta_cluster":{"cluster_size":3}}"#;
        let routez = r#"{"num_routes":2,"routes":[{"remote_id":"NB","remote_name":"n1"},{"remote_id":"NC","remote_name":"n2"}]}"#;
        let view = summarize(&snapshot(routez, no_leader), &["n1".into(), "n2".into()]);
        assert!(!view.cluster_formed(true));
        assert!(view.cluster_formed(false));
    }

    #[test]
    fn unnamed_routes_of_2_9_are_counted_by_server_id() {
        let routez =
            r#"{"num_routes":2,"routes":[{"rid":8,"remote_id":"NB"},{"rid":9,"remote_id":"NC"}]}"#;
        let view = summarize(&snapshot(routez, JSZ), &["n1".into(), "n2".into()]);
        assert!(view.routes.all_routed);
        let routez = r#"{"num_routes":1,"routes":[{"rid":8,"remote_id":"NB"}]}"#;
        let view = summarize(&snapshot(routez, JSZ), &["n1".into(), "n2".into()]);
        assert!(!view.routes.all_routed);
    }

    /// Answers captured from a live three-node cluster (node n1) with stream LOGS (R3), five
    /// messages and the durable pull consumer pull-worker.
    fn captured(version: &str) -> Snapshot {
        let read = |name: &str| -> serde_json::Value {
            let path = format!(
                "{}/src/testdata/{name}.{version}.json",
                env!("CARGO_MANIFEST_DIR")
            );
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
        };
        Snapshot {
            varz: serde_json::from_value(read("varz")).unwrap(),
            routez: serde_json::from_value(read("routez")).unwrap(),
            jsz: serde_json::from_value(read("jsz")).unwrap(),
            health: serde_json::from_value(read("healthz")).unwrap(),
        }
    }

    #[test]
    fn a_stream_without_a_leader_counts_each_peer_once() {
        // As nats-server 2.15.1 listed LOGS when a power cut left it without a leader.
        let jsz = JSZ.replace(
            r#""cluster":{"leader":"n2","replicas":[{"name":"n0"},{"name":"n1"}]}"#,
            r#""cluster":{"replicas":[{"name":"n0","current":true},{"name":"n1"},{"name":"n2"}]}"#,
        );
        let view = summarize(&snapshot(r#"{"routes":[]}"#, &jsz), &[]);
        assert_eq!(
            (view.streams[0].replicas, view.streams[0].leader.as_deref()),
            (3, None)
        );
        assert_eq!(
            summarize(&snapshot(r#"{"routes":[]}"#, JSZ), &[]).streams[0].replicas,
            3
        );
    }

    #[test]
    fn captured_2_15_cluster_is_formed() {
        let view = summarize(&captured("2.15.1"), &["n2".into(), "n3".into()]);
        assert_eq!(
            (view.server.as_str(), view.version.as_str()),
            ("n1", "2.15.1")
        );
        assert!(view.healthy);
        assert_eq!(view.routes.routed, ["n2", "n3"]);
        assert_eq!(view.routes.connections, 8);
        assert!(view.jetstream.enabled);
        assert_eq!(view.jetstream.meta_leader.as_deref(), Some("n2"));
        assert_eq!(view.jetstream.cluster_size, 3);
        assert_eq!(view.streams.len(), 1);
        let logs = &view.streams[0];
        assert_eq!(
            (logs.name.as_str(), logs.replicas, logs.messages),
            ("LOGS", 3, 5)
        );
        assert_eq!(logs.leader.as_deref(), Some("n1"));
        assert_eq!(logs.consumers[0].name, "pull-worker");
        assert!(view.cluster_formed(true));
    }

    #[test]
    fn captured_2_9_cluster_is_formed_without_route_names() {
        let view = summarize(&captured("2.9.10"), &["n2".into(), "n3".into()]);
        assert_eq!(view.version, "2.9.10");
        assert_eq!(view.routes.routed.len(), 2);
        assert!(view.routes.all_routed);
        assert_eq!(view.jetstream.meta_leader.as_deref(), Some("n1"));
        let logs = &view.streams[0];
        assert_eq!((logs.replicas, logs.leader.as_deref()), (3, Some("n2")));
        assert_eq!(logs.consumers[0].pending, 5);
        assert!(view.cluster_formed(true));
        // A third peer that is not routed keeps the gate closed.
        let view = summarize(
            &captured("2.9.10"),
            &["n2".into(), "n3".into(), "n4".into()],
        );
        assert!(!view.cluster_formed(true));
    }
}
