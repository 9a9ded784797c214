//! `pier-tuner boot-args`: the kernel command line for the nats-server cores, and how to install it.
//! Printing only: changing the boot loader and rebooting stay with the operator.

use std::fmt::Write as _;

use pier_config::{Config, CpuSet};

use crate::facts::cpus::{nats_cores, NatsCores, Topology};
use crate::host::{Host, HostError};

pub const GRUB_DROP_IN: &str = "/etc/default/grub.d/pier.cfg";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootArgs {
    pub isolated: CpuSet,
    pub housekeeping: CpuSet,
}

impl BootArgs {
    pub fn args(&self) -> String {
        let l = &self.isolated;
        format!(
            "isolcpus=managed_irq,domain,{l} nohz_full={l} rcu_nocbs={l} irqaffinity={}",
            self.housekeeping
        )
    }

    /// The arguments and the commands installing them on Debian and RHEL.
    pub fn instructions(&self) -> String {
        let args = self.args();
        let mut s = String::new();
        let _ = writeln!(s, "{args}\n");
        let _ = writeln!(
            s,
            "# nats-server cores {}, housekeeping cores {} (interrupts, kernel threads, everything else).",
            self.isolated, self.housekeeping
        );
        let _ = writeln!(s, "# A reboot is needed; pier-tuner never reboots.\n");
        let _ = writeln!(s, "# Debian / Ubuntu (GRUB):");
        let _ = writeln!(s, "mkdir -p /etc/default/grub.d");
        let _ = writeln!(
            s,
            "cat > {GRUB_DROP_IN} <<'EOF'\nGRUB_CMDLINE_LINUX_DEFAULT=\"$GRUB_CMDLINE_LINUX_DEFAULT {args}\"\nEOF"
        );
        let _ = writeln!(s, "update-grub\n");
        let _ = writeln!(s, "# RHEL / Rocky / Alma (grubby):");
        let _ = writeln!(s, "grubby --update-kernel=ALL --args=\"{args}\"\n");
        let _ = writeln!(
            s,
            "# After the reboot: pier-tuner check (cpu.* and pinning.*)."
        );
        s
    }
}

/// The boot arguments, or why there is no list of cores to isolate.
pub fn compute(config: &Config, host: &Host) -> Result<Result<BootArgs, String>, HostError> {
    let topology = Topology::read(host)?;
    let cores = nats_cores(&config.resources.cpus, host)?;
    let isolated = match cores {
        NatsCores::Listed(set) | NatsCores::Isolated(set) => set,
        NatsCores::AutoNothingIsolated => {
            return Ok(Err(format!(
                "resources.cpus = \"auto\" uses the cores the kernel isolates, and this host isolates none.\n\
                 Name the cores for nats-server in pier.toml, e.g. cpus = \"{nats}\" (keeping {rest} of {all} for the system),\n\
                 then run pier-tuner boot-args again.",
                nats = suggestion(&topology.possible),
                rest = topology.possible.difference(&suggestion_set(&topology.possible)),
                all = topology.possible,
            )))
        }
        NatsCores::All => {
            return Ok(Err(
                "resources.cpus = \"all\": nats-server is not pinned, so no core is isolated.\n\
                 To isolate cores, set cpus to a list in pier.toml (e.g. \"2-7\")."
                    .to_owned(),
            ))
        }
    };
    let housekeeping = topology.possible.difference(&isolated);
    if housekeeping.is_empty() {
        return Ok(Err(format!(
            "resources.cpus = \"{isolated}\" leaves no core for the kernel and the rest of the system; keep at least one out"
        )));
    }
    Ok(Ok(BootArgs {
        isolated,
        housekeeping,
    }))
}

/// Two housekeeping cores on hosts with four or more, else one.
fn suggestion_set(possible: &CpuSet) -> CpuSet {
    let keep = if possible.len() >= 4 { 2 } else { 1 };
    CpuSet::from_cpus(possible.iter().skip(keep))
}

fn suggestion(possible: &CpuSet) -> String {
    suggestion_set(possible).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_the_command_line() {
        let args = BootArgs {
            isolated: "2-7".parse().unwrap(),
            housekeeping: "0-1".parse().unwrap(),
        };
        assert_eq!(
            args.args(),
            "isolcpus=managed_irq,domain,2-7 nohz_full=2-7 rcu_nocbs=2-7 irqaffinity=0-1"
        );
        let text = args.instructions();
        assert!(text.contains("update-grub") && text.contains("grubby --update-kernel=ALL"));
    }
}
