//! `pier-broker provision`: reconcile the declared streams and consumers with the cluster.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context as _;

use super::{exit, valid_config, Format, ProvisionArgs};
use crate::provision::{self, connect, Options};
use crate::render::SecretFiles;

pub fn run(args: &ProvisionArgs) -> anyhow::Result<ExitCode> {
    let checked = match valid_config(&args.config, "nothing provisioned", args.format) {
        Ok(checked) => checked,
        Err(code) => return Ok(code),
    };
    for diagnostic in checked.warnings() {
        // A binary pier cannot find or ask only matters to `run`: the server answers for itself.
        if diagnostic.key != "node.nats_server" {
            eprintln!("{diagnostic}");
        }
    }
    let Some(config) = checked.config else {
        return Ok(ExitCode::from(exit::FAILED));
    };
    let url = args
        .server
        .clone()
        .unwrap_or_else(|| connect::default_url(&config));
    let mut options = Options::from_config(&config);
    options.dry_run = args.dry_run;
    if let Some(unknown) = args
        .accept_loss
        .iter()
        .find(|name| !config.streams.iter().any(|s| &s.name == *name))
    {
        eprintln!(
            "error: --accept-loss {unknown}: no stream {unknown:?} is declared in {}",
            args.config.config.display()
        );
        return Ok(ExitCode::from(exit::CANNOT_RUN));
    }
    options.accept_loss = args.accept_loss.clone();
    // Off a node (no store directory here), there is no record to tell a lost stream from a new
    // one; the node's own supervisor still has its record.
    if !config.jetstream.store_dir.is_dir() {
        eprintln!(
            "warning: {} does not exist here, so this run keeps no provisioning record: a lost stream would be created again",
            config.jetstream.store_dir.display()
        );
        options.record = None;
    }

    // Progress (creating, updating, retrying) is logged; PIER_LOG=info or debug shows it.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let result = runtime.block_on(async {
        let client = connect::connect(&url, &config, &SecretFiles).await?;
        let outcome = provision::reconcile(&client, &config, &options).await;
        // Flush so that nothing we sent is lost when the runtime stops; errors here change
        // nothing about what was provisioned.
        let _ = client.flush().await;
        anyhow::Ok(outcome)
    });
    let outcome = match result {
        Ok(Ok(outcome)) => outcome,
        Ok(Err(e)) => {
            eprintln!("error: provisioning through {url}: {e}");
            return Ok(ExitCode::from(exit::CANNOT_RUN));
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            return Ok(ExitCode::from(exit::CANNOT_RUN));
        }
    };

    let mut stdout = std::io::stdout().lock();
    match args.format {
        Format::Json => {
            let mut json = serde_json::to_value(&outcome)?;
            json["server"] = url.clone().into();
            serde_json::to_writer_pretty(&mut stdout, &json)?;
            writeln!(stdout)?;
        }
        Format::Text => outcome.write_text(&mut stdout)?,
    }
    Ok(ExitCode::from(if outcome.refused() || outcome.lost() {
        exit::FAILED
    } else {
        exit::OK
    }))
}
