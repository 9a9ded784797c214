//! A stream's managed fields: the rows provisioning writes and compares for `[[streams]]`.

use std::time::Duration;

use async_nats::jetstream::stream;
use pier_config::model::{Discard, Retention, Storage, Stream};
use pier_config::units::go_duration;
use pier_config::ServerVersion;

use super::{
    always, equal, limit_text, list, normal_limit, same_limit, same_set, Cost, Field, Managed,
};
use crate::provision::diff::{Effect, StreamFacts};

pub type StreamField = dyn Managed<Stream, stream::Config, StreamFacts>;
type S<V> = Field<Stream, stream::Config, StreamFacts, V>;

/// The first nats-server that changes retention between limits and interest in place.
const IN_PLACE_RETENTION: ServerVersion = ServerVersion::new(2, 10, 0);

/// A stream's managed fields, in the order a plan lists their changes. The name is the stream's
/// identity, not a field.
pub static STREAM_FIELDS: &[&StreamField] = &[
    &S {
        name: "description",
        declared: |s| s.description.clone(),
        actual: |c| c.description.clone().unwrap_or_default(),
        write: |c, v| c.description = Some(v),
        same: equal,
        show: String::clone,
        cost: Cost::InPlace,
        compared: always,
    },
    &S {
        name: "subjects",
        declared: |s| Some(s.subjects.clone()),
        actual: |c| c.subjects.clone(),
        write: |c, v| c.subjects = v,
        same: |a, b| same_set(a, b),
        show: |v| list(v),
        cost: Cost::DestructiveWhen(|_, _, facts| {
            let dropped = &facts.usage.dropped_subjects_with_messages;
            (!dropped.is_empty()).then(|| {
                format!(
                    "{} still hold messages, which could no longer be published to or selected by subject",
                    dropped.join(", ")
                )
            })
        }),
        compared: always,
    },
    &S {
        name: "storage",
        declared: |s| Some(storage(s.storage)),
        actual: |c| c.storage,
        write: |c, v| c.storage = v,
        same: equal,
        show: |v| storage_name(*v),
        cost: Cost::Recreate(|_, _, facts| {
            format!(
                "nats-server cannot change a stream's storage type; {}",
                facts.stored()
            )
        }),
        compared: always,
    },
    &S {
        name: "replicas",
        declared: |s| Some(replicas(s)),
        actual: |c| c.num_replicas,
        write: |c, v| c.num_replicas = v,
        same: equal,
        show: usize::to_string,
        cost: Cost::DestructiveWhen(|from, to, _| {
            (to < from).then(|| {
                format!(
                    "fewer replicas: the stream survives the loss of fewer nodes (R{from} → R{to})"
                )
            })
        }),
        compared: always,
    },
    &S {
        name: "retention",
        declared: |s| Some(retention(s.retention)),
        actual: |c| c.retention,
        write: |c, v| c.retention = v,
        same: equal,
        show: |v| retention_name(*v),
        cost: Cost::Depends(|from, to, facts| {
            use stream::RetentionPolicy::{Interest, Limits};
            let in_place = matches!((*from, *to), (Limits, Interest) | (Interest, Limits))
                && facts.server.at_least(IN_PLACE_RETENTION);
            if in_place {
                Effect::Destructive(
                    "a new retention policy changes which messages are kept; messages without interest may be removed"
                        .to_owned(),
                )
            } else {
                Effect::Recreate(format!(
                    "nats-server cannot change this retention policy in place; {}",
                    facts.stored()
                ))
            }
        }),
        compared: always,
    },
    &S {
        name: "discard",
        declared: |s| Some(discard(s.discard)),
        actual: |c| c.discard,
        write: |c, v| c.discard = v,
        same: equal,
        show: |v| discard_name(*v),
        cost: Cost::InPlace,
        compared: always,
    },
    &S {
        name: "max_age",
        declared: |s| s.max_age.map(|a| a.get()),
        actual: |c| c.max_age,
        write: |c, v| c.max_age = v,
        same: equal,
        show: |v| age_text(*v),
        cost: Cost::DestructiveWhen(|from, to, facts| {
            let lower = !to.is_zero() && (from.is_zero() || to < from);
            match facts.usage.oldest {
                Some(oldest) if lower && oldest > *to => Some(format!(
                    "messages older than {} would be deleted (the oldest is {})",
                    go_duration(*to),
                    go_duration(Duration::from_secs(oldest.as_secs()))
                )),
                _ => None,
            }
        }),
        compared: always,
    },
    &S {
        name: "max_bytes",
        declared: |s| s.max_bytes.map(|b| saturating_i64(b.get())),
        actual: |c| c.max_bytes,
        write: |c, v| c.max_bytes = v,
        same: same_limit,
        show: |v| limit_text(*v),
        cost: Cost::DestructiveWhen(|_, to, facts| below_usage(*to, facts.usage.bytes, "bytes")),
        compared: always,
    },
    &S {
        name: "max_msgs",
        declared: |s| s.max_msgs.map(saturating_i64),
        actual: |c| c.max_messages,
        write: |c, v| c.max_messages = v,
        same: same_limit,
        show: |v| limit_text(*v),
        cost: Cost::DestructiveWhen(|_, to, facts| {
            below_usage(*to, facts.usage.messages, "messages")
        }),
        compared: always,
    },
    &S {
        name: "max_msgs_per_subject",
        declared: |s| s.max_msgs_per_subject.map(saturating_i64),
        actual: |c| c.max_messages_per_subject,
        write: |c, v| c.max_messages_per_subject = v,
        same: same_limit,
        show: |v| limit_text(*v),
        cost: Cost::DestructiveWhen(|from, to, facts| {
            let lower = *to > 0 && (normal_limit(*from) == -1 || to < from);
            (lower && facts.usage.messages > 0).then(|| {
                format!("subjects holding more than {to} messages would lose their oldest")
            })
        }),
        compared: always,
    },
    &S {
        name: "max_msg_size",
        declared: |s| s.max_msg_size.map(|b| saturating_i64(b.get())),
        actual: |c| i64::from(c.max_message_size),
        // JetStream keeps the largest message as a signed 32-bit integer; validation keeps the
        // declared one in range.
        write: |c, v| c.max_message_size = i32::try_from(v).unwrap_or(i32::MAX),
        same: same_limit,
        show: |v| limit_text(*v),
        cost: Cost::InPlace,
        compared: always,
    },
    &S {
        name: "duplicate_window",
        declared: |s| s.duplicate_window.map(|w| w.get()),
        actual: |c| c.duplicate_window,
        write: |c, v| c.duplicate_window = v,
        same: equal,
        show: |v| go_duration(*v),
        cost: Cost::InPlace,
        compared: always,
    },
    &S {
        name: "placement_tags",
        declared: |s| (!s.placement_tags.is_empty()).then(|| s.placement_tags.clone()),
        actual: |c| {
            c.placement
                .as_ref()
                .map(|p| p.tags.clone())
                .unwrap_or_default()
        },
        write: |c, v| {
            let mut placement = c.placement.take().unwrap_or_default();
            placement.tags = v;
            c.placement = Some(placement);
        },
        same: |a, b| same_set(a, b),
        show: |v| list(v),
        cost: Cost::InPlace,
        compared: always,
    },
];

