use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::Tls;

/// The cluster this node belongs to. The same section goes into every node's file.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Cluster {
    pub name: String,
    /// Every node of the cluster, this one included; routes go to all but this node.
    pub peers: Vec<Peer>,
    #[serde(default)]
    pub tls: Option<Tls>,
    #[serde(default)]
    pub authorization: Option<RouteAuth>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Peer {
    /// The peer's `node.name`.
    pub name: String,
    /// `host:port` of the peer's cluster listener, as this node dials it.
    pub address: String,
}

impl Peer {
    /// Splits `address` into host and port; None when it is not `host:port`.
    pub fn host_port(&self) -> Option<(&str, u16)> {
        let (host, port) = self.address.rsplit_once(':')?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let port = port.parse().ok()?;
        (!host.is_empty()).then_some((host, port))
    }
}

/// Credentials every route presents and requires.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RouteAuth {
    pub user: String,
    /// File holding the password; read when the server starts, never printed.
    pub password_file: PathBuf,
}
