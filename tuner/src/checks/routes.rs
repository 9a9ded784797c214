//! Cluster routes: each peer answers as a NATS route of the same cluster, and the local listen
//! ports are free or held by nats-server itself.

use std::io::{BufRead, BufReader, Read};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use pier_config::model::{Peer, Tls};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use serde::Deserialize;

use super::{Category, Check, Context, Spec};
use crate::facts::{process, sockets};

const CAT: Category = Category::Routes;

const PEERS: Spec = Spec::one("routes.peers", CAT, "cluster peers answer as NATS routes");
/// One per peer: `routes.peer.<name>`.
const PEER: Spec = Spec::family("routes.peer", CAT, "route to a peer");
/// One per listen port: `routes.listen.client`, `.monitor`, `.cluster`.
const LISTEN: Spec = Spec::family(
    "routes.listen",
    CAT,
    "a listen port free or held by pier's nats-server",
);
pub const SPECS: &[Spec] = &[LISTEN, PEERS, PEER];

/// Connect and read timeouts: a healthy peer on a LAN answers in well under a millisecond.
pub const TIMEOUT: Duration = Duration::from_secs(1);

/// The fields of a route's `INFO {...}` greeting that matter here.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct RouteInfo {
    #[serde(default)]
    pub cluster: Option<String>,
    #[serde(default)]
    pub server_name: Option<String>,
    #[serde(default)]
    pub server_id: Option<String>,
    #[serde(default)]
    pub version: Option<String>,
}

/// Parses the first line a NATS server sends.
pub fn parse_info(line: &str) -> Result<RouteInfo, String> {
    let json = line
        .trim()
        .strip_prefix("INFO ")
        .ok_or_else(|| format!("not a NATS greeting: {:?}", truncate(line.trim(), 60)))?;
    serde_json::from_str(json).map_err(|e| format!("bad INFO JSON: {e}"))
}

fn truncate(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

/// How the probe speaks to the peers: as nats-server's routes do, in clear, or with
/// `[cluster.tls]` TLS from the first byte, presenting this node's certificate (nats-server
/// asks every route for one) and trusting only the cluster's CA.
pub enum RouteTls {
    Plain,
    Tls(Arc<ClientConfig>),
}

impl RouteTls {
    /// None: routes use TLS without a `ca_file`, which this probe cannot check against.
    pub fn for_cluster(tls: Option<&Tls>) -> Result<Option<RouteTls>, String> {
        let Some(tls) = tls else {
            return Ok(Some(RouteTls::Plain));
        };
        let Some(ca_file) = &tls.ca_file else {
            return Ok(None);
        };
        let pem_error = |path: &std::path::Path, e: rustls::pki_types::pem::Error| {
            format!("cannot read {}: {e}", path.display())
        };
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_file_iter(ca_file).map_err(|e| pem_error(ca_file, e))? {
            roots
                .add(cert.map_err(|e| pem_error(ca_file, e))?)
                .map_err(|e| format!("{}: {e}", ca_file.display()))?;
        }
        let chain = CertificateDer::pem_file_iter(&tls.cert_file)
            .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
            .map_err(|e| pem_error(&tls.cert_file, e))?;
        let key =
            PrivateKeyDer::from_pem_file(&tls.key_file).map_err(|e| pem_error(&tls.key_file, e))?;
        let config =
            ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .and_then(|builder| {
                    builder
                        .with_root_certificates(roots)
                        .with_client_auth_cert(chain, key)
                })
                .map_err(|e| format!("cluster.tls: {e}"))?;
        Ok(Some(RouteTls::Tls(Arc::new(config))))
    }
}

/// Connects to a peer's cluster port and reads its greeting.
pub fn probe(host: &str, port: u16, tls: &RouteTls) -> Result<RouteInfo, String> {
    let addrs: Vec<_> = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {host}: {e}"))?
        .collect();
    let mut last = format!("{host} resolves to no address");
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, TIMEOUT) {
            Ok(stream) => {
                stream
                    .set_read_timeout(Some(TIMEOUT))
                    .and_then(|()| stream.set_write_timeout(Some(TIMEOUT)))
                    .map_err(|e| format!("{addr}: {e}"))?;
                let line = match tls {
                    RouteTls::Plain => greeting(stream),
                    RouteTls::Tls(config) => {
                        let name = ServerName::try_from(host.to_owned())
                            .map_err(|e| format!("{host}: {e}"))?;
                        let connection = ClientConnection::new(config.clone(), name)
                            .map_err(|e| format!("{addr}: {e}"))?;
                        greeting(StreamOwned::new(connection, stream))
                    }
                };
                let line = line.map_err(|e| format!("{addr}: no greeting ({e})"))?;
                return parse_info(&line).map_err(|e| format!("{addr}: {e}"));
            }
            Err(e) => last = format!("{addr}: {e}"),
        }
    }
    Err(last)
}

