//! nats-server's threads confined to its cores, and everything else kept off them.

use pier_config::CpuSet;

use super::{fact, Category, Check, Context, Spec};
use crate::facts::process;
use crate::host::is_gone;

const CAT: Category = Category::Pinning;

const THREADS: Spec = Spec::one(
    "pinning.threads",
    CAT,
    "every nats-server thread confined to its cores",
);
const OTHERS: Spec = Spec::one(
    "pinning.others",
    CAT,
    "other processes kept off the nats-server cores",
);
pub const SPECS: &[Spec] = &[THREADS, OTHERS];

pub fn run(ctx: &Context, out: &mut Vec<Check>) {
    let Some(cores) = fact(out, &ctx.cores, SPECS) else {
        return;
    };
    let Some(set) = cores.set() else {
        out.push(
            THREADS
                .draft()
                .skip(format!("{}: nats-server is not pinned", cores.describe())),
        );
        out.push(OTHERS.draft().skip("no cores reserved for nats-server"));
        return;
    };
    if fact(out, &ctx.processes, SPECS).is_none() {
        return;
    }
    let threads = THREADS.draft();
    let threads = threads.expected(format!("all threads within {set}"));
    let servers: Vec<_> = ctx.nats_servers().collect();
    if servers.is_empty() {
        out.push(threads.skip("nats-server is not running"));
    } else {
        let mut stray = Vec::new();
        let mut total = 0;
        let mut error = None;
        for server in &servers {
            match thread_affinities(ctx, server.pid) {
                Ok(list) => {
                    total += list.len();
                    for (tid, cpus) in list {
                        if !cpus.is_subset(set) {
                            stray.push((server.pid, tid, cpus));
                        }
                    }
                }
                Err(e) => error = Some(e),
            }
        }
        out.push(if let Some(e) = error {
            threads.error(&e)
        } else if stray.is_empty() {
            threads.observed(format!("{total} threads within {set}")).pass()
        } else {
            let (pid, _, cpus) = &stray[0];
            let pin = format!(
                "restart nats-server under pier-broker (it pins at start) or run `pier-tuner pin --pid {pid} --cpus {set}`"
            );
            threads
                .observed(format!("{} of {total} threads may run on {cpus} (pid {pid})", stray.len()))
                .fail(pin)
        });
    }

    let others = OTHERS
        .draft()
        .expected(format!("other processes off {set}"));
    let mut crowding: Vec<String> = ctx
        .processes
        .iter()
        .flatten()
        .filter(|p| !p.status.kernel_thread && p.status.name != "nats-server")
        .filter(|p| !p.status.cpus_allowed.intersection(set).is_empty())
        .map(|p| format!("{}[{}]", p.status.name, p.pid))
        .collect();
    let count = crowding.len();
    crowding.truncate(5);
    out.push(if count == 0 {
        others.observed("none").pass()
    } else {
        others
            .observed(format!("{count} processes may run there: {}{}", crowding.join(", "), if count > 5 { ", ..." } else { "" }))
            .warn("isolate the cores (`pier-tuner boot-args`) or confine services with systemd's CPUAffinity= to the housekeeping cores")
    });
}

/// Each thread's allowed CPUs; threads that exit during the walk are left out.
fn thread_affinities(
    ctx: &Context,
    pid: u32,
) -> Result<Vec<(u32, CpuSet)>, crate::host::HostError> {
    let mut out = Vec::new();
    for tid in ctx.host.list_numeric(format!("/proc/{pid}/task"))? {
        match ctx
            .host
            .parse(format!("/proc/{pid}/task/{tid}/status"), process::status)
        {
            Ok(status) => out.push((tid, status.cpus_allowed)),
            Err(e) if is_gone(&e) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}
