//! The actual state, beside the desired one (`desired.rs`): what the cluster has, read and
//! compared with the declaration field by field (`diff.rs`) into the plan, before anything changes.

use std::collections::HashSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_nats::jetstream::stream;
use pier_config::model::Stream;
use pier_config::Config;

use super::api::{Api, ApiError};
use super::diff::{self, ServerFacts, StreamUsage};
use super::plan::{Action, ConsumerPlan, StreamPlan};
use super::record::{Loss, Seen};

/// Plans every declared stream with its consumers, then the streams only the server has.
/// `held` says what this node's record saw in a declared stream (none when the operator accepted
/// its loss): a stream that held something and is gone is lost, not created.
pub async fn plan(
    api: &Api,
    config: &Config,
    facts: ServerFacts,
    prune: bool,
    held: impl Fn(&str) -> Option<Seen>,
) -> Result<Vec<StreamPlan>, ApiError> {
    let mut plans = Vec::with_capacity(config.streams.len());
    for declared in &config.streams {
        plans.push(plan_stream(api, declared, facts, prune, held(&declared.name)).await?);
    }
    let declared: HashSet<&str> = config.streams.iter().map(|s| s.name.as_str()).collect();
    let mut extra: Vec<String> = api
        .stream_names()
        .await?
        .into_iter()
        .filter(|name| !declared.contains(name.as_str()))
        .collect();
    extra.sort();
    for name in extra {
        plans.push(StreamPlan {
            name,
            action: if prune {
                Action::Delete
            } else {
                Action::Unmanaged
            },
            changes: Vec::new(),
            consumers: Vec::new(),
            loss: None,
        });
    }
    Ok(plans)
}

async fn plan_stream(
    api: &Api,
    declared: &Stream,
    facts: ServerFacts,
    prune: bool,
    held: Option<Seen>,
) -> Result<StreamPlan, ApiError> {
    let all_new = || {
        declared
            .consumers
            .iter()
            .map(|c| ConsumerPlan {
                name: c.name.clone(),
                action: Action::Create,
                changes: Vec::new(),
            })
            .collect()
    };
    let Some(info) = api.stream_info(&declared.name).await? else {
        let loss = Loss::between(held, None);
        return Ok(StreamPlan {
            name: declared.name.clone(),
            action: if loss.is_some() {
                Action::Lost
            } else {
                Action::Create
            },
            changes: Vec::new(),
            consumers: if loss.is_some() {
                Vec::new()
            } else {
                all_new()
            },
            loss,
        });
    };
    let usage = usage(api, declared, &info).await?;
    let changes = diff::stream_changes(declared, &info.config, &usage, facts);
    let action = Action::for_changes(&changes, declared.allow_destructive);
    let consumers = if action == Action::Recreate {
        all_new()
    } else {
        plan_consumers(api, declared, prune).await?
    };
    Ok(StreamPlan {
        name: declared.name.clone(),
        action,
        changes,
        consumers,
        loss: Loss::between(held, Some(Seen::from(&info.state))),
    })
}

async fn plan_consumers(
    api: &Api,
    declared: &Stream,
    prune: bool,
) -> Result<Vec<ConsumerPlan>, ApiError> {
    let mut plans = Vec::new();
    for consumer in &declared.consumers {
        let plan = match api.consumer_info(&declared.name, &consumer.name).await? {
            None => ConsumerPlan {
                name: consumer.name.clone(),
                action: Action::Create,
                changes: Vec::new(),
            },
            Some(info) => {
                let changes = diff::consumer_changes(consumer, &info.config);
                ConsumerPlan {
                    name: consumer.name.clone(),
                    action: Action::for_changes(&changes, declared.allow_destructive),
                    changes,
                }
            }
        };
        plans.push(plan);
    }
    let names: HashSet<&str> = declared.consumers.iter().map(|c| c.name.as_str()).collect();
    let mut extra: Vec<String> = api
        .consumer_names(&declared.name)
        .await?
        .into_iter()
        .filter(|name| !names.contains(name.as_str()))
        .collect();
    extra.sort();
    for name in extra {
        // Ephemeral consumers belong to running clients and go away with them: never touched.
        let durable = api
            .consumer_info(&declared.name, &name)
            .await?
            .is_some_and(|info| info.config.durable_name.is_some());
        if durable {
            plans.push(ConsumerPlan {
                name,
                action: if prune {
                    Action::Delete
                } else {
                    Action::Unmanaged
                },
                changes: Vec::new(),
            });
        }
    }
    Ok(plans)
}

/// What the stream holds, as far as the declared changes could lose it.
pub async fn usage(
    api: &Api,
    declared: &Stream,
    info: &stream::Info,
) -> Result<StreamUsage, ApiError> {
    let state = &info.state;
    let oldest = (state.messages > 0).then(|| {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs() as i64;
        let first = state.first_timestamp.unix_timestamp();
        // The timestamp comes from the server: a far past or future one must not overflow.
        Duration::from_secs(u64::try_from(now.saturating_sub(first)).unwrap_or(0))
    });
    let mut dropped_subjects_with_messages = Vec::new();
    if state.messages > 0 {
        for subject in diff::dropped_subjects(declared, &info.config) {
            if api.holds_messages_on(&declared.name, &subject).await? {
                dropped_subjects_with_messages.push(subject);
            }
        }
    }
    Ok(StreamUsage {
        messages: state.messages,
        bytes: state.bytes,
        oldest,
        dropped_subjects_with_messages,
    })
}
