//! `pier-broker render`: the nats-server configuration that `run` would load, secrets redacted.

use std::io::Write;
use std::process::ExitCode;

use super::{exit, valid_config, Format, RenderArgs};
use crate::render::{render, Redacted};

pub fn run(args: &RenderArgs) -> anyhow::Result<ExitCode> {
    let checked = match valid_config(&args.config, "nothing rendered", Format::Text) {
        Ok(checked) => checked,
        Err(code) => return Ok(code),
    };
    let (Some(config), Some(version)) = (&checked.config, checked.version) else {
        for diagnostic in checked.warnings() {
            eprintln!("{diagnostic}");
        }
        eprintln!("error: the nats-server version is unknown; give --nats-server PATH or --server-version X.Y.Z");
        return Ok(ExitCode::from(exit::CANNOT_RUN));
    };
    match render(config, version, &Redacted) {
        Ok(text) => {
            std::io::stdout().lock().write_all(text.as_bytes())?;
            Ok(ExitCode::from(exit::OK))
        }
        Err(e) => {
            eprintln!("error: {}: {e}", checked.source.path.display());
            Ok(ExitCode::from(exit::FAILED))
        }
    }
}
