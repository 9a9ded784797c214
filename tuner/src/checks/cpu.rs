//! CPU isolation: the kernel command line and sysfs against the cores nats-server is given.

use pier_config::CpuSet;

use super::{fact, Category, Check, Context, Draft, Spec};
use crate::facts::cpus::NatsCores;

const CAT: Category = Category::Cpu;

const CORES: Spec = Spec::one(
    "cpu.cores",
    CAT,
    "nats-server cores resolved from resources.cpus",
);
const ONLINE: Spec = Spec::one("cpu.online", CAT, "nats-server cores exist and are online");
const HOUSEKEEPING: Spec = Spec::one(
    "cpu.housekeeping",
    CAT,
    "housekeeping cores remain for the rest",
);
const ISOLCPUS: Spec = Spec::one("cpu.isolcpus", CAT, "isolcpus on the kernel command line");
const NOHZ_FULL: Spec = Spec::one("cpu.nohz_full", CAT, "nohz_full on the kernel command line");
const RCU_NOCBS: Spec = Spec::one("cpu.rcu_nocbs", CAT, "rcu_nocbs on the kernel command line");
const IRQAFFINITY: Spec = Spec::one(
    "cpu.irqaffinity",
    CAT,
    "irqaffinity on the kernel command line",
);
const SYSFS_ISOLATED: Spec = Spec::one(
    "cpu.sysfs_isolated",
    CAT,
    "sysfs isolated agrees with the command line",
);
const SYSFS_NOHZ_FULL: Spec = Spec::one(
    "cpu.sysfs_nohz_full",
    CAT,
    "sysfs nohz_full agrees with the command line",
);

pub const SPECS: &[Spec] = &[
    CORES,
    ISOLCPUS,
    ONLINE,
    HOUSEKEEPING,
    NOHZ_FULL,
    RCU_NOCBS,
    IRQAFFINITY,
    SYSFS_ISOLATED,
    SYSFS_NOHZ_FULL,
];

