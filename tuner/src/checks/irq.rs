//! Device interrupts kept off the nats-server cores, and irqbalance not undoing it.

use pier_config::CpuSet;

use super::{check, fact, Category, Check, Context};
use crate::facts::{env_file, interrupts};
use crate::host::{Host, HostError};

const CAT: Category = Category::Irq;

/// irqbalance's settings, Debian's path first.
pub const IRQBALANCE_FILES: &[&str] = &["/etc/default/irqbalance", "/etc/sysconfig/irqbalance"];

#[derive(Debug, Clone)]
pub struct IrqAffinity {
    pub irq: interrupts::Interrupt,
    /// What was asked (`smp_affinity_list`).
    pub requested: CpuSet,
    /// Where the interrupt is actually delivered, when the kernel says.
    pub effective: Option<CpuSet>,
}

impl IrqAffinity {
    pub fn landing(&self) -> &CpuSet {
        match &self.effective {
            Some(set) if !set.is_empty() => set,
            _ => &self.requested,
        }
    }
}

/// Every numbered interrupt with its affinity; interrupts without a `/proc/irq/N` entry (gone,
/// or per-CPU) are left out.
pub fn read_irqs(host: &Host) -> Result<Vec<IrqAffinity>, HostError> {
    let irqs = host.parse("/proc/interrupts", interrupts::parse)?;
    let mut out = Vec::new();
    for irq in irqs {
        let dir = format!("/proc/irq/{}", irq.irq);
        let requested = match host.cpu_list_optional(format!("{dir}/smp_affinity_list"))? {
            Some(set) => set,
            None => match host.read_optional(format!("{dir}/smp_affinity"))? {
                Some(mask) => CpuSet::from_mask(mask.trim()).map_err(|e| {
                    HostError::parse(host.path(format!("{dir}/smp_affinity")), e.to_string())
                })?,
                None => continue,
            },
        };
        let effective = host.cpu_list_optional(format!("{dir}/effective_affinity_list"))?;
        out.push(IrqAffinity {
            irq,
            requested,
            effective,
        });
    }
    Ok(out)
}

/// The cores irqbalance is told to leave alone, and the file that says so.
pub fn irqbalance_banned(host: &Host) -> Result<Option<(String, CpuSet)>, HostError> {
    for file in IRQBALANCE_FILES {
        let Some(text) = host.read_optional(file)? else {
            continue;
        };
        let bad = |reason: String| HostError::parse(host.path(file), reason);
        if let Some(list) = env_file::value(&text, "IRQBALANCE_BANNED_CPULIST") {
            let set = crate::facts::cpu_list(list).map_err(bad)?;
            return Ok(Some((file.to_string(), set)));
        }
        if let Some(mask) = env_file::value(&text, "IRQBALANCE_BANNED_CPUS") {
            let set = CpuSet::from_mask(mask).map_err(|e| bad(e.to_string()))?;
            return Ok(Some((file.to_string(), set)));
        }
    }
    Ok(None)
}

pub fn run(ctx: &Context, out: &mut Vec<Check>) {
    let isolated = check(
        "irq.isolated",
        CAT,
        "no device interrupt lands on the nats-server cores",
    );
    let balance = check(
        "irq.irqbalance",
        CAT,
        "irqbalance keeps off the nats-server cores",
    );
    let Some(cores) = fact(out, &ctx.cores, isolated_draft) else {
        return;
    };
    let Some(set) = cores.set() else {
        out.push(isolated.skip("no cores reserved for nats-server"));
        out.push(balance.skip("no cores reserved for nats-server"));
        return;
    };

    let isolated = isolated.expected(format!("every device interrupt outside {set}"));
    out.push(match read_irqs(ctx.host) {
        Err(e) => isolated.error(&e),
        Ok(irqs) => {
            let on: Vec<&IrqAffinity> = irqs
                .iter()
                .filter(|a| !a.landing().intersection(set).is_empty())
                .collect();
            let network = on.iter().filter(|a| a.irq.is_network()).count();
            let listed: Vec<String> = on
                .iter()
                .take(6)
                .map(|a| format!("{} {} → {}", a.irq.irq, a.irq.name, a.landing()))
                .collect();
            let more = if on.len() > 6 { ", ..." } else { "" };
            let isolated = isolated.observed(if on.is_empty() {
                format!("{} interrupts, none on {set}", irqs.len())
            } else {
                format!("{} on {set} ({network} network): {}{more}", on.len(), listed.join(", "))
            });
            let fix = "move them: `pier-tuner apply` (writes /proc/irq/N/smp_affinity_list), and boot with irqaffinity= (`pier-tuner boot-args`)";
            if network > 0 {
                isolated.fail(fix)
            } else if !on.is_empty() {
                isolated.warn(fix)
            } else {
                isolated.pass()
            }
        }
    });

    let running = ctx.running("irqbalance").map(|p| p.pid);
    let balance = balance.expected(format!("irqbalance stopped, or banned from {set}"));
    out.push(match (irqbalance_banned(ctx.host), running) {
        (Err(e), _) => balance.error(&e),
        (Ok(_), None) => balance.observed("irqbalance not running").pass(),
        (Ok(None), Some(pid)) => balance
            .observed(format!("irqbalance running (pid {pid}) with no banned cores"))
            .fail(format!("set IRQBALANCE_BANNED_CPULIST={set} in /etc/default/irqbalance (`pier-tuner apply`) and restart irqbalance")),
        (Ok(Some((file, banned))), Some(pid)) => {
            let balance = balance.observed(format!("irqbalance running (pid {pid}), banned {banned} in {file}"));
            if set.is_subset(&banned) {
                balance.pass()
            } else {
                balance.fail(format!("ban cores {} too: `pier-tuner apply`, then restart irqbalance", set.difference(&banned)))
            }
        }
    });
}

fn isolated_draft() -> super::Draft {
    check(
        "irq.isolated",
        CAT,
        "no device interrupt lands on the nats-server cores",
    )
}
