//! `pier-tuner apply`: the run-time settings, as a list of file writes derived from the host.
//!
//! Every change is "write this content to this file" — sysfs, procfs and /etc alike — so the
//! dry run prints exactly what `apply` does, as a shell script. Originals are saved once, before
//! the first change, and never overwritten.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use pier_config::{Config, CpuSet};

use crate::checks::irq::{read_irqs, IRQBALANCE_FILES};
use crate::checks::{nats_cores, processes, Topology};
use crate::facts::{self, env_file};
use crate::host::{Host, HostError};
use crate::targets::SYSCTLS;

pub const ORIGINALS: &str = "/var/lib/pier/tuner/originals.json";
pub const SYSCTL_DROP_IN: &str = "/etc/sysctl.d/60-pier.conf";

/// One write: `content` (ending in a newline) into the host file `path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub path: String,
    pub content: String,
    pub why: String,
}

/// Per-CPU and managed interrupts (the timer, NVMe queues) refuse a new affinity with EIO.
const KERNEL_MANAGED: &str = "the kernel manages this interrupt's affinity, left as is";

impl Change {
    fn is_irq(&self) -> bool {
        self.path.starts_with("/proc/irq/")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Host(#[from] HostError),
}

/// The changes this host needs; empty when it is already tuned.
pub fn plan(config: &Config, host: &Host) -> Result<Vec<Change>, HostError> {
    let topology = Topology::read(host)?;
    let cores = nats_cores(&config.resources.cpus, host)?;
    let mut changes = Vec::new();

    if let Some(set) = cores.set() {
        governor(host, set, &mut changes)?;
    }
    thp(host, &mut changes)?;
    sysctls(host, &mut changes)?;
    if let Some(set) = cores.set() {
        let housekeeping = topology.online.difference(set);
        if !housekeeping.is_empty() {
            irqs(host, set, &housekeeping, &mut changes)?;
        }
        irqbalance(host, set, &mut changes)?;
    }
    Ok(changes)
}

fn governor(host: &Host, set: &CpuSet, out: &mut Vec<Change>) -> Result<(), HostError> {
    for cpu in set.iter() {
        let dir = format!("/sys/devices/system/cpu/cpu{cpu}/cpufreq");
        let Some(current) = host.read_optional(format!("{dir}/scaling_governor"))? else {
            continue;
        };
        let available = host.read_optional(format!("{dir}/scaling_available_governors"))?;
        let offered = available.map_or(true, |a| a.split_whitespace().any(|g| g == "performance"));
        if current.trim() != "performance" && offered {
            out.push(Change {
                path: format!("{dir}/scaling_governor"),
                content: "performance\n".to_owned(),
                why: format!(
                    "cpu{cpu} runs nats-server: keep it at full clock (was {})",
                    current.trim()
                ),
            });
        }
    }
    Ok(())
}

fn thp(host: &Host, out: &mut Vec<Change>) -> Result<(), HostError> {
    let path = "/sys/kernel/mm/transparent_hugepage/enabled";
    if let Some(text) = host.read_optional(path)? {
        if facts::selected(&text) == Some("always") {
            out.push(Change {
                path: path.to_owned(),
                content: "madvise\n".to_owned(),
                why: "transparent huge pages only on request: khugepaged compaction stalls cause latency spikes".to_owned(),
            });
        }
    }
    Ok(())
}

fn sysctls(host: &Host, out: &mut Vec<Change>) -> Result<(), HostError> {
    let mut drop_in =
        String::from("# Written by pier-tuner apply: sysctls for a low-latency NATS node.\n");
    let mut live = Vec::new();
    for sysctl in SYSCTLS {
        let current = host.read_optional(sysctl.path())?;
        let value = sysctl.desired(current.as_deref());
        let _ = writeln!(drop_in, "# {}\n{} = {value}", sysctl.why, sysctl.key);
        if let Some(current) = current {
            if sysctl.satisfied(&current) != Ok(true) {
                live.push(Change {
                    path: sysctl.path(),
                    content: format!("{value}\n"),
                    why: format!(
                        "{} = {value} now (was {}): {}",
                        sysctl.key,
                        current.split_whitespace().collect::<Vec<_>>().join(" "),
                        sysctl.why
                    ),
                });
            }
        }
    }
    if host.read_optional(SYSCTL_DROP_IN)?.as_deref() != Some(drop_in.as_str()) {
        out.push(Change {
            path: SYSCTL_DROP_IN.to_owned(),
            content: drop_in,
            why: "keep the sysctls across reboots".to_owned(),
        });
    }
    out.extend(live);
    Ok(())
}

fn irqs(
    host: &Host,
    set: &CpuSet,
    housekeeping: &CpuSet,
    out: &mut Vec<Change>,
) -> Result<(), HostError> {
    for irq in read_irqs(host)? {
        if !irq.requested.intersection(set).is_empty() {
            out.push(Change {
                path: format!("/proc/irq/{}/smp_affinity_list", irq.irq.irq),
                content: format!("{housekeeping}\n"),
                why: format!(
                    "IRQ {} ({}) off the nats-server cores (was {})",
                    irq.irq.irq, irq.irq.name, irq.requested
                ),
            });
        }
    }
    Ok(())
}

fn irqbalance(host: &Host, set: &CpuSet, out: &mut Vec<Change>) -> Result<(), HostError> {
    let mut file = None;
    for candidate in IRQBALANCE_FILES {
        if let Some(text) = host.read_optional(candidate)? {
            file = Some((*candidate, text));
            break;
        }
    }
    let running = processes(host)?
        .iter()
        .any(|p| p.status.name == "irqbalance");
    let (path, text) = match file {
        Some(found) => found,
        None if running => (IRQBALANCE_FILES[0], String::new()),
        None => return Ok(()),
    };
    let new = env_file::with_value(&text, "IRQBALANCE_BANNED_CPULIST", &set.to_string());
    let new = env_file::with_value(&new, "IRQBALANCE_BANNED_CPUS", &set.to_mask());
    if new != text {
        out.push(Change {
            path: path.to_owned(),
            content: new,
            why: format!("irqbalance must not move interrupts onto {set} (restart irqbalance to take effect)"),
        });
    }
    Ok(())
}

/// The originals of every file pier has touched, with the plan's files added: entries already
/// saved are never replaced, so the file always holds the state before pier first changed each
/// one. `null` for files that did not exist.
pub fn originals(host: &Host, changes: &[Change]) -> Result<String, HostError> {
    let saved = host.read_optional(ORIGINALS)?;
    let mut files: BTreeMap<String, Option<String>> = saved
        .as_deref()
        .and_then(|text| serde_json::from_str::<serde_json::Value>(text).ok())
        .and_then(|json| serde_json::from_value(json["files"].clone()).ok())
        .unwrap_or_default();
    for change in changes {
        files
            .entry(change.path.clone())
            .or_insert(host.read_optional(&change.path)?);
    }
    let json = serde_json::json!({ "files": files });
    Ok(serde_json::to_string_pretty(&json).unwrap_or_default() + "\n")
}

pub struct Outcome {
    pub lines: Vec<String>,
    pub failures: usize,
}

/// Makes the changes under the host root, saving originals first. A change that fails (an IRQ
/// the kernel manages itself refuses a new affinity) is reported and the rest still go ahead.
pub fn apply(host: &Host, changes: &[Change]) -> Result<Outcome, ApplyError> {
    let mut lines = Vec::new();
    if changes.is_empty() {
        lines.push("nothing to change".to_owned());
        return Ok(Outcome { lines, failures: 0 });
    }
    let originals_path = host.path(ORIGINALS);
    let text = originals(host, changes)?;
    if host.read_optional(ORIGINALS)?.as_deref() != Some(text.as_str()) {
        write(&originals_path, &text, true)?;
        lines.push(format!("saved originals to {}", originals_path.display()));
    }
    let mut failures = 0;
    for change in changes {
        let path = host.path(&change.path);
        match write(&path, &change.content, change.path.starts_with("/etc/")) {
            Ok(()) => lines.push(format!("✓ {}: {}", change.path, change.why)),
            Err(ApplyError::Write { source, .. })
                if change.is_irq() && source.raw_os_error() == Some(libc::EIO) =>
            {
                lines.push(format!("- {}: {KERNEL_MANAGED}", change.path));
            }
            Err(e) => {
                failures += 1;
                lines.push(format!("✗ {e} ({})", change.why));
            }
        }
    }
    Ok(Outcome { lines, failures })
}

fn write(path: &std::path::Path, content: &str, create_dirs: bool) -> Result<(), ApplyError> {
    let err = |source| ApplyError::Write {
        path: path.to_owned(),
        source,
    };
    if create_dirs {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(err)?;
        }
    }
    std::fs::write(path, content).map_err(err)
}

/// Single-quotes a word for sh.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The dry run: a script doing what `apply` would, one command per change with its reason.
pub fn script(host: &Host, changes: &[Change]) -> Result<String, HostError> {
    let mut s = String::from("#!/bin/sh\n");
    let _ = writeln!(
        s,
        "# pier-tuner apply --dry-run for root {}: {} changes",
        host.root().display(),
        changes.len()
    );
    s.push_str("set -e\n");
    if changes.is_empty() {
        s.push_str("# nothing to change\n");
        return Ok(s);
    }
    let originals_path = host.path(ORIGINALS);
    let dir = originals_path
        .parent()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let _ = writeln!(
        s,
        "\n# Save the originals of files not yet saved, before the first change.\nmkdir -p {}",
        quote(&dir)
    );
    let _ = writeln!(
        s,
        "cat > {p} <<'PIER_EOF'\n{}PIER_EOF",
        originals(host, changes)?,
        p = quote(&originals_path.display().to_string())
    );
    for change in changes {
        let path = host.path(&change.path).display().to_string();
        let _ = writeln!(s, "\n# {}", change.why.replace('\n', " "));
        if change.path.starts_with("/etc/") {
            if let Some(parent) = host.path(&change.path).parent() {
                let _ = writeln!(s, "mkdir -p {}", quote(&parent.display().to_string()));
            }
        }
        if change.content.trim_end_matches('\n').contains('\n') || change.path.starts_with("/etc/")
        {
            let _ = write!(
                s,
                "cat > {} <<'PIER_EOF'\n{}PIER_EOF\n",
                quote(&path),
                change.content
            );
        } else {
            let _ = write!(
                s,
                "printf '%s\\n' {} > {}",
                quote(change.content.trim_end()),
                quote(&path)
            );
            if change.is_irq() {
                let _ = write!(
                    s,
                    " || echo {} >&2",
                    quote(&format!("{}: {KERNEL_MANAGED}", change.path))
                );
            }
            s.push('\n');
        }
    }
    Ok(s)
}