/// The first line: a greeting is one line, and a bounded read keeps garbage from streaming
/// forever. Over TLS the handshake happens in this read, and its failure is the error.
fn greeting(stream: impl Read) -> std::io::Result<String> {
    let mut line = String::new();
    BufReader::new(stream.take(64 * 1024)).read_line(&mut line)?;
    Ok(line)
}

pub fn run(ctx: &Context, out: &mut Vec<Check>) {
    local_ports(ctx, out);
    let peers: Vec<&Peer> = ctx.config.route_peers().collect();
    let Some(cluster) = &ctx.config.cluster else {
        out.push(PEERS.draft().skip("no cluster configured"));
        return;
    };
    if ctx.offline {
        for peer in peers {
            out.push(peer_draft(peer).skip("--offline: no connection attempted"));
        }
        return;
    }
    let tls =
        match RouteTls::for_cluster(cluster.tls.as_ref()) {
            Ok(Some(tls)) => tls,
            Ok(None) => {
                for peer in peers {
                    out.push(peer_draft(peer).skip(
                        "cluster.tls has no ca_file to check the peers' certificates against",
                    ));
                }
                return;
            }
            Err(e) => {
                for peer in peers {
                    out.push(
                        peer_draft(peer)
                            .observed(&e)
                            .fail("make cluster.tls's files readable, as nats-server reads them"),
                    );
                }
                return;
            }
        };
    let tls = &tls;
    // Probed in parallel so that a dead peer costs one timeout, not one per peer.
    let results: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = peers
            .iter()
            .map(|peer| {
                scope.spawn(move || match peer.host_port() {
                    Some((host, port)) => probe(host, port, tls),
                    None => Err(format!("{:?} is not host:port", peer.address)),
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("probe panicked".to_owned()))
            })
            .collect()
    });
    for (peer, result) in peers.into_iter().zip(results) {
        let draft = peer_draft(peer).expected(format!(
            "a NATS route of cluster {:?}, server other than {:?}",
            cluster.name, ctx.config.node.name
        ));
        out.push(match result {
            Err(e) => draft.observed(e).fail(format!(
                "start nats-server on {} and open its cluster port between the nodes",
                peer.name
            )),
            Ok(info) => {
                let name = info
                    .server_name
                    .clone()
                    .or(info.server_id.clone())
                    .unwrap_or_default();
                let draft = draft.observed(format!(
                    "cluster {:?}, server {name:?}{}",
                    info.cluster.as_deref().unwrap_or(""),
                    info.version
                        .map(|v| format!(", nats-server {v}"))
                        .unwrap_or_default()
                ));
                if info.cluster.as_deref() != Some(cluster.name.as_str()) {
                    draft.fail(format!(
                        "{} answers for another cluster: check cluster.name on every node",
                        peer.address
                    ))
                } else if info.server_name.as_deref() == Some(ctx.config.node.name.as_str()) {
                    draft.fail(format!(
                        "{} is this node itself: fix the peer's address",
                        peer.address
                    ))
                } else if info.server_name.is_some()
                    && info.server_name.as_deref() != Some(peer.name.as_str())
                {
                    draft.warn(format!(
                        "the peer at {} calls itself {name:?}, not {:?}: fix [[cluster.peers]]",
                        peer.address, peer.name
                    ))
                } else {
                    draft.pass()
                }
            }
        });
    }
}

