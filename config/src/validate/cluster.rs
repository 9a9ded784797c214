//! The cluster: peer list, names, and routes derived from it.

use std::collections::HashMap;

use super::name_problem;
use crate::diagnostic::Diagnostic;
use crate::model::Config;

pub(super) fn check(config: &Config, out: &mut Vec<Diagnostic>) {
    let Some(cluster) = &config.cluster else {
        return;
    };
    if let Some(problem) = name_problem(&cluster.name) {
        out.push(Diagnostic::error(
            "cluster.name",
            format!("cluster name {problem}"),
        ));
    } else if cluster.name == "_" {
        // nats-server 2.10 and later keep "_" for a cluster that has not been named yet.
        out.push(Diagnostic::error(
            "cluster.name",
            "cluster name \"_\" is reserved by nats-server",
        ));
    }
    if cluster.peers.is_empty() {
        out.push(
            Diagnostic::error("cluster.peers", "a cluster needs its peers")
                .hint("add a [[cluster.peers]] entry for every node, this one included"),
        );
        return;
    }

    let own_port = config.node.cluster_listen.port();
    let mut names: HashMap<&str, usize> = HashMap::new();
    let mut addresses: HashMap<String, usize> = HashMap::new();
    let mut own_address = None;
    for (i, peer) in cluster.peers.iter().enumerate() {
        let key = format!("cluster.peers[{i}]");
        if let Some(problem) = name_problem(&peer.name) {
            out.push(Diagnostic::error(
                format!("{key}.name"),
                format!("server name {problem}"),
            ));
        }
        if let Some(first) = names.insert(peer.name.as_str(), i) {
            out.push(
                Diagnostic::error(
                    format!("{key}.name"),
                    format!(
                        "duplicate server name {:?} (also cluster.peers[{first}])",
                        peer.name
                    ),
                )
                .hint("server names must be unique in a cluster"),
            );
        }
        let Some((host, port)) = peer.host_port() else {
            out.push(
                Diagnostic::error(
                    format!("{key}.address"),
                    format!("{:?} is not HOST:PORT", peer.address),
                )
                .hint("write the address the other nodes dial: \"203.0.113.11:6222\", \"[2001:db8::11]:6222\" or \"nats-1.example.net:6222\""),
            );
            continue;
        };
        let normalised = format!("{}:{port}", host.to_ascii_lowercase());
        let involves_self = |j: usize| cluster.peers[j].name == config.node.name;
        // A clash with this node's own entry is reported below as routing to itself.
        if let Some(first) = addresses
            .insert(normalised.clone(), i)
            .filter(|&first| !involves_self(first) && !involves_self(i))
        {
            out.push(Diagnostic::error(
                format!("{key}.address"),
                format!("address {} is also cluster.peers[{first}]'s", peer.address),
            ));
        }
        if peer.name == config.node.name {
            own_address = Some(normalised);
            if port != own_port {
                out.push(
                    Diagnostic::warning(
                        format!("{key}.address"),
                        format!(
                            "this node's peer entry uses port {port} but node.cluster_listen listens on {own_port}"
                        ),
                    )
                    .hint("the other nodes will dial the port written here"),
                );
            }
        }
    }

    if own_address.is_none() {
        out.push(
            Diagnostic::error(
                "node.name",
                format!("this node ({:?}) is not among cluster.peers", config.node.name),
            )
            .hint("list every node in [[cluster.peers]], this one included, so all nodes share one cluster section"),
        );
    }
    let listener = config.node.cluster_listen;
    for (i, peer) in cluster.peers.iter().enumerate() {
        if peer.name == config.node.name {
            continue;
        }
        let Some((host, port)) = peer.host_port() else {
            continue;
        };
        let same_as_own_entry = own_address.as_deref()
            == Some(format!("{}:{port}", host.to_ascii_lowercase()).as_str());
        // An IP this node's cluster listener accepts on, at its port, is this node itself.
        let same_as_listener = port == listener.port()
            && host.parse().is_ok_and(|ip: std::net::IpAddr| {
                ip == listener.ip() || (listener.ip().is_unspecified() && ip.is_loopback())
            });
        if same_as_own_entry || same_as_listener {
            out.push(
                Diagnostic::error(
                    format!("cluster.peers[{i}].address"),
                    format!(
                        "peer {:?} at {} is this node's own cluster listener: the node would route to itself",
                        peer.name, peer.address
                    ),
                )
                .hint("each peer needs the address of a different node"),
            );
        }
    }

    if config.jetstream.enabled && cluster.peers.len() == 2 {
        out.push(
            Diagnostic::warning(
                "cluster.peers",
                "a two-node JetStream cluster cannot lose a node: its meta group needs both for a quorum",
            )
            .hint("run three nodes"),
        );
    }
}
