//! Open-file limits and the socket sysctls.

use super::{check, Category, Check, Context};
use crate::facts::{self, process};
use crate::targets::{self, NOFILE};

const CAT: Category = Category::Limits;

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
    streams * 2 + connections
}

pub fn run(ctx: &Context, out: &mut Vec<Check>) {
    nofile(ctx, out);
    for (id, key) in [
        ("limits.somaxconn", "net.core.somaxconn"),
        ("limits.rmem_max", "net.core.rmem_max"),
        ("limits.wmem_max", "net.core.wmem_max"),
        ("limits.tcp_rmem", "net.ipv4.tcp_rmem"),
        ("limits.tcp_wmem", "net.ipv4.tcp_wmem"),
    ] {
        let Some(target) = targets::sysctl(key) else {
            continue;
        };
        let draft = check(id, CAT, key).expected(target.expected());
        out.push(match ctx.host.read_optional(target.path()) {
            Err(e) => draft.error(&e),
            Ok(None) => draft.skip(format!("no {}", target.path())),
            Ok(Some(text)) => {
                let value = text.split_whitespace().collect::<Vec<_>>().join(" ");
                let draft = draft.observed(&value);
                match target.satisfied(&text) {
                    Ok(true) => draft.pass(),
                    Ok(false) => draft.warn(format!(
                        "{}: `pier-tuner apply` (sysctl {key}={})",
                        target.why,
                        target.desired(Some(&text))
                    )),
                    Err(e) => draft.observed(e).warn(format!("set {key}")),
                }
            }
        });
    }
}

fn nofile(ctx: &Context, out: &mut Vec<Check>) {
    let need = needed_files(ctx);
    let draft = check("limits.nofile", CAT, "open files for nats-server")
        .expected(format!("≥ {need} (streams × 2 + connections)"));
    if let Some(server) = ctx.nats_servers().next() {
        let path = format!("/proc/{}/limits", server.pid);
        out.push(match ctx.host.parse(&path, process::open_files_limit) {
            Err(e) => draft.error(&e),
            Ok((soft, _)) => {
                let draft = draft.observed(format!(
                    "{soft} for the running nats-server (pid {})",
                    server.pid
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
    let read = |path: &str| ctx.host.parse(path, facts::integer);
    let (nr_open, file_max) = match (read("/proc/sys/fs/nr_open"), read("/proc/sys/fs/file-max")) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => {
            out.push(draft.error(&e));
            return;
        }
    };
    let draft = draft.observed(format!(
        "nats-server not running; fs.nr_open {nr_open}, fs.file-max {file_max}"
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
