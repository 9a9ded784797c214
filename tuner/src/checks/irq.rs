//! Device interrupts kept off the nats-server cores, and irqbalance not undoing it.

use super::{fact, Category, Check, Context, Spec};
use crate::facts::interrupts::{self, IrqAffinity};
use crate::facts::irqbalance::{self, Banned};

const CAT: Category = Category::Irq;

const ISOLATED: Spec = Spec::one(
    "irq.isolated",
    CAT,
    "no device interrupt lands on the nats-server cores",
);
const IRQBALANCE: Spec = Spec::one(
    "irq.irqbalance",
    CAT,
    "irqbalance keeps off the nats-server cores",
);
pub const SPECS: &[Spec] = &[ISOLATED, IRQBALANCE];

pub fn run(ctx: &Context, out: &mut Vec<Check>) {
    let Some(cores) = fact(out, &ctx.cores, SPECS) else {
        return;
    };
    let Some(set) = cores.set() else {
        for spec in SPECS {
            out.push(spec.draft().skip("no cores reserved for nats-server"));
        }
        return;
    };

    let isolated = ISOLATED
        .draft()
        .expected(format!("every device interrupt outside {set}"));
    out.push(match interrupts::read(ctx.host) {
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

    let balance = IRQBALANCE
        .draft()
        .expected(format!("irqbalance stopped, or banned from {set}"));
    let Some(process) = fact(out, &ctx.processes, &[IRQBALANCE]) else {
        return;
    };
    let Some(pid) = process
        .iter()
        .find(|p| p.status.name == "irqbalance")
        .map(|p| p.pid)
    else {
        out.push(balance.observed("irqbalance not running").pass());
        return;
    };
    let read = || -> Result<_, crate::host::HostError> {
        let installed = irqbalance::installed(ctx.host)?;
        let version = installed.as_ref().map(|i| i.version);
        let settings = irqbalance::settings(ctx.host)?;
        let text = settings.as_ref().map_or("", |(_, text)| text.as_str());
        let banned = irqbalance::banned(ctx.host, text, version)?;
        Ok((installed, settings.map(|(file, _)| file), banned))
    };
    let (installed, file, banned) = match read() {
        Ok(facts) => facts,
        Err(e) => {
            out.push(balance.error(&e));
            return;
        }
    };
    let release = installed.map_or("release unknown".to_owned(), |i| {
        format!("{} per {}", i.version, i.source)
    });
    let file = file.unwrap_or("no settings file");
    let from = match &banned {
        Banned::Mask(_) => format!("{} in {file}", irqbalance::MASK_KEY),
        Banned::List(_) => format!("{} in {file}", irqbalance::LIST_KEY),
        Banned::Kernel(_) => {
            format!("neither key set in {file}: the kernel's isolated and nohz_full cores")
        }
        Banned::Unparseable { key, reason } => {
            format!("{key} in {file}, which irqbalance cannot parse ({reason})")
        }
    };
    let cpus = banned.cpus();
    let balance = balance.observed(format!(
        "irqbalance running (pid {pid}, {release}), bans {} by {from}",
        if cpus.is_empty() {
            "nothing".to_owned()
        } else {
            cpus.to_string()
        }
    ));
    out.push(if set.is_subset(&cpus) {
        balance.pass()
    } else {
        balance.fail(format!(
            "ban cores {} in a form this irqbalance reads: `pier-tuner apply`, then restart irqbalance",
            set.difference(&cpus)
        ))
    });
}
