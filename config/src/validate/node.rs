//! This node's identity, listeners, CPU placement and limits.

use std::net::SocketAddr;

use super::files::check_path;
use super::{check_tag, name_problem};
use crate::diagnostic::Diagnostic;
use crate::model::{Config, CpuPlacement};

/// nats-server refuses payloads above its max_pending (64 MiB) and advises staying under 8 MiB.
const HARD_MAX_PAYLOAD: u64 = 64 << 20;
const ADVISED_MAX_PAYLOAD: u64 = 8 << 20;
/// nats-server refuses a shorter lame duck duration.
const MIN_LAME_DUCK: std::time::Duration = std::time::Duration::from_secs(30);

pub(super) fn check(config: &Config, out: &mut Vec<Diagnostic>) {
    let node = &config.node;
    if let Some(problem) = name_problem(&node.name) {
        out.push(Diagnostic::error(
            "node.name",
            format!("server name {problem}"),
        ));
    }

    let listeners = [
        ("node.client_listen", node.client_listen),
        ("node.monitor_listen", node.monitor_listen),
        ("node.cluster_listen", node.cluster_listen),
    ];
    for (i, (key, addr)) in listeners.iter().enumerate() {
        if addr.port() == 0 {
            out.push(
                Diagnostic::error(*key, "port 0 is not a fixed port")
                    .hint("give every listener an explicit port"),
            );
        }
        if let Some(problem) = unbindable(addr) {
            out.push(
                Diagnostic::error(*key, format!("{addr} {problem}"))
                    .hint("listen on a unicast address of this host, or on 0.0.0.0 / ::"),
            );
        }
        for (other_key, other) in &listeners[..i] {
            if clash(addr, other) {
                out.push(
                    Diagnostic::error(
                        *key,
                        format!("{addr} uses the same port as {other_key} ({other})"),
                    )
                    .hint("each listener needs its own port"),
                );
            }
        }
    }
    if let Some(binary) = &node.nats_server {
        check_path("node.nats_server", binary, out);
    }
    for (i, tag) in node.tags.iter().enumerate() {
        check_tag(format!("node.tags[{i}]"), tag, out);
    }
    if limits_write_deadline_is_zero(config) {
        out.push(
            Diagnostic::error("limits.write_deadline", "a write deadline of zero")
                .hint("omit it for nats-server's default (10s)"),
        );
    }
    if !node.monitor_listen.ip().is_loopback() {
        out.push(
            Diagnostic::warning(
                "node.monitor_listen",
                format!(
                    "monitoring is exposed on {} without authentication",
                    node.monitor_listen
                ),
            )
            .hint("keep it on 127.0.0.1 unless a firewall protects it"),
        );
    }

    if let CpuPlacement::List(cpus) = &config.resources.cpus {
        if cpus.is_empty() {
            out.push(
                Diagnostic::error("resources.cpus", "the CPU list is empty")
                    .hint("write e.g. \"2-7\", or \"auto\" for the kernel's isolated cores"),
            );
        }
    }
    if let Some(limit) = config.resources.memory_limit {
        if limit.get() < 64 << 20 {
            out.push(Diagnostic::error(
                "resources.memory_limit",
                format!("{limit} is too small for nats-server with JetStream (at least 64MiB)"),
            ));
        }
    }

    let limits = &config.limits;
    if let Some(payload) = limits.max_payload {
        if payload.get() == 0 || payload.get() > HARD_MAX_PAYLOAD {
            out.push(Diagnostic::error(
                "limits.max_payload",
                format!("{payload} is outside nats-server's range (1 byte to 64MiB)"),
            ));
        } else if payload.get() > ADVISED_MAX_PAYLOAD {
            out.push(
                Diagnostic::warning("limits.max_payload", format!("{payload} is above 8MiB"))
                    .hint("large payloads stall other clients on the same connection; NATS advises at most 8MiB"),
            );
        }
    }
    if limits.max_connections == Some(0) {
        out.push(Diagnostic::error(
            "limits.max_connections",
            "0 would refuse every client",
        ));
    }
    if limits.lame_duck_duration.get() < MIN_LAME_DUCK {
        out.push(Diagnostic::error(
            "limits.lame_duck_duration",
            format!(
                "{} is shorter than nats-server's minimum lame duck duration of 30s",
                limits.lame_duck_duration
            ),
        ));
    }
    if limits.lame_duck_grace_period >= limits.lame_duck_duration {
        out.push(
            Diagnostic::error(
                "limits.lame_duck_grace_period",
                format!(
                    "grace period {} is not shorter than lame_duck_duration {}",
                    limits.lame_duck_grace_period, limits.lame_duck_duration
                ),
            )
            .hint("the grace period is the start of the lame duck duration; nats-server requires it shorter"),
        );
    }
}

/// Why a listener could not bind `addr`, though it parses: nats-server would fail at start.
fn unbindable(addr: &SocketAddr) -> Option<&'static str> {
    match addr {
        SocketAddr::V4(v4) if v4.ip().is_multicast() || v4.ip().is_broadcast() => {
            Some("is a multicast or broadcast address")
        }
        SocketAddr::V6(v6) if v6.ip().is_multicast() => Some("is a multicast address"),
        // nats-server's host takes no zone, and pier renders the address without it.
        SocketAddr::V6(v6) if v6.scope_id() != 0 => {
            Some("has an IPv6 zone, which nats-server cannot be given")
        }
        _ => None,
    }
}

/// Two listeners clash when they share a port and their addresses can overlap.
fn clash(a: &SocketAddr, b: &SocketAddr) -> bool {
    a.port() == b.port() && (a.ip() == b.ip() || a.ip().is_unspecified() || b.ip().is_unspecified())
}

fn limits_write_deadline_is_zero(config: &Config) -> bool {
    config
        .limits
        .write_deadline
        .is_some_and(|d| d.get().is_zero())
}
