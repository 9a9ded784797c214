//! `pier-broker run`: supervise nats-server in the foreground (systemd's Type=notify main process).

use std::process::ExitCode;

use super::{exit, RunArgs};
use crate::supervise::{self, Ended, SuperviseError};

pub fn run(args: &RunArgs) -> anyhow::Result<ExitCode> {
    let prepared = match supervise::prepare(&args.config.config, args.config.server_choice()) {
        Ok(prepared) => prepared,
        Err(e) => return Ok(failed(&e)),
    };
    // One thread for the supervisor's own work (plus tokio's pool for blocking HTTP probes):
    // it must stay light on the housekeeping cores.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .max_blocking_threads(4)
        .build()?;
    let outcome = runtime.block_on(supervise::run(prepared));
    // Blocking probes of a hung nats-server may still be waiting out their timeout.
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    match outcome {
        Ok(Ended::Stopped) => Ok(ExitCode::from(exit::OK)),
        Ok(Ended::ServerDied(_)) => Ok(ExitCode::from(exit::SERVER_EXITED)),
        Err(e) => Ok(failed(&e)),
    }
}

fn failed(e: &SuperviseError) -> ExitCode {
    tracing::error!("{e}");
    ExitCode::from(match e {
        SuperviseError::Invalid(_) | SuperviseError::Render { .. } => exit::FAILED,
        SuperviseError::RuntimeFile(supervise::runtime_file::RuntimeFileError::Refused {
            ..
        }) => exit::FAILED,
        _ => exit::CANNOT_RUN,
    })
}
