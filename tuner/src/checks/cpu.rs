//! CPU isolation: the kernel command line and sysfs against the cores nats-server is given.

use pier_config::CpuSet;

use super::{check, fact, Category, Check, Context, Draft, NatsCores};

const CAT: Category = Category::Cpu;

pub fn run(ctx: &Context, out: &mut Vec<Check>) {
    let Some(cores) = fact(out, &ctx.cores, || {
        check("cpu.cores", CAT, "nats-server cores")
    }) else {
        return;
    };
    let Some(topology) = fact(out, &ctx.topology, || {
        check("cpu.online", CAT, "nats-server cores exist and are online")
    }) else {
        return;
    };
    let Some(cmdline) = fact(out, &ctx.cmdline, || {
        check("cpu.isolcpus", CAT, "isolcpus on the kernel command line")
    }) else {
        return;
    };
    let last = topology.last_cpu();

    let set = match cores {
        NatsCores::Listed(set) | NatsCores::Isolated(set) => set,
        NatsCores::All => {
            for (id, title) in TITLES {
                out.push(
                    check(*id, CAT, *title)
                        .skip("cpus = \"all\": nats-server is not pinned, no isolation wanted"),
                );
            }
            return;
        }
        NatsCores::AutoNothingIsolated => {
            out.push(
                check("cpu.isolcpus", CAT, "isolcpus on the kernel command line")
                    .observed("no isolated cores; cpus = \"auto\" leaves nats-server unpinned")
                    .expected("isolated cores for nats-server")
                    .warn("set resources.cpus to a list (e.g. \"2-7\") and boot with `pier-tuner boot-args`"),
            );
            for (id, title) in &TITLES[1..] {
                out.push(check(*id, CAT, *title).skip("no cores chosen for nats-server"));
            }
            return;
        }
    };
    let hint = "apply `pier-tuner boot-args` and reboot";

    // The cores exist and are online.
    let online = check("cpu.online", CAT, "nats-server cores exist and are online")
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
    let hk = check(
        "cpu.housekeeping",
        CAT,
        "housekeeping cores remain for the rest",
    )
    .expected("at least one online core outside the nats-server cores");
    out.push(if housekeeping.is_empty() {
        hk.observed("none: every online core is given to nats-server")
            .fail("leave at least one core (two on an 8-core host) out of resources.cpus")
    } else {
        hk.observed(format!("{housekeeping}")).pass()
    });

    // isolcpus
    let iso = check("cpu.isolcpus", CAT, "isolcpus on the kernel command line")
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

    for (key, why) in [
        (
            "nohz_full",
            "stops the scheduler tick on the nats-server cores",
        ),
        ("rcu_nocbs", "moves RCU callbacks off the nats-server cores"),
    ] {
        let draft = check(
            format!("cpu.{key}"),
            CAT,
            format!("{key} on the kernel command line"),
        )
        .expected(format!("{key}={set}"));
        out.push(list_param(
            draft,
            cmdline.cpu_list(key, last),
            key,
            set,
            why,
            hint,
        ));
    }

    let irqaff = check(
        "cpu.irqaffinity",
        CAT,
        "irqaffinity on the kernel command line",
    )
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
    let draft = check(
        "cpu.sysfs_isolated",
        CAT,
        "sysfs isolated agrees with the command line",
    )
    .expected(show(&wanted));
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
    let draft = check(
        "cpu.sysfs_nohz_full",
        CAT,
        "sysfs nohz_full agrees with the command line",
    )
    .expected(show(&wanted));
    out.push(sysfs_agrees(
        ctx,
        draft,
        "/sys/devices/system/cpu/nohz_full",
        &wanted,
    ));
}

const TITLES: &[(&str, &str)] = &[
    ("cpu.isolcpus", "isolcpus on the kernel command line"),
    ("cpu.online", "nats-server cores exist and are online"),
    ("cpu.housekeeping", "housekeeping cores remain for the rest"),
    ("cpu.nohz_full", "nohz_full on the kernel command line"),
    ("cpu.rcu_nocbs", "rcu_nocbs on the kernel command line"),
    ("cpu.irqaffinity", "irqaffinity on the kernel command line"),
    (
        "cpu.sysfs_isolated",
        "sysfs isolated agrees with the command line",
    ),
    (
        "cpu.sysfs_nohz_full",
        "sysfs nohz_full agrees with the command line",
    ),
];

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
