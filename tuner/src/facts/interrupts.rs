//! `/proc/interrupts`: which device each numbered interrupt belongs to, and where
//! `/proc/irq/N/` says it is delivered. The procfs crate has no parser for these files.

use pier_config::CpuSet;

use crate::host::{Host, HostError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interrupt {
    pub irq: u32,
    /// The device actions (`eth0-TxRx-0`, `nvme0q1`), comma-separated when shared.
    pub name: String,
}

impl Interrupt {
    /// A network queue, the interrupts that matter most: they run the receive path on the core
    /// they land on.
    pub fn is_network(&self) -> bool {
        const PREFIXES: &[&str] = &[
            "eth",
            "ens",
            "enp",
            "eno",
            "enx",
            "em",
            "bond",
            "mlx",
            "ice",
            "i40e",
            "ixgbe",
            "igb",
            "bnxt",
            "nfp",
            "ena",
            "gve",
            "virtio",
            "hv_netvsc",
        ];
        let name = self.name.to_ascii_lowercase();
        if name.starts_with("virtio") {
            return name.contains("input") || name.contains("output");
        }
        PREFIXES.iter().any(|p| name.starts_with(p))
            || name.contains("txrx")
            || name.contains("-rx-")
            || name.contains("-tx-")
    }
}

/// Numbered interrupts only: the named rows (NMI, LOC, ...) are per-CPU and cannot be moved.
pub fn parse(text: &str) -> Result<Vec<Interrupt>, String> {
    let mut lines = text.lines();
    let cpus = lines
        .next()
        .ok_or("empty file")?
        .split_whitespace()
        .filter(|w| w.starts_with("CPU"))
        .count();
    let mut out = Vec::new();
    for line in lines {
        let Some((label, rest)) = line.split_once(':') else {
            continue;
        };
        let Ok(irq) = label.trim().parse() else {
            continue;
        };
        let words: Vec<&str> = rest.split_whitespace().skip(cpus).collect();
        // The chip columns end with the trigger type ("-edge", "-fasteoi", "Edge"); the device
        // names follow.
        let name = match words.iter().position(|w| is_trigger(w)) {
            Some(i) if i + 1 < words.len() => words[i + 1..].join(" "),
            _ => words.last().map(|w| (*w).to_owned()).unwrap_or_default(),
        };
        out.push(Interrupt { irq, name });
    }
    Ok(out)
}

fn is_trigger(word: &str) -> bool {
    let w = word.to_ascii_lowercase();
    w.ends_with("edge") || w.ends_with("level") || w.ends_with("fasteoi")
}

#[derive(Debug, Clone)]
pub struct IrqAffinity {
    pub irq: Interrupt,
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
pub fn read(host: &Host) -> Result<Vec<IrqAffinity>, HostError> {
    let irqs = host.parse("/proc/interrupts", parse)?;
    let mut out = Vec::new();
    for irq in irqs {
        let dir = format!("/proc/irq/{}", irq.irq);
        let requested = match host.cpu_list_optional(format!("{dir}/smp_affinity_list"))? {
            Some(set) => set,
            None => {
                let mask = format!("{dir}/smp_affinity");
                match host.read_optional(&mask)? {
                    Some(text) => CpuSet::from_mask(text.trim())
                        .map_err(|e| HostError::parse(host.path(&mask), e.to_string()))?,
                    None => continue,
                }
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_device_names() {
        let text = "           CPU0       CPU1\n\
                      0:         35          0   IO-APIC   2-edge      timer\n\
                     24:       1000        200   PCI-MSI 524288-edge      eth0-TxRx-0\n\
                     25:          0          0   PCI-MSI 1048576-edge      nvme0q1\n\
                     26:          0          0   PCI-MSI 49152-edge      virtio0-input.0\n\
                    NMI:          0          0   Non-maskable interrupts\n";
        let irqs = parse(text).unwrap();
        assert_eq!(irqs.len(), 4);
        assert_eq!(irqs[1].name, "eth0-TxRx-0");
        assert!(irqs[1].is_network());
        assert!(!irqs[2].is_network());
        assert!(irqs[3].is_network());
        assert!(!irqs[0].is_network());
    }
}
