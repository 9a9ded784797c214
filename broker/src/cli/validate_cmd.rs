//! `pier-broker validate`: every problem at once, √ / ~ / x like `vector validate`.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use pier_cli::config::{report_json, unreadable_json};
use pier_config::load::{check, Checked};

use super::{exit, Format, ValidateArgs};
use crate::tls_files;

pub fn run(args: &ValidateArgs) -> anyhow::Result<ExitCode> {
    let mut checked = match check(&args.config.config, &args.config.server_choice()) {
        Ok(checked) => checked,
        Err(e) => {
            // A program reading --format json gets a JSON document whatever happens.
            if args.format == Format::Json {
                let mut stdout = std::io::stdout().lock();
                serde_json::to_writer_pretty(&mut stdout, &unreadable_json(&e))?;
                writeln!(stdout)?;
            } else {
                eprintln!("error: {e}");
            }
            return Ok(ExitCode::from(exit::CANNOT_RUN));
        }
    };
    tls_files::check(&mut checked);
    let failed =
        checked.has_errors() || (args.deny_warnings && checked.warnings().next().is_some());
    let mut stdout = std::io::stdout().lock();
    match args.format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut stdout, &report_json(&checked, !failed))?;
            writeln!(stdout)?;
        }
        Format::Text => write_text(&mut stdout, &checked, failed)?,
    }
    Ok(ExitCode::from(if failed { exit::FAILED } else { exit::OK }))
}

fn write_text(out: &mut impl Write, checked: &Checked, failed: bool) -> std::io::Result<()> {
    let colour = std::io::stdout().is_terminal();
    let paint = |code: &str, text: &str| {
        if colour {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    };
    for diagnostic in checked.errors() {
        writeln!(out, "{} {diagnostic}", paint("31", "x"))?;
    }
    for diagnostic in checked.warnings() {
        writeln!(out, "{} {diagnostic}", paint("33", "~"))?;
    }
    let errors = checked.errors().count();
    let warnings = checked.warnings().count();
    let server = match (&checked.server, checked.version) {
        (_, Some(version)) => format!(" for nats-server {version}"),
        _ => String::new(),
    };
    let file = checked.source.path.display();
    if failed {
        writeln!(
            out,
            "{} {file}: invalid{server} ({errors} error{}, {warnings} warning{})",
            paint("31", "x"),
            plural(errors),
            plural(warnings)
        )
    } else {
        writeln!(
            out,
            "{} {file}: valid{server} ({warnings} warning{})",
            paint("32", "√"),
            plural(warnings)
        )
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}
