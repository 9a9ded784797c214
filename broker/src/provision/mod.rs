//! Declarative JetStream: the streams and consumers of pier.toml made real on the cluster.
//!
//! [`reconcile`] reads what the cluster has, plans field by field ([`plan::Plan`]), and applies
//! the plan unless something in it would lose data or cannot be made in place without
//! permission (`allow_destructive` on the stream). Applying converges each object with
//! idempotent steps — read, compare, write, read again — so that the three nodes may all run it
//! at once: "already exists", stale reads and a missing meta leader are retried, bounded by
//! [`Options::timeout`].
//!
//! Each node keeps a [`record`] of the declared streams it has seen and how far their sequences
//! went; a declared stream that is gone, or went backwards, is reported as lost, and a gone one is
//! created again only when the operator accepts the loss (`--accept-loss`).

pub mod api;
mod apply;
pub mod connect;
pub mod desired;
pub mod diff;
mod fields;
mod observe;
pub mod plan;
pub mod record;

use std::path::PathBuf;
use std::time::Duration;

use pier_config::{Config, ServerVersion};

pub use api::ApiError;
pub use plan::{Action, Plan, Reconciled};
pub use record::{Record, RecordError};

/// How to reconcile; [`Options::from_config`] takes the `[provision]` section.
#[derive(Debug, Clone)]
pub struct Options {
    /// Plan only; change nothing.
    pub dry_run: bool,
    /// Delete streams and durable consumers absent from the configuration.
    pub prune: bool,
    /// How long to keep retrying transient failures (no meta leader, timeouts) overall.
    pub timeout: Duration,
    /// Honour the streams' `allow_destructive`. Off for the supervisor, which reconciles on
    /// every node at every start: recreating or pruning there would follow whichever node
    /// restarts first, so those stay with an operator running `pier-broker provision`.
    pub destructive: bool,
    /// This node's record of what it saw provisioned ([`Record`]); none plans without it, so a
    /// lost stream cannot be told from a new one.
    pub record: Option<PathBuf>,
    /// Declared streams whose loss the operator accepts: created again if gone, and recorded
    /// anew at what they hold now.
    pub accept_loss: Vec<String>,
}

impl Options {
    pub fn from_config(config: &Config) -> Self {
        Options {
            dry_run: false,
            prune: config.provision.prune,
            timeout: config.provision.timeout.get(),
            destructive: true,
            record: Some(Record::path_for(config)),
            accept_loss: Vec::new(),
        }
    }

    /// What the supervisor applies by itself: creations and safe in-place updates only.
    pub fn unattended(config: &Config) -> Self {
        Options {
            prune: false,
            destructive: false,
            ..Options::from_config(config)
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error("gave up after {waited:.1?}: {last}")]
    Timeout { waited: Duration, last: ApiError },
    #[error("{object} still differs after {writes} writes (last: {fields}); is another node applying a different configuration?")]
    NotConverged {
        object: String,
        writes: u32,
        fields: String,
    },
    #[error("{object} changed on the server while provisioning and now needs changes that are not allowed: {fields}")]
    Refused { object: String, fields: String },
    #[error(transparent)]
    Record(#[from] RecordError),
}

/// Reads the cluster's JetStream state through `client`, plans, and applies the plan unless it
/// is a dry run or refused. A refused plan is an `Ok` outcome with drift and nothing applied;
/// `Err` means the cluster could not be read or written.
pub async fn reconcile(
    client: &async_nats::Client,
    config: &Config,
    options: &Options,
) -> Result<Reconciled, ProvisionError> {
    let info = client.server_info();
    let facts = diff::ServerFacts {
        version: info.version.parse::<ServerVersion>().ok(),
    };
    let restrained;
    let config = if options.destructive {
        config
    } else {
        // Plan as if no stream allowed destructive changes: they show as drift, never applied.
        let mut copy = config.clone();
        copy.streams
            .iter_mut()
            .for_each(|s| s.allow_destructive = false);
        restrained = copy;
        &restrained
    };
    let mut record = options.record.as_deref().map(Record::load).transpose()?;
    let held = |name: &str| {
        let accepted = options.accept_loss.iter().any(|a| a == name);
        record
            .as_ref()
            .and_then(|r| r.get(name))
            .filter(|_| !accepted)
    };
    let api = api::Api::new(async_nats::jetstream::new(client.clone()));
    let mut backoff = apply::Backoff::new(options.timeout);
    let streams = loop {
        match observe::plan(&api, config, facts, options.prune, &held).await {
            Ok(streams) => break streams,
            Err(e) => backoff.wait(e).await?,
        }
    };
    let plan = Plan {
        server_name: info.server_name.clone(),
        server_version: info.version.clone(),
        streams,
    };
    let apply = !(plan.has_drift() || options.dry_run || !plan.writes());
    if apply {
        apply::apply(&api, config, &plan, facts, &mut backoff).await?;
    }
    if let (Some(record), false) = (&mut record, options.dry_run) {
        loop {
            match remember(&api, config, &plan, options, apply, record).await {
                Ok(()) => break,
                Err(e) => backoff.wait(e).await?,
            }
        }
        record.retain_declared(config);
        record.save()?;
    }
    Ok(Reconciled::new(plan, options.dry_run, apply))
}

/// Notes what every declared stream holds now. A stream pier recreated, or whose loss the
/// operator accepted, starts its record again; a lost one keeps what it held, so it stays lost.
async fn remember(
    api: &api::Api,
    config: &Config,
    plan: &Plan,
    options: &Options,
    applied: bool,
    record: &mut Record,
) -> Result<(), ApiError> {
    for declared in &config.streams {
        let action = plan
            .streams
            .iter()
            .find(|s| s.name == declared.name)
            .map(|s| s.action);
        if action == Some(Action::Lost) {
            continue;
        }
        if let Some(info) = api.stream_info(&declared.name).await? {
            let reset = (applied && action == Some(Action::Recreate))
                || options.accept_loss.contains(&declared.name);
            record.observe(&declared.name, record::Seen::from(&info.state), reset);
        }
    }
    Ok(())
}
