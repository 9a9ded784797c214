//! `pier-broker status`: this node and its view of the cluster, from its monitoring port.

use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use serde_json::json;

use pier_cli::config::load_parsed;

use super::{exit, Format, StatusArgs};
use pier_monitor::{printable, summarize, Monitor, MonitorError, NodeView};

/// How long one monitoring request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

pub fn run(args: &StatusArgs) -> anyhow::Result<ExitCode> {
    let config = match load_parsed(&args.config.config, args.format) {
        Ok(config) => config,
        Err(code) => return Ok(code),
    };
    let expected: Vec<String> = config.route_peers().map(|p| p.name.clone()).collect();
    let monitor = Monitor::new(
        config.node.monitor_listen,
        REQUEST_TIMEOUT.min(Duration::from_secs(args.timeout.max(1))),
    );
    // None: a --timeout beyond what the clock can represent waits for good.
    let deadline = Instant::now().checked_add(Duration::from_secs(args.timeout));
    let jetstream = config.jetstream.enabled;

    let (view, error) = loop {
        let (view, error) = match monitor.snapshot(true) {
            Ok(snapshot) => (Some(summarize(&snapshot, &expected)), None),
            Err(e) => (None, Some(e)),
        };
        let done = match &view {
            Some(view) => !args.wait_cluster || view.cluster_formed(jetstream),
            None => !args.wait_cluster,
        };
        if done || deadline.is_some_and(|d| Instant::now() >= d) {
            break (view, error);
        }
        std::thread::sleep(Duration::from_millis(500));
    };

    let formed = view.as_ref().is_some_and(|v| v.cluster_formed(jetstream));
    let mut out = std::io::stdout().lock();
    match args.format {
        Format::Json => {
            let report = json!({
                "monitor": monitor.base_url(),
                "reachable": view.is_some(),
                "error": error.as_ref().map(ToString::to_string),
                "not_a_nats_server": matches!(error, Some(MonitorError::NotNatsServer { .. })),
                "cluster_formed": formed,
                "node": view,
            });
            serde_json::to_writer_pretty(&mut out, &report)?;
            writeln!(out)?;
        }
        Format::Text => match &view {
            Some(view) => write_text(&mut out, view, formed)?,
            None => match &error {
                Some(e @ MonitorError::NotNatsServer { .. }) => {
                    writeln!(out, "x {}", printable(&e.to_string()))?
                }
                _ => writeln!(
                    out,
                    "x nats-server not reachable at {}: {}",
                    monitor.base_url(),
                    printable(&error.map_or("no answer".to_owned(), |e| e.to_string()))
                )?,
            },
        },
    }
    let code = match (&view, args.wait_cluster) {
        (_, true) if formed => exit::OK,
        (_, true) => exit::FAILED,
        (Some(_), false) => exit::OK,
        (None, false) => exit::CANNOT_RUN,
    };
    Ok(ExitCode::from(code))
}

fn write_text(out: &mut impl Write, view: &NodeView, formed: bool) -> std::io::Result<()> {
    writeln!(
        out,
        "Server {} (nats-server {}, up {}, {} client connection{}): {}",
        view.server,
        view.version,
        view.uptime,
        view.connections,
        if view.connections == 1 { "" } else { "s" },
        if view.healthy {
            "healthy".to_owned()
        } else {
            format!(
                "unhealthy ({})",
                view.health_error.as_deref().unwrap_or("unknown")
            )
        }
    )?;
    let routes = &view.routes;
    if !routes.expected.is_empty() {
        writeln!(
            out,
            "Routes: {} of {} peers routed ({} connections){}",
            routes.routed.len().min(routes.expected.len()),
            routes.expected.len(),
            routes.connections,
            if routes.missing.is_empty() {
                String::new()
            } else {
                format!("; missing: {}", routes.missing.join(", "))
            }
        )?;
    }
    let js = &view.jetstream;
    if js.enabled && js.cluster_size == 0 {
        writeln!(
            out,
            "JetStream: standalone, {}, {}, {}, {}",
            count(js.streams, "stream"),
            count(js.consumers, "consumer"),
            count(js.messages, "message"),
            count(js.bytes, "byte")
        )?;
    } else if js.enabled {
        writeln!(
            out,
            "JetStream: meta leader {}, cluster size {}, {}, {}, {}, {}",
            js.meta_leader.as_deref().unwrap_or("unknown"),
            js.cluster_size,
            count(js.streams, "stream"),
            count(js.consumers, "consumer"),
            count(js.messages, "message"),
            count(js.bytes, "byte")
        )?;
        for peer in &js.peers {
            writeln!(
                out,
                "  peer {:<20} {:<8} seen {}ms ago{}",
                peer.name,
                if peer.current { "current" } else { "behind" },
                peer.active_ms,
                if peer.offline { " OFFLINE" } else { "" }
            )?;
        }
    } else {
        writeln!(out, "JetStream: disabled")?;
    }
    for stream in &view.streams {
        writeln!(
            out,
            "Stream {} (R{}, leader {}): {}, {}",
            stream.name,
            stream.replicas,
            stream.leader.as_deref().unwrap_or("-"),
            count(stream.messages, "message"),
            count(stream.bytes, "byte")
        )?;
        for c in &stream.consumers {
            writeln!(
                out,
                "  consumer {:<20} lag {} (ack pending {}, redelivered {}, waiting pulls {})",
                c.name, c.pending, c.ack_pending, c.redelivered, c.waiting
            )?;
        }
    }
    writeln!(
        out,
        "Cluster: {}",
        if formed { "formed" } else { "NOT formed" }
    )
}

fn count(n: u64, noun: &str) -> String {
    format!("{n} {noun}{}", if n == 1 { "" } else { "s" })
}
