//! `pier-tuner apply`: the run-time settings, as a list of file writes derived from the host.
//!
//! Every change is "write this content to this file" — sysfs, procfs and /etc alike — so the
//! dry run prints exactly what `apply` does, as a shell script. Originals are saved once, before
//! the first change, and never overwritten.
//!
//! Every change is derived from host facts ([`crate::facts`]) that parsed; a fact that is missing
//! or unparseable stops the plan with an error naming the file, never a guess.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use pier_config::{Config, CpuSet};

use crate::facts::cpus::{nats_cores, Topology};
use crate::facts::process::processes;
use crate::facts::{self, interrupts, irqbalance};
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
        let current = sysctl.read(host)?;
        let value = sysctl.desired(&current);
        let _ = writeln!(drop_in, "# {}\n{} = {value}", sysctl.why, sysctl.key);
        if !sysctl.satisfied(&current) {
            live.push(Change {
                path: sysctl.path(),
                content: format!("{value}\n"),
                why: format!(
                    "{} = {value} now (was {current}): {}",
                    sysctl.key, sysctl.why
                ),
            });
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
    for irq in interrupts::read(host)? {
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
    let running = processes(host)?
        .iter()
        .any(|p| p.status.name == "irqbalance");
    let (path, text) = match irqbalance::settings(host)? {
        Some(found) => found,
        None if running => (irqbalance::FILES[0], String::new()),
        None => return Ok(()),
    };
    let installed = irqbalance::installed(host)?;
    let version = installed.as_ref().map(|i| i.version);
    let new = irqbalance::with_banned(&text, set, version);
    if new != text {
        let keys = irqbalance::keys_written(version);
        let release = installed.map_or("release unknown".to_owned(), |i| {
            format!("{} per {}", i.version, i.source)
        });
        out.push(Change {
            path: path.to_owned(),
            content: new,
            why: format!(
                "irqbalance must not move interrupts onto {set}: {keys} for irqbalance {release} (restart irqbalance to take effect)"
            ),
        });
    }
    Ok(())
}

/// The originals of every file pier has touched, with the plan's files added: entries already
/// saved are never replaced, so the file always holds the state before pier first changed each
/// one. `null` for files that did not exist.
///
/// An originals file that exists but cannot be read or parsed stops everything: it is the only
/// record of the host before pier, and replacing it would record already-tuned values.
pub fn originals(host: &Host, changes: &[Change]) -> Result<String, HostError> {
    let mut files = match host.read_optional(ORIGINALS)? {
        None => BTreeMap::new(),
        Some(text) => {
            serde_json::from_str::<Originals>(&text)
                .map_err(|e| {
                    HostError::parse(
                        host.path(ORIGINALS),
                        format!("{e} (the record of the host before pier; fix or move it by hand)"),
                    )
                })?
                .files
        }
    };
    for change in changes {
        files
            .entry(change.path.clone())
            .or_insert(host.read_optional(&change.path)?);
    }
    let json = serde_json::json!({ "files": files });
    Ok(serde_json::to_string_pretty(&json).unwrap_or_default() + "\n")
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Originals {
    files: BTreeMap<String, Option<String>>,
}

/// What applying the changes did: a line per change for the operator, and how many failed.
pub struct ApplyReport {
    pub lines: Vec<String>,
    pub failures: usize,
}

/// Makes the changes under the host root, saving originals first. A change that fails (an IRQ
/// the kernel manages itself refuses a new affinity) is reported and the rest still go ahead.
pub fn apply(host: &Host, changes: &[Change]) -> Result<ApplyReport, ApplyError> {
    let mut lines = Vec::new();
    if changes.is_empty() {
        lines.push("nothing to change".to_owned());
        return Ok(ApplyReport { lines, failures: 0 });
    }
    let originals_path = host.path(ORIGINALS);
    let text = originals(host, changes)?;
    if host.read_optional(ORIGINALS)?.as_deref() != Some(text.as_str()) {
        write_atomically(&originals_path, &text)?;
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
    Ok(ApplyReport { lines, failures })
}

fn write_atomically(path: &Path, content: &str) -> Result<(), ApplyError> {
    pier_cli::durable::write_atomically(path, content.as_bytes()).map_err(|source| {
        ApplyError::Write {
            path: path.to_owned(),
            source,
        }
    })
}

fn write(path: &Path, content: &str, create_dirs: bool) -> Result<(), ApplyError> {
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

/// Quotes a word for sh so that nothing in it is interpreted: single quotes, each `'` written
/// as `'\''`. Inside single quotes sh takes every byte literally (newlines, `$`, backticks and
/// control bytes included) except NUL, which no sh word can hold; see [`write_command`].
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// A comment line: control characters (a newline would end the comment) are shown escaped.
fn comment(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// The command writing `content` byte for byte: `printf '%s' 'CONTENT'`, whose argument sh never
/// interprets. Content with a NUL byte instead goes in printf's format as octal escapes
/// (`\ooo` for every byte but letters and digits), which printf turns back into the bytes.
fn write_command(content: &str, path: &str) -> String {
    if content.contains('\0') {
        let escaped: String = content
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() {
                    char::from(b).to_string()
                } else {
                    format!("\\{b:03o}")
                }
            })
            .collect();
        format!("printf '{escaped}' > {}", quote(path))
    } else {
        format!("printf '%s' {} > {}", quote(content), quote(path))
    }
}

/// The dry run: a script doing what `apply` would, one command per change with its reason.
pub fn script(host: &Host, changes: &[Change]) -> Result<String, HostError> {
    let mut s = String::from("#!/bin/sh\n");
    let _ = writeln!(
        s,
        "# pier-tuner apply --dry-run for root {}: {} changes",
        comment(&host.root().display().to_string()),
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
        "{}",
        write_command(
            &originals(host, changes)?,
            &originals_path.display().to_string()
        )
    );
    for change in changes {
        let path = host.path(&change.path);
        let _ = writeln!(s, "\n# {}", comment(&change.why));
        if change.path.starts_with("/etc/") {
            if let Some(parent) = path.parent() {
                let _ = writeln!(s, "mkdir -p {}", quote(&parent.display().to_string()));
            }
        }
        let _ = write!(
            s,
            "{}",
            write_command(&change.content, &path.display().to_string())
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
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_content_is_never_interpreted() {
        let hostile =
            "PIER_EOF\nEOF\n'; touch x; '\n$(touch y)\n`touch z`\n\\\x01\x1b[0m\r\n%s%n\n";
        let cmd = write_command(hostile, "/tmp/a'b");
        assert!(cmd.starts_with("printf '%s' '"), "{cmd}");
        assert!(cmd.ends_with(" > '/tmp/a'\\''b'"), "{cmd}");
        let nul = write_command("a\0%b'\n", "/f");
        assert_eq!(nul, "printf 'a\\000\\045b\\047\\012' > '/f'");
        assert_eq!(comment("a\nb\r"), "a\\nb\\r");
    }
}
