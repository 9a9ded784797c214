//! Provisioning from the supervisor: once the cluster has a JetStream meta leader, the declared
//! streams and consumers are reconciled. Every node does this; reconcile is idempotent and
//! tolerant of the others doing it at the same time (see docs/jetstream.md).

use std::time::Duration;

use pier_config::Config;

use super::state::{Provisioning, StatePublisher};
use crate::provision::{self, connect, Options};
use crate::render::SecretFiles;
use pier_monitor::Monitor;

/// How often the meta leader is looked for while the cluster forms.
const LEADER_POLL: Duration = Duration::from_secs(1);

/// Waits for a meta leader, then reconciles; the result is logged and shown in STATUS.
pub(super) async fn provision_when_ready(config: Config, monitor: Monitor, state: StatePublisher) {
    // A reload may have removed every stream: STATUS= then no longer speaks of provisioning.
    state.update(|s| s.provisioning = None);
    if config.streams.is_empty() {
        return;
    }
    let mut waiting_logged = false;
    loop {
        let monitor = monitor.clone();
        let jsz = tokio::task::spawn_blocking(move || monitor.jsz(false))
            .await
            .ok()
            .and_then(Result::ok);
        // A standalone server is its own meta leader as soon as it answers.
        let has_leader = jsz.is_some_and(|jsz| {
            config.cluster.is_none()
                || jsz
                    .meta_cluster
                    .and_then(|m| m.leader)
                    .is_some_and(|leader| !leader.is_empty())
        });
        if has_leader {
            break;
        }
        if !waiting_logged {
            tracing::info!("provisioning waits for the JetStream meta leader");
            state.update(|s| s.provisioning = Some(Provisioning::WaitingForLeader));
            waiting_logged = true;
        }
        tokio::time::sleep(LEADER_POLL).await;
    }

    let provisioning = match reconcile(&config).await {
        Ok(outcome) if outcome.lost() => {
            let losses = outcome.losses();
            tracing::error!(
                "provisioning found LOST streams: {}. Nothing was created in place of a lost stream; restore it, or accept the loss with `pier-broker provision --accept-loss NAME`",
                losses.join("; ")
            );
            Provisioning::Lost { streams: losses }
        }
        Ok(outcome) if outcome.refused() => {
            let s = outcome.summary;
            tracing::error!(
                "provisioning refused {} change(s) that lose data or cannot be made in place; nothing applied. The supervisor never applies those: check with `pier-broker provision --dry-run`, then run `pier-broker provision` once",
                s.drift
            );
            Provisioning::Refused(s)
        }
        Ok(outcome) => {
            let s = outcome.summary;
            tracing::info!(
                "provisioned: {} created, {} updated, {} recreated, {} unchanged, {} deleted",
                s.create,
                s.update,
                s.recreate,
                s.unchanged,
                s.delete
            );
            Provisioning::Provisioned(s)
        }
        Err(e) => {
            tracing::error!("provisioning failed: {e}");
            Provisioning::Failed {
                error: e.to_string(),
            }
        }
    };
    state.update(|s| s.provisioning = Some(provisioning));
}

async fn reconcile(config: &Config) -> anyhow::Result<provision::Reconciled> {
    let url = connect::default_url(config);
    let client = connect::connect(&url, config, &SecretFiles).await?;
    let outcome = provision::reconcile(&client, config, &Options::unattended(config)).await?;
    // Best effort: the supervisor's connection is not kept open between reconciles.
    let _ = client.drain().await;
    Ok(outcome)
}
