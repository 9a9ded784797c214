//! CPU frequency governor, transparent huge pages, swappiness, NUMA locality.

use pier_config::CpuSet;

use super::{Category, Check, Context, Spec};
use crate::facts;
use crate::targets;

const CAT: Category = Category::Power;

const GOVERNOR: Spec = Spec::one(
    "power.governor",
    CAT,
    "CPU frequency governor on the nats-server cores",
);
const THP: Spec = Spec::one("power.thp", CAT, "transparent huge pages");
const SWAPPINESS: Spec = Spec::one("power.swappiness", CAT, "vm.swappiness");
const NUMA: Spec = Spec::one("power.numa", CAT, "nats-server cores on one NUMA node");
pub const SPECS: &[Spec] = &[GOVERNOR, THP, SWAPPINESS, NUMA];

pub fn run(ctx: &Context, out: &mut Vec<Check>) {
    governor(ctx, out);
    thp(ctx, out);
    swappiness(ctx, out);
    numa(ctx, out);
}

/// The nats-server cores, or every online core when nats-server is not pinned.
fn target_cores(ctx: &Context) -> Option<CpuSet> {
    match ctx.cores.as_ref().ok().and_then(|c| c.set()) {
        Some(set) => Some(set.clone()),
        None => ctx.topology.as_ref().ok().map(|t| t.online.clone()),
    }
}

fn governor(ctx: &Context, out: &mut Vec<Check>) {
    let draft = GOVERNOR.draft();
    let Some(cores) = target_cores(ctx) else {
        out.push(draft.skip("CPU topology unknown"));
        return;
    };
    let draft = draft.expected(format!("performance on {cores}"));
    let mut slow = Vec::new();
    let mut seen = 0;
    for cpu in cores.iter() {
        match ctx.host.read_optional(format!(
            "/sys/devices/system/cpu/cpu{cpu}/cpufreq/scaling_governor"
        )) {
            Err(e) => {
                out.push(draft.error(&e));
                return;
            }
            Ok(None) => {}
            Ok(Some(g)) => {
                seen += 1;
                if g.trim() != "performance" {
                    slow.push(format!("cpu{cpu}={}", g.trim()));
                }
            }
        }
    }
    out.push(if seen == 0 {
        draft.skip("no cpufreq on these cores (a VM, or frequency fixed by firmware)")
    } else if slow.is_empty() {
        draft.observed(format!("performance on {seen} cores")).pass()
    } else {
        draft
            .observed(slow.join(", "))
            .warn("set the performance governor: `pier-tuner apply` (ramping up the clock costs tens of microseconds per burst)")
    });
}

fn thp(ctx: &Context, out: &mut Vec<Check>) {
    let path = "/sys/kernel/mm/transparent_hugepage/enabled";
    let draft = THP.draft().expected("madvise or never");
    out.push(match ctx.host.read_optional(path) {
        Err(e) => draft.error(&e),
        Ok(None) => draft.skip("kernel without transparent huge pages"),
        Ok(Some(text)) => match facts::selected(&text) {
            Some(mode @ ("madvise" | "never")) => draft.observed(mode).pass(),
            Some(mode) => draft
                .observed(mode)
                .warn("khugepaged compaction stalls cause latency spikes: `pier-tuner apply` sets madvise"),
            None => draft.observed("empty").warn("set madvise"),
        },
    });
}

fn swappiness(ctx: &Context, out: &mut Vec<Check>) {
    let Some(target) = targets::sysctl("vm.swappiness") else {
        return;
    };
    let draft = SWAPPINESS.draft().expected(target.expected());
    out.push(match target.read(ctx.host) {
        Err(e) => draft.error(&e),
        Ok(current) => {
            let draft = draft.observed(current.to_string());
            if target.satisfied(&current) {
                draft.pass()
            } else {
                draft.warn(format!("{}: `pier-tuner apply`", target.why))
            }
        }
    });
}

fn numa(ctx: &Context, out: &mut Vec<Check>) {
    let draft = NUMA.draft();
    let nodes: Vec<String> = match ctx.host.list("/sys/devices/system/node") {
        Err(e) => {
            out.push(draft.error(&e));
            return;
        }
        Ok(names) => names
            .into_iter()
            .filter(|n| {
                n.strip_prefix("node")
                    .is_some_and(|d| d.parse::<u32>().is_ok())
            })
            .collect(),
    };
    if nodes.len() < 2 {
        out.push(draft.skip("single NUMA node"));
        return;
    }
    let Some(cores) = target_cores(ctx) else {
        out.push(draft.skip("CPU topology unknown"));
        return;
    };
    let mut spanned = Vec::new();
    for node in &nodes {
        match ctx
            .host
            .cpu_list(format!("/sys/devices/system/node/{node}/cpulist"))
        {
            Err(e) => {
                out.push(draft.error(&e));
                return;
            }
            Ok(list) => {
                let part = list.intersection(&cores);
                if !part.is_empty() {
                    spanned.push((node.clone(), part));
                }
            }
        }
    }
    let draft = draft.expected(format!(
        "{cores} on one of {} nodes, with the store disk",
        nodes.len()
    ));
    let observed: Vec<String> = spanned.iter().map(|(n, p)| format!("{n}: {p}")).collect();
    if spanned.len() > 1 {
        out.push(draft.observed(observed.join("; ")).warn(
            "choose resources.cpus from one node (the one holding the NIC and the store disk): cross-node memory access adds latency",
        ));
        return;
    }
    let node = spanned.first().map(|(n, _)| n.clone()).unwrap_or_default();
    // The store disk's node, when sysfs knows it (-1: no affinity, as on most single-socket boxes).
    let mut far = Vec::new();
    if ctx.config.jetstream.enabled {
        match super::storage::store_disks(ctx.host, &ctx.config.jetstream.store_dir) {
            Err(e) => {
                out.push(draft.error(&e));
                return;
            }
            Ok(disks) => {
                for (disk, _) in disks {
                    let path = format!("/sys/block/{disk}/device/numa_node");
                    match ctx.host.read_optional(&path) {
                        Err(e) => {
                            out.push(draft.error(&e));
                            return;
                        }
                        Ok(Some(n)) => {
                            let n = n.trim();
                            if !n.starts_with('-') && format!("node{n}") != node {
                                far.push(format!("store disk {disk} on node{n}"));
                            }
                        }
                        Ok(None) => {}
                    }
                }
            }
        }
    }
    let draft = draft.observed(
        observed
            .into_iter()
            .chain(far.iter().cloned())
            .collect::<Vec<_>>()
            .join("; "),
    );
    out.push(if far.is_empty() {
        draft.pass()
    } else {
        draft.warn(format!(
            "every fsync crosses the interconnect: put the nats-server cores on the store disk's node, or the store on a disk attached to {node}"
        ))
    })
}
