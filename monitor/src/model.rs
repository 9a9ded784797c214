//! The parts of nats-server's monitoring answers pier reads. Every field has a default: 2.9 and
//! 2.15 answer with different fields, and a missing one must not fail a health check. What every
//! version always sends (a server id, a version, a health status) is checked by [`Answer::vouch`]:
//! without it the endpoint is not a nats-server.

use serde::{Deserialize, Serialize};

/// An answer that can tell whether nats-server gave it.
pub trait Answer {
    /// Err(why) when a field nats-server always sends is missing or malformed.
    fn vouch(&self) -> Result<(), String>;
}

/// A server id is a public server nkey: 'N' and 55 more base32 characters.
fn vouch_server_id(id: &str) -> Result<(), String> {
    let nkey = id.len() == 56
        && id.starts_with('N')
        && id
            .bytes()
            .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b));
    if nkey {
        Ok(())
    } else if id.is_empty() {
        Err("no server_id".to_owned())
    } else {
        Err("server_id is not a server nkey".to_owned())
    }
}

/// `/healthz`: `{"status":"ok"}` or `{"status":"unavailable","error":"..."}`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct Health {
    pub status: String,
    pub error: Option<String>,
    #[serde(skip)]
    pub http_status: u16,
}

impl Answer for Health {
    fn vouch(&self) -> Result<(), String> {
        if self.status.is_empty() {
            return Err("health answer without a status".to_owned());
        }
        Ok(())
    }
}

impl Health {
    pub fn is_ok(&self) -> bool {
        self.status == "ok" && (self.http_status == 200 || self.http_status == 0)
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct Varz {
    pub server_id: String,
    pub server_name: String,
    pub version: String,
    pub uptime: String,
    pub connections: u64,
    pub config_load_time: String,
    pub start: String,
}

impl Answer for Varz {
    fn vouch(&self) -> Result<(), String> {
        vouch_server_id(&self.server_id)?;
        // "2.15.1", "2.11.0-RC.1": three numbers before any pre-release or build suffix.
        let core = self.version.split(['-', '+']).next().unwrap_or_default();
        let parts: Vec<&str> = core.split('.').collect();
        let semver = parts.len() == 3
            && parts
                .iter()
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
        if semver {
            Ok(())
        } else {
            Err("no server version".to_owned())
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct Routez {
    pub server_id: String,
    pub num_routes: u64,
    pub routes: Vec<RouteInfo>,
}

/// One route connection. Since 2.10 a peer has several (a pool, plus pinned accounts), and
/// `remote_name` says which peer; 2.9 only gives the peer's server id.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct RouteInfo {
    pub rid: u64,
    pub remote_id: String,
    pub remote_name: Option<String>,
    pub did_solicit: bool,
    pub ip: String,
    pub port: u16,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct Jsz {
    pub server_id: String,
    pub disabled: bool,
    pub config: Option<serde_json::Value>,
    pub streams: u64,
    pub consumers: u64,
    pub messages: u64,
    pub bytes: u64,
    pub meta_cluster: Option<MetaCluster>,
    pub account_details: Vec<AccountDetail>,
}

impl Answer for Routez {
    fn vouch(&self) -> Result<(), String> {
        vouch_server_id(&self.server_id)
    }
}

impl Answer for Jsz {
    fn vouch(&self) -> Result<(), String> {
        vouch_server_id(&self.server_id)
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct MetaCluster {
    pub name: Option<String>,
    pub leader: Option<String>,
    pub cluster_size: u64,
    /// The other members as this node sees them (the node itself is not listed).
    pub replicas: Vec<MetaPeer>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct MetaPeer {
    pub name: String,
    pub current: bool,
    pub offline: bool,
    /// Nanoseconds since the peer was last heard from.
    pub active: i64,
    pub lag: u64,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct AccountDetail {
    pub name: String,
    pub stream_detail: Vec<StreamDetail>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct StreamDetail {
    pub name: String,
    pub cluster: Option<StreamCluster>,
    pub state: StreamState,
    pub consumer_detail: Vec<ConsumerDetail>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct StreamCluster {
    pub leader: Option<String>,
    pub replicas: Vec<MetaPeer>,
}

impl StreamCluster {
    /// How many replicas the stream has, as `server` (one of them) reports it. Versions list
    /// them differently: 2.15.1 names the leader apart from the others, and while the stream
    /// has no leader names every peer, itself included; 2.9.10 leaves itself out.
    pub fn size(&self, server: &str) -> usize {
        let mut peers: std::collections::BTreeSet<&str> =
            self.replicas.iter().map(|r| r.name.as_str()).collect();
        peers.extend(self.leader.as_deref());
        peers.insert(server);
        peers.len()
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct StreamState {
    pub messages: u64,
    pub bytes: u64,
    pub first_seq: u64,
    pub last_seq: u64,
    pub consumer_count: u64,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct ConsumerDetail {
    pub name: String,
    pub num_pending: u64,
    pub num_ack_pending: u64,
    pub num_redelivered: u64,
    pub num_waiting: u64,
    pub delivered: SequenceInfo,
    pub ack_floor: SequenceInfo,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct SequenceInfo {
    pub consumer_seq: u64,
    pub stream_seq: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn captured<T: serde::de::DeserializeOwned>(name: &str) -> T {
        let path = format!("{}/src/testdata/{name}.json", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    #[test]
    fn captured_answers_of_both_versions_vouch_for_nats_server() {
        for version in ["2.9.10", "2.15.1"] {
            captured::<Varz>(&format!("varz.{version}"))
                .vouch()
                .unwrap();
            captured::<Routez>(&format!("routez.{version}"))
                .vouch()
                .unwrap();
            captured::<Jsz>(&format!("jsz.{version}")).vouch().unwrap();
            captured::<Health>(&format!("healthz.{version}"))
                .vouch()
                .unwrap();
        }
    }

    #[test]
    fn versions_are_three_numbers_with_an_optional_suffix() {
        let varz = |version: &str| Varz {
            server_id: "NCMPYBPHPVGVOAU5DCD42AAPLTLQRDYMCCDU52TIDKOSZ2OB4XDGYS5T".into(),
            version: version.into(),
            ..Varz::default()
        };
        for good in ["2.9.10", "2.11.0-RC.1", "2.12.0+build"] {
            assert!(varz(good).vouch().is_ok(), "{good}");
        }
        for bad in ["", "2.9", "2..1", "v2.9.10", "2.9.10.1", "nginx/1.2.3"] {
            assert!(varz(bad).vouch().is_err(), "{bad}");
        }
    }
}
