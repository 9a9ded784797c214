//! One logging setup for every pier binary and subcommand.
//!
//! Under systemd (stderr is the journal, as `JOURNAL_STREAM` says) events go to journald with their
//! priority and fields, so `journalctl -p warning` filters them; otherwise they are printed on
//! stderr, coloured only on a terminal. The level comes from `PIER_LOG` (an `EnvFilter`: `debug`,
//! `pier_broker=debug`, …); each binary passes its default.

use std::io::IsTerminal;
use std::os::fd::AsFd;

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

/// The environment variable that sets the log filter of every pier binary.
pub const ENV: &str = "PIER_LOG";

/// What a binary logs when `PIER_LOG` is not set.
#[derive(Debug, Clone, Copy)]
pub struct Defaults<'a> {
    /// The filter without `PIER_LOG`: `"info"` for a service, `"warn"` for a command.
    pub level: &'a str,
    /// Directives added whatever `PIER_LOG` says, e.g. `nats_server=trace` for lines whose level
    /// another program already chose.
    pub always: &'a [&'a str],
    /// The journal's SYSLOG_IDENTIFIER.
    pub identifier: &'a str,
}

/// Installs the process's subscriber. Call once, first thing in `main`.
pub fn init(defaults: Defaults<'_>) {
    let mut filter = match EnvFilter::try_from_env(ENV) {
        Ok(filter) => filter,
        Err(e) => {
            // Unset is the usual case; a value that does not parse is a mistake worth a line.
            if std::env::var_os(ENV).is_some() {
                eprintln!(
                    "warning: {ENV} ignored ({e}); logging at {}",
                    defaults.level
                );
            }
            EnvFilter::new(defaults.level)
        }
    };
    for directive in defaults.always {
        if let Ok(directive) = directive.parse() {
            filter = filter.add_directive(directive);
        }
    }
    if stderr_is_journal() {
        if let Ok(journald) = tracing_journald::layer() {
            let priorities = tracing_journald::PriorityMappings {
                info: tracing_journald::Priority::Informational,
                debug: tracing_journald::Priority::Debug,
                ..tracing_journald::PriorityMappings::new()
            };
            let journald = journald
                .with_field_prefix(None)
                .with_syslog_identifier(defaults.identifier.to_owned())
                .with_priority_mappings(priorities);
            tracing_subscriber::registry()
                .with(filter)
                .with(journald)
                .init();
            return;
        }
    }
    tracing_subscriber::registry()
        .with(filter)
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(std::io::stderr().is_terminal())
                .with_target(true),
        )
        .init();
}

/// systemd sets `JOURNAL_STREAM=<device>:<inode>` for a service whose stderr is the journal; a
/// child that inherited the variable but whose stderr was redirected must not log to journald.
fn stderr_is_journal() -> bool {
    let Some(value) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    let Ok(stat) = nix::sys::stat::fstat(std::io::stderr().as_fd()) else {
        return false;
    };
    journal_stream_matches(&value.to_string_lossy(), stat.st_dev, stat.st_ino)
}

fn journal_stream_matches(value: &str, dev: u64, ino: u64) -> bool {
    let Some((d, i)) = value.split_once(':') else {
        return false;
    };
    d.parse() == Ok(dev) && i.parse() == Ok(ino)
}

#[cfg(test)]
mod tests {
    use super::journal_stream_matches;

    #[test]
    fn journal_stream_names_the_device_and_inode_of_stderr() {
        assert!(journal_stream_matches("8:1234", 8, 1234));
        assert!(!journal_stream_matches("8:1234", 8, 1235));
        assert!(!journal_stream_matches("garbage", 8, 1234));
    }
}