/// JetStream keeps limits as signed 64-bit integers; validation keeps declared ones in range.
fn saturating_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// The declared replica count (validation keeps it within 1..=5).
fn replicas(declared: &Stream) -> usize {
    usize::try_from(declared.replicas).unwrap_or(1)
}

fn storage(storage: Storage) -> stream::StorageType {
    match storage {
        Storage::File => stream::StorageType::File,
        Storage::Memory => stream::StorageType::Memory,
    }
}

fn retention(retention: Retention) -> stream::RetentionPolicy {
    match retention {
        Retention::Limits => stream::RetentionPolicy::Limits,
        Retention::Interest => stream::RetentionPolicy::Interest,
        Retention::Workqueue => stream::RetentionPolicy::WorkQueue,
    }
}

fn discard(discard: Discard) -> stream::DiscardPolicy {
    match discard {
        Discard::Old => stream::DiscardPolicy::Old,
        Discard::New => stream::DiscardPolicy::New,
    }
}

fn storage_name(storage: stream::StorageType) -> String {
    match storage {
        stream::StorageType::File => "file",
        stream::StorageType::Memory => "memory",
    }
    .to_owned()
}

fn retention_name(retention: stream::RetentionPolicy) -> String {
    match retention {
        stream::RetentionPolicy::Limits => "limits",
        stream::RetentionPolicy::Interest => "interest",
        stream::RetentionPolicy::WorkQueue => "workqueue",
    }
    .to_owned()
}

fn discard_name(discard: stream::DiscardPolicy) -> String {
    match discard {
        stream::DiscardPolicy::Old => "old",
        stream::DiscardPolicy::New => "new",
    }
    .to_owned()
}

/// A limit lowered below what the stream holds deletes the oldest messages.
fn below_usage(want: i64, used: u64, unit: &str) -> Option<String> {
    (want > 0 && (want as u64) < used).then(|| {
        format!("the stream holds {used} {unit}; lowering the limit to {want} deletes the oldest")
    })
}

fn age_text(age: Duration) -> String {
    if age.is_zero() {
        "unlimited".to_owned()
    } else {
        go_duration(age)
    }
}
