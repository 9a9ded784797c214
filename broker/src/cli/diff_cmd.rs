//! `pier-broker diff`: what changed between two pier.toml files, key by key, and whether
//! `systemctl reload` applies it or only a restart does (`pier_config::changes`).

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use pier_cli::config::{load_parsed, ConfigPath};
use pier_config::changes::{self, Apply};
use serde_json::json;

use super::{exit, DiffArgs, Format};

pub fn run(args: &DiffArgs) -> anyhow::Result<ExitCode> {
    let parsed = |path: &Path| {
        load_parsed(
            &ConfigPath {
                config: path.to_owned(),
            },
            args.format,
        )
    };
    let from = match parsed(&args.from) {
        Ok(config) => config,
        Err(code) => return Ok(code),
    };
    let to = match parsed(&args.to) {
        Ok(config) => config,
        Err(code) => return Ok(code),
    };
    let found = changes::changes(&from, &to);
    let needed = changes::needed(&found);
    let mut stdout = std::io::stdout().lock();
    match args.format {
        Format::Json => {
            let report = json!({
                "from": args.from,
                "to": args.to,
                "changes": found,
                "apply": needed,
            });
            serde_json::to_writer_pretty(&mut stdout, &report)?;
            writeln!(stdout)?;
        }
        Format::Text => {
            for change in &found {
                let apply = match change.apply {
                    Apply::Reload => "reload",
                    Apply::Restart => "restart",
                };
                writeln!(
                    stdout,
                    "{}: {} -> {}  [{apply}: {}]",
                    change.key, change.from, change.to, change.why
                )?;
            }
            let verdict = match needed {
                None => "nothing changed",
                Some(Apply::Reload) => "reload: `systemctl reload pier-broker` applies every change",
                Some(Apply::Restart) => {
                    "restart: only `systemctl restart pier-broker` applies every change (a reload is refused)"
                }
            };
            writeln!(stdout, "{verdict}")?;
        }
    }
    Ok(ExitCode::from(exit::OK))
}
