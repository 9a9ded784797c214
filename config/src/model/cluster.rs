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
    /// Splits `address` into host and port; None unless it is `IPv4:PORT`, `[IPv6]:PORT` or
    /// `HOSTNAME:PORT` with a non-zero port.
    pub fn host_port(&self) -> Option<(&str, u16)> {
        let (host, port) = self.address.rsplit_once(':')?;
        let port = port.parse().ok().filter(|p| *p != 0)?;
        let host = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            Some(v6) => v6.parse::<std::net::Ipv6Addr>().ok().map(|_| v6)?,
            None if host.parse::<std::net::Ipv4Addr>().is_ok() || is_hostname(host) => host,
            None => return None,
        };
        Some((host, port))
    }

    /// The route URL this node dials, with `userinfo` ("user:password@", encoded) when routes
    /// authenticate; None when the address is not valid (validation reports it).
    pub fn route_url(&self, userinfo: &str) -> Option<String> {
        let (host, port) = self.host_port()?;
        let host = if host.contains(':') {
            format!("[{host}]")
        } else {
            host.to_owned()
        };
        Some(format!("nats-route://{userinfo}{host}:{port}"))
    }
}

/// A DNS name: dot-separated labels of letters, digits and inner hyphens.
fn is_hostname(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(address: &str) -> Peer {
        Peer {
            name: "p".into(),
            address: address.into(),
        }
    }

    #[test]
    fn addresses_must_be_host_and_port() {
        assert_eq!(
            peer("203.0.113.11:6222").host_port(),
            Some(("203.0.113.11", 6222))
        );
        assert_eq!(peer("[::1]:6222").host_port(), Some(("::1", 6222)));
        assert_eq!(
            peer("nats-3.example.internal:6222").host_port(),
            Some(("nats-3.example.internal", 6222))
        );
        for bad in [
            "::1:6222",
            "user@bad host/x:6224",
            "host:0",
            "host",
            ":6222",
            "-x:1",
            "[nope]:1",
        ] {
            assert_eq!(peer(bad).host_port(), None, "{bad}");
        }
        assert_eq!(
            peer("[::1]:6222").route_url("u:p@").unwrap(),
            "nats-route://u:p@[::1]:6222"
        );
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
