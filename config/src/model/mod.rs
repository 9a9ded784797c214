//! The appliance configuration as written in `/etc/pier/pier.toml`.
//!
//! Every struct refuses unknown keys: a typo must fail validation, never pass silently.
//! Defaults live in named functions so that docs/configuration.md can point at them.

mod cluster;
mod jetstream;
mod provision;
mod security;
mod streams;

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use cluster::{Cluster, Peer, RouteAuth};
pub use jetstream::{JetStream, SyncPolicy};
pub use provision::{default_provision_timeout, default_prune, Provision};
pub use security::{Account, AccountJetStream, Client, Permissions, SubjectRule, Tls, User};
pub use streams::{
    AckPolicy, Consumer, ConsumerKind, DeliverPolicy, Discard, Retention, Storage, Stream,
};

use crate::cpuset::CpuSet;
use crate::units::{Bytes, Span};

/// Where pier looks for its configuration when `--config` is not given.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/pier/pier.toml";

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub node: Node,
    /// Absent for a single, unclustered node.
    #[serde(default)]
    pub cluster: Option<Cluster>,
    #[serde(default)]
    pub jetstream: JetStream,
    #[serde(default)]
    pub resources: Resources,
    #[serde(default)]
    pub limits: Limits,
    #[serde(default)]
    pub client: Client,
    #[serde(default)]
    pub log: Log,
    #[serde(default)]
    pub provision: Provision,
    #[serde(default)]
    pub streams: Vec<Stream>,
}

impl Config {
    /// Number of nodes in the cluster, counting this one.
    pub fn cluster_size(&self) -> usize {
        self.cluster.as_ref().map_or(1, |c| c.peers.len().max(1))
    }

    /// The user pier's own client provisions as: `provision.user`, else the first user with a
    /// name and a password file. None: no such user, so pier connects without credentials.
    pub fn provisioning_user(&self) -> Option<&User> {
        let users = &self.client.users;
        match &self.provision.user {
            Some(name) => users
                .iter()
                .find(|u| u.user.as_deref() == Some(name.as_str())),
            None => users
                .iter()
                .find(|u| u.user.is_some() && u.password_file.is_some()),
        }
    }

    /// The peers this node opens routes to: every declared peer except itself.
    pub fn route_peers(&self) -> impl Iterator<Item = &Peer> {
        self.cluster
            .iter()
            .flat_map(|c| c.peers.iter())
            .filter(move |p| p.name != self.node.name)
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Node {
    /// nats-server's `server_name`; unique in the cluster.
    pub name: String,
    #[serde(default = "default_client_listen")]
    pub client_listen: SocketAddr,
    #[serde(default = "default_monitor_listen")]
    pub monitor_listen: SocketAddr,
    #[serde(default = "default_cluster_listen")]
    pub cluster_listen: SocketAddr,
    /// Tags for JetStream placement (`server_tags`).
    #[serde(default)]
    pub tags: Vec<String>,
    /// The nats-server binary; when absent pier looks in its own install, then on PATH.
    #[serde(default)]
    pub nats_server: Option<PathBuf>,
}

/// The address a local client dials to reach a listener of this node: a wildcard (0.0.0.0, ::)
/// becomes loopback, since a server listening everywhere listens there too.
pub fn local_address(listen: SocketAddr) -> SocketAddr {
    let ip = match listen.ip() {
        std::net::IpAddr::V4(ip) if ip.is_unspecified() => std::net::Ipv4Addr::LOCALHOST.into(),
        std::net::IpAddr::V6(ip) if ip.is_unspecified() => std::net::Ipv6Addr::LOCALHOST.into(),
        ip => ip,
    };
    SocketAddr::new(ip, listen.port())
}

pub fn default_client_listen() -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], 4222))
}

pub fn default_monitor_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8222))
}

pub fn default_cluster_listen() -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], 6222))
}

/// Which cores nats-server runs on and how much memory the Go runtime aims to stay under.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    #[serde(default)]
    pub cpus: CpuPlacement,
    /// Becomes GOMEMLIMIT in nats-server's environment.
    #[serde(default)]
    pub memory_limit: Option<Bytes>,
}

/// `cpus = "auto"` (the kernel's isolated cores when there are any, else no pinning),
/// `cpus = "all"` (no pinning) or an explicit list such as `"2-7"`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum CpuPlacement {
    #[default]
    Auto,
    All,
    List(CpuSet),
}

impl CpuPlacement {
    /// The cores `auto` stands for on a host: its isolated cores that are online; None when
    /// nothing is isolated (nats-server is then not pinned). `pier-broker run` and
    /// `pier-tuner` both resolve `auto` through this, from sysfs `isolated` and `online`.
    pub fn auto_cores(isolated: &CpuSet, online: &CpuSet) -> Option<CpuSet> {
        let usable = isolated.intersection(online);
        (!usable.is_empty()).then_some(usable)
    }
}

impl<'de> Deserialize<'de> for CpuPlacement {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        match s.trim() {
            "auto" => Ok(CpuPlacement::Auto),
            "all" => Ok(CpuPlacement::All),
            list => list
                .parse()
                .map(CpuPlacement::List)
                .map_err(|e| serde::de::Error::custom(format!("{e}; or use \"auto\" or \"all\""))),
        }
    }
}

impl Serialize for CpuPlacement {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            CpuPlacement::Auto => serializer.serialize_str("auto"),
            CpuPlacement::All => serializer.serialize_str("all"),
            CpuPlacement::List(set) => serializer.collect_str(set),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    #[serde(default)]
    pub max_payload: Option<Bytes>,
    #[serde(default)]
    pub max_connections: Option<u32>,
    #[serde(default)]
    pub write_deadline: Option<Span>,
    #[serde(default = "default_lame_duck_duration")]
    pub lame_duck_duration: Span,
    #[serde(default = "default_lame_duck_grace_period")]
    pub lame_duck_grace_period: Span,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_payload: None,
            max_connections: None,
            write_deadline: None,
            lame_duck_duration: default_lame_duck_duration(),
            lame_duck_grace_period: default_lame_duck_grace_period(),
        }
    }
}

pub fn default_lame_duck_duration() -> Span {
    Span(std::time::Duration::from_secs(30))
}

pub fn default_lame_duck_grace_period() -> Span {
    Span(std::time::Duration::from_secs(10))
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Log {
    #[serde(default)]
    pub level: LogLevel,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    #[default]
    Info,
    Debug,
    Trace,
}