fn peer_draft(peer: &Peer) -> super::Draft {
    PEER.member(
        &peer.name,
        format!("route to {} ({})", peer.name, peer.address),
    )
}

fn local_ports(ctx: &Context, out: &mut Vec<Check>) {
    let node = &ctx.config.node;
    let mut ports = vec![
        ("client", node.client_listen.port()),
        ("monitor", node.monitor_listen.port()),
    ];
    if ctx.config.cluster.is_some() {
        ports.push(("cluster", node.cluster_listen.port()));
    }
    let listeners = sockets::read_listeners(ctx.host);
    // A port another program's nats-server holds is one pier's cannot bind.
    let pier_servers = match &ctx.processes {
        Ok(processes) => process::pier_servers(ctx.host, processes),
        // Reported below as the process list's error.
        Err(_) => Ok(Vec::new()),
    };
    for (what, port) in ports {
        let draft = LISTEN
            .member(
                what,
                format!("{what} port {port} free or held by pier's nats-server"),
            )
            .expected("free, or listened on by pier's nats-server");
        let (listeners, pier_servers) = match (&listeners, &ctx.processes, &pier_servers) {
            (Ok(l), Ok(_), Ok(servers)) => (l, servers),
            // Without the process list a held port's owner is unknown.
            (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => {
                out.push(draft.error(e));
                continue;
            }
        };
        let inodes: Vec<u64> = listeners
            .iter()
            .filter(|l| l.port == port)
            .map(|l| l.inode)
            .collect();
        if inodes.is_empty() {
            out.push(draft.observed("free").pass());
            continue;
        }
        out.push(match owner(ctx, &inodes) {
            Some((pid, _)) if pier_servers.iter().any(|s| s.pid == pid) => draft
                .observed(format!("held by pier's nats-server (pid {pid})"))
                .pass(),
            Some((pid, name)) if name == "nats-server" => draft
                .observed(format!(
                    "held by nats-server (pid {pid}), which pier-broker did not start"
                ))
                .fail(format!(
                    "stop that nats-server (pier's cannot listen on the port while it holds it) or choose another {what} port in [node]"
                )),
            Some((pid, name)) => {
                draft
                    .observed(format!("held by {name} (pid {pid})"))
                    .fail(format!(
                        "stop {name} or choose another {what} port in [node]"
                    ))
            }
            None => draft
                .observed("in use by a process this user cannot see")
                .warn("run as root to see the owner"),
        });
    }
}

/// The process holding one of these socket inodes: nats-server processes are looked at first.
fn owner(ctx: &Context, inodes: &[u64]) -> Option<(u32, String)> {
    let mut processes: Vec<_> = ctx
        .processes
        .as_ref()
        .ok()?
        .iter()
        .filter(|p| !p.status.kernel_thread)
        .collect();
    processes.sort_by_key(|p| p.status.name != "nats-server");
    processes.into_iter().find_map(|p| {
        let fds = ctx.host.list(format!("/proc/{}/fd", p.pid)).ok()?;
        fds.iter()
            .filter_map(|fd| ctx.host.read_link(format!("/proc/{}/fd/{fd}", p.pid)).ok())
            .filter_map(|link| sockets::socket_inode(&link.to_string_lossy()))
            .any(|inode| inodes.contains(&inode))
            .then(|| (p.pid, p.status.name.clone()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_route_greetings() {
        let info = parse_info("INFO {\"server_id\":\"NABC\",\"server_name\":\"n2\",\"version\":\"2.15.1\",\"cluster\":\"c\",\"port\":6223}\r\n").unwrap();
        assert_eq!(info.cluster.as_deref(), Some("c"));
        assert_eq!(info.server_name.as_deref(), Some("n2"));
        assert!(parse_info("HTTP/1.1 400 Bad Request\r\n").is_err());
        assert!(parse_info("INFO {not json").is_err());
    }
}
