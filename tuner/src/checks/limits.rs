//! Open-file limits and the socket sysctls.

use super::{Category, Check, Context, Spec};
use crate::facts::{self, process};
use crate::targets::{self, NOFILE};

const CAT: Category = Category::Limits;

const OPEN_FILES: Spec = Spec::one("limits.nofile", CAT, "open files for nats-server");
/// The sysctl checks: each title is the sysctl's key in [`targets::SYSCTLS`].
const SYSCTLS: [Spec; 5] = [
    Spec::one("limits.somaxconn", CAT, "net.core.somaxconn"),
    Spec::one("limits.rmem_max", CAT, "net.core.rmem_max"),
    Spec::one("limits.wmem_max", CAT, "net.core.wmem_max"),
    Spec::one("limits.tcp_rmem", CAT, "net.ipv4.tcp_rmem"),
    Spec::one("limits.tcp_wmem", CAT, "net.ipv4.tcp_wmem"),
];
pub const SPECS: &[Spec] = &[
    OPEN_FILES, SYSCTLS[0], SYSCTLS[1], SYSCTLS[2], SYSCTLS[3], SYSCTLS[4],
];

/// nats-server's own default when `max_connections` is not set.
const DEFAULT_MAX_CONNECTIONS: u64 = 65_536;

/// Descriptors nats-server may need: two per stream (message block and index), one per client.
pub fn needed_files(ctx: &Context) -> u64 {
    let streams = ctx.config.streams.len() as u64;
    let connections = ctx
        .config
        .limits
        .max_connections
        .map_or(DEFAULT_MAX_CONNECTIONS, u64::from);
    streams.saturating_mul(2).saturating_add(connections)
}

pub fn run(ctx: &Context, out: &mut Vec<Check>) {
    nofile(ctx, out);
    for spec in &SYSCTLS {
        let key = spec.title;
        let Some(target) = targets::sysctl(key) else {
            continue;
        };
        let draft = spec.draft().expected(target.expected());
        out.push(match target.read(ctx.host) {
            Err(e) => draft.error(&e),
            Ok(current) => {
                let draft = draft.observed(current.to_string());
                if target.satisfied(&current) {
                    draft.pass()
                } else {
                    draft.warn(format!(
                        "{}: `pier-tuner apply` (sysctl {key}={})",
                        target.why,
                        target.desired(&current)
                    ))
                }
            }
        });
    }
}

fn nofile(ctx: &Context, out: &mut Vec<Check>) {
    let need = needed_files(ctx);
    let draft = OPEN_FILES
        .draft()
        .expected(format!("≥ {need} (streams × 2 + connections)"));
    // Whether pier's nats-server runs decides what to read: unknown is an error, not "not running".
    let servers = match &ctx.processes {
        Ok(processes) => process::pier_servers(ctx.host, processes),
        Err(e) => {
            out.push(draft.error(e));
            return;
        }
    };
    let servers = match servers {
        Ok(servers) => servers,
        Err(e) => {
            out.push(draft.error(&e));
            return;
        }
    };
    // The unit's own, else the one pier-broker started by hand; several by hand (a local
    // cluster on one machine) cannot be told apart from here.
    let server = match servers[..] {
        [] => None,
        [one, ..] if one.in_unit || servers.len() == 1 => Some(one),
        _ => {
            let pids: Vec<String> = servers.iter().map(|s| s.pid.to_string()).collect();
            out.push(draft.skip(format!(
                "{} nats-servers run under pier-broker (pids {}), none under {}: which is this node's is unknown; check each one's /proc/PID/limits",
                servers.len(),
                pids.join(", "),
                process::UNIT
            )));
            return;
        }
    };
    if let Some(server) = server {
        let path = format!("/proc/{}/limits", server.pid);
        out.push(match ctx.host.parse(&path, process::open_files_limit) {
            Err(e) => draft.error(&e),
            Ok((soft, _)) => {
                let draft = draft.observed(format!(
                    "{soft} for pier's nats-server (pid {}, started by pier-broker pid {}{})",
                    server.pid,
                    server.supervisor,
                    if server.in_unit {
                        format!(" of {}", process::UNIT)
                    } else {
                        String::new()
                    }
                ));
                if soft >= need {
                    draft.pass()
                } else {
                    draft.fail(format!(
                        "run nats-server under the pier unit (LimitNOFILE={NOFILE})"
                    ))
                }
            }
        });
        return;
    }
    // Not running: can the unit's LimitNOFILE take effect, and does the system allow that many?
    // Another program's nats-server says nothing about pier's: it is named, not judged.
    let others: Vec<String> = ctx.nats_servers().map(|p| p.pid.to_string()).collect();
    let others = match others.len() {
        0 => String::new(),
        _ => format!(
            " (nats-server pid {} runs, but not under pier-broker: not judged)",
            others.join(", ")
        ),
    };
    let read = |path: &str| ctx.host.parse(path, facts::integer);
    let (nr_open, file_max) = match (read("/proc/sys/fs/nr_open"), read("/proc/sys/fs/file-max")) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => {
            out.push(draft.error(&e));
            return;
        }
    };
    let draft = draft.observed(format!(
        "pier's nats-server not running{others}; fs.nr_open {nr_open}, fs.file-max {file_max}"
    ));
    out.push(if nr_open < need {
        draft.fail(format!("raise fs.nr_open to {NOFILE}: `pier-tuner apply`"))
    } else if nr_open < NOFILE {
        draft.warn(format!(
            "LimitNOFILE={NOFILE} in the unit exceeds fs.nr_open: `pier-tuner apply` raises it"
        ))
    } else if file_max < need {
        draft.fail(format!("raise fs.file-max above {need}"))
    } else {
        draft.pass()
    });
}