pub fn run(ctx: &Context, out: &mut Vec<Check>) {
    let Some(cores) = fact(out, &ctx.cores, SPECS) else {
        return;
    };
    out.push(CORES.draft().observed(cores.describe()).pass());
    let rest = &SPECS[1..];
    let Some(topology) = fact(out, &ctx.topology, rest) else {
        return;
    };
    let Some(cmdline) = fact(out, &ctx.cmdline, rest) else {
        return;
    };
    let last = topology.last_cpu();

    let set = match cores {
        NatsCores::Listed(set) | NatsCores::Isolated(set) => set,
        NatsCores::All => {
            for spec in rest {
                out.push(
                    spec.draft()
                        .skip("cpus = \"all\": nats-server is not pinned, no isolation wanted"),
                );
            }
            return;
        }
        NatsCores::AutoNothingIsolated => {
            out.push(
                ISOLCPUS.draft()
                    .observed("no isolated cores; cpus = \"auto\" leaves nats-server unpinned")
                    .expected("isolated cores for nats-server")
                    .warn("set resources.cpus to a list (e.g. \"2-7\") and boot with `pier-tuner boot-args`"),
            );
            for spec in &rest[1..] {
                out.push(spec.draft().skip("no cores chosen for nats-server"));
            }
            return;
        }
    };
    let hint = "apply `pier-tuner boot-args` and reboot";

    // The cores exist and are online.
    let online = ONLINE
        .draft()
        .expected(format!("{set} within online {}", topology.online));
    // Present CPUs are a subset of possible ones: one difference covers both.
    let absent = set.difference(&topology.present);
    let offline = set.difference(&topology.online);
    out.push(if !absent.is_empty() {
        online
            .observed(format!(
                "cores {absent} do not exist (possible {}, present {})",
                topology.possible, topology.present
            ))
            .fail("choose cores this host has in resources.cpus")
    } else if !offline.is_empty() {
        online
            .observed(format!(
                "cores {offline} are offline (online {})",
                topology.online
            ))
            .fail(format!(
                "bring them online: echo 1 > /sys/devices/system/cpu/cpuN/online for {offline}"
            ))
    } else {
        online.observed(format!("{set} online")).pass()
    });

    let housekeeping = topology.online.difference(set);
    let hk = HOUSEKEEPING
        .draft()
        .expected("at least one online core outside the nats-server cores");
    out.push(if housekeeping.is_empty() {
        hk.observed("none: every online core is given to nats-server")
            .fail("leave at least one core (two on an 8-core host) out of resources.cpus")
    } else {
        hk.observed(format!("{housekeeping}")).pass()
    });

    // isolcpus
    let iso = ISOLCPUS
        .draft()
        .expected(format!("isolcpus=managed_irq,domain,{set}"));
    out.push(match cmdline.isolcpus(last) {
        None => iso.observed("not set").fail(format!("isolate the nats-server cores: {hint}")),
        Some(Err(e)) => iso.observed(e).fail(hint),
        Some(Ok(isolcpus)) => {
            let observed = format!("isolcpus={}{}", flags_prefix(&isolcpus.flags), isolcpus.cpus);
            let iso = iso.observed(observed);
            if !set.is_subset(&isolcpus.cpus) {
                iso.fail(format!(
                    "cores {} of nats-server are not isolated: {hint}",
                    set.difference(&isolcpus.cpus)
                ))
            } else if !isolcpus.isolates_domain() {
                iso.warn(format!("without the domain flag the scheduler still balances onto these cores: {hint}"))
            } else if isolcpus.cpus != *set {
                iso.warn(format!(
                    "cores {} are isolated but nats-server does not use them: add them to resources.cpus or {hint}",
                    isolcpus.cpus.difference(set)
                ))
            } else {
                iso.pass()
            }
        }
    });

    for (spec, key, why) in [
        (
            NOHZ_FULL,
            "nohz_full",
            "stops the scheduler tick on the nats-server cores",
        ),
        (
            RCU_NOCBS,
            "rcu_nocbs",
            "moves RCU callbacks off the nats-server cores",
        ),
    ] {
        let draft = spec.draft().expected(format!("{key}={set}"));
        out.push(list_param(
            draft,
            cmdline.cpu_list(key, last),
            key,
            set,
            why,
            hint,
        ));
    }

    let irqaff = IRQAFFINITY
        .draft()
        .expected(format!("irqaffinity={housekeeping}"));
    out.push(match cmdline.cpu_list("irqaffinity", last) {
        None => irqaff.observed("not set").warn(format!(
            "interrupts default to every core, the isolated ones included: {hint}"
        )),
        Some(Err(e)) => irqaff.observed(e).warn(hint),
        Some(Ok(list)) => {
            let irqaff = irqaff.observed(format!("irqaffinity={list}"));
            let overlap = list.intersection(set);
            if !overlap.is_empty() {
                irqaff.fail(format!(
                    "interrupts default onto nats-server cores {overlap}: {hint}"
                ))
            } else {
                irqaff.pass()
            }
        }
    });

    // What the kernel actually did, against what the command line asks for.
    let wanted = match cmdline.isolcpus(last) {
        Some(Ok(iso)) if iso.isolates_domain() => iso.cpus,
        _ => CpuSet::new(),
    };
    let draft = SYSFS_ISOLATED.draft().expected(show(&wanted));
    out.push(sysfs_agrees(
        ctx,
        draft,
        "/sys/devices/system/cpu/isolated",
        &wanted,
    ));
    let wanted = match cmdline.cpu_list("nohz_full", last) {
        Some(Ok(list)) => list,
        _ => CpuSet::new(),
    };
    let draft = SYSFS_NOHZ_FULL.draft().expected(show(&wanted));
    out.push(sysfs_agrees(
        ctx,
        draft,
        "/sys/devices/system/cpu/nohz_full",
        &wanted,
    ));
}

fn flags_prefix(flags: &[String]) -> String {
    flags.iter().map(|f| format!("{f},")).collect()
}

fn list_param(
    draft: Draft,
    value: Option<Result<CpuSet, String>>,
    key: &str,
    set: &CpuSet,
    why: &str,
    hint: &str,
) -> super::Check {
    match value {
        None => draft
            .observed("not set")
            .warn(format!("{key} {why}: {hint}")),
        Some(Err(e)) => draft.observed(e).warn(hint),
        Some(Ok(list)) => {
            let draft = draft.observed(format!("{key}={list}"));
            if set.is_subset(&list) {
                draft.pass()
            } else {
                draft.warn(format!(
                    "{key} misses nats-server cores {}: {hint}",
                    set.difference(&list)
                ))
            }
        }
    }
}

fn sysfs_agrees(ctx: &Context, draft: Draft, path: &str, wanted: &CpuSet) -> super::Check {
    match ctx.host.cpu_list_optional(path) {
        Err(e) => draft.error(&e),
        Ok(None) if wanted.is_empty() => draft.skip(format!("{path} absent and nothing asked for")),
        Ok(None) => draft
            .observed(format!("{path} absent: this kernel ignores the parameter"))
            .warn("boot a kernel built with CONFIG_NO_HZ_FULL (Debian and RHEL kernels are)"),
        Ok(Some(actual)) => {
            let draft = draft.observed(if actual.is_empty() {
                "none".to_owned()
            } else {
                actual.to_string()
            });
            if actual == *wanted {
                draft.pass()
            } else {
                draft.warn("the kernel runs with other settings than its command line asks for: reboot after changing boot parameters")
            }
        }
    }
}

fn show(set: &CpuSet) -> String {
    if set.is_empty() {
        "none".to_owned()
    } else {
        set.to_string()
    }
}
