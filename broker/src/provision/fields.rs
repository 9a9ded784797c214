//! The managed fields: every setting of a declared stream or consumer that provisioning writes and
//! compares, each listed once with how it is read from pier.toml and from the server, written,
//! compared and shown, and what changing it costs. The desired configuration (`desired.rs`)
//! writes every row of a table; the comparison (`diff.rs`) compares every row. A new stream or
//! consumer setting is one row here.
//!
//! A field pier.toml leaves out keeps the server's value and is not compared: nats-server fills
//! in every field a request leaves out (max_msgs -1, duplicate window 2m, ack wait 30s, ...),
//! and those defaults are not drift.

use std::time::Duration;

use async_nats::jetstream::{consumer, stream};
use pier_config::model::{
    AckPolicy, Consumer, ConsumerKind, DeliverPolicy, Discard, Retention, Storage, Stream,
};
use pier_config::units::go_duration;
use pier_config::ServerVersion;

use super::diff::{Effect, FieldChange, StreamFacts};

/// One managed field of a declaration `D` in the server's configuration `C`; `X` is what judging
/// a change's cost needs beyond the two values, `V` the field's value in the server's terms.
pub struct Field<D, C, X, V> {
    /// The name operators see: pier.toml's key, and the plan's `field`.
    pub name: &'static str,
    /// The declared value; None when pier.toml leaves the field to the server.
    declared: fn(&D) -> Option<V>,
    /// The server's value.
    actual: fn(&C) -> V,
    /// Writes a declared value into a configuration.
    write: fn(&mut C, V),
    /// How two values are compared: whether they mean the same to nats-server.
    same: fn(&V, &V) -> bool,
    /// A value as an operator would write it.
    show: fn(&V) -> String,
    /// What changing the field costs.
    cost: Cost<V, X>,
    /// Whether the server's object has the field to compare (a pull consumer has no deliver
    /// subject: turning it into a push consumer is the change of `type`).
    compared: fn(&C) -> bool,
}

/// What changing a field from one value (the server's) to another (the declared) costs.
pub enum Cost<V, X> {
    /// The server changes it in place; nothing is lost.
    InPlace,
    /// In place, but destructive when the judgement gives a reason: data or redundancy is lost.
    DestructiveWhen(fn(&V, &V, &X) -> Option<String>),
    /// The server cannot change it: the object is deleted and created again; the reason says
    /// what is lost.
    Recreate(fn(&V, &V, &X) -> String),
    /// In place, destructive or a recreation, as the judgement decides from the values and the
    /// server.
    Depends(fn(&V, &V, &X) -> Effect),
}

impl<V, X> Cost<V, X> {
    fn effect(&self, from: &V, to: &V, facts: &X) -> Effect {
        match self {
            Cost::InPlace => Effect::InPlace,
            Cost::DestructiveWhen(judge) => {
                judge(from, to, facts).map_or(Effect::InPlace, Effect::Destructive)
            }
            Cost::Recreate(reason) => Effect::Recreate(reason(from, to, facts)),
            Cost::Depends(judge) => judge(from, to, facts),
        }
    }

    /// Whether the cost declared can come to `effect`.
    #[cfg(test)]
    fn allows(&self, effect: &Effect) -> bool {
        matches!(
            (self, effect),
            (Cost::InPlace, Effect::InPlace)
                | (
                    Cost::DestructiveWhen(_),
                    Effect::InPlace | Effect::Destructive(_)
                )
                | (Cost::Recreate(_), Effect::Recreate(_))
                | (Cost::Depends(_), _)
        )
    }
}

/// A row of a table, whatever its value's type.
pub trait Managed<D, C, X>: Sync {
    #[cfg(test)]
    fn name(&self) -> &'static str;
    /// Writes the declared value into `config`, when pier.toml sets one.
    fn overlay(&self, declared: &D, config: &mut C);
    /// The difference between the declared value and the server's, when pier.toml sets one.
    fn change(&self, declared: &D, actual: &C, facts: &X) -> Option<FieldChange>;
    #[cfg(test)]
    fn allows(&self, effect: &Effect) -> bool;
}

impl<D, C, X, V> Managed<D, C, X> for Field<D, C, X, V> {
    #[cfg(test)]
    fn name(&self) -> &'static str {
        self.name
    }

    fn overlay(&self, declared: &D, config: &mut C) {
        if let Some(value) = (self.declared)(declared) {
            (self.write)(config, value);
        }
    }

    fn change(&self, declared: &D, actual: &C, facts: &X) -> Option<FieldChange> {
        let to = (self.declared)(declared)?;
        if !(self.compared)(actual) {
            return None;
        }
        let from = (self.actual)(actual);
        if (self.same)(&from, &to) {
            return None;
        }
        Some(FieldChange {
            field: self.name,
            from: (self.show)(&from),
            to: (self.show)(&to),
            effect: self.cost.effect(&from, &to, facts),
        })
    }

    #[cfg(test)]
    fn allows(&self, effect: &Effect) -> bool {
        self.cost.allows(effect)
    }
}

pub type StreamField = dyn Managed<Stream, stream::Config, StreamFacts>;
pub type ConsumerField = dyn Managed<Consumer, consumer::Config, ()>;
type S<V> = Field<Stream, stream::Config, StreamFacts, V>;
type C<V> = Field<Consumer, consumer::Config, (), V>;

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

/// What recreating a consumer loses.
const CONSUMER_LOST: &str = "its delivery and acknowledgement state would be lost";

/// A consumer's managed fields, in the order a plan lists their changes. The durable name is
/// the consumer's identity, not a field.
pub static CONSUMER_FIELDS: &[&ConsumerField] = &[
    &C {
        name: "description",
        declared: |c| c.description.clone(),
        actual: |c| c.description.clone().unwrap_or_default(),
        write: |c, v| c.description = Some(v),
        same: equal,
        show: String::clone,
        cost: Cost::InPlace,
        compared: always,
    },
    &C {
        name: "type",
        declared: |c| Some(c.kind),
        actual: |c| kind_of(c),
        // A push consumer's deliver subject and group are fields of their own.
        write: |c, kind| {
            if kind == ConsumerKind::Pull {
                c.deliver_subject = None;
                c.deliver_group = None;
            }
        },
        same: equal,
        show: |v| kind_name(*v),
        cost: Cost::Recreate(|from, to, _| {
            format!(
                "nats-server cannot turn a {} consumer into a {} consumer; {CONSUMER_LOST}",
                kind_name(*from),
                kind_name(*to)
            )
        }),
        compared: always,
    },
    &C {
        name: "deliver_subject",
        declared: |c| (c.kind == ConsumerKind::Push).then(|| c.deliver_subject.clone()),
        actual: |c| c.deliver_subject.clone(),
        write: |c, v| c.deliver_subject = v,
        same: equal,
        show: |v| v.clone().unwrap_or_default(),
        cost: Cost::InPlace,
        compared: is_push,
    },
    &C {
        name: "deliver_group",
        declared: |c| (c.kind == ConsumerKind::Push).then(|| c.deliver_group.clone()),
        actual: |c| c.deliver_group.clone().filter(|g| !g.is_empty()),
        write: |c, v| c.deliver_group = v,
        same: equal,
        show: |v| v.clone().unwrap_or_default(),
        cost: Cost::InPlace,
        compared: is_push,
    },
    &C {
        name: "ack_policy",
        declared: |c| Some(ack_policy(c.ack_policy)),
        actual: |c| c.ack_policy,
        write: |c, v| c.ack_policy = v,
        same: equal,
        show: |v| ack_name(*v),
        cost: Cost::Recreate(|_, _, _| {
            format!("nats-server cannot change a consumer's ack policy; {CONSUMER_LOST}")
        }),
        compared: always,
    },
    &C {
        name: "deliver_policy",
        declared: |c| Some(deliver_policy(c.deliver_policy)),
        actual: |c| c.deliver_policy,
        write: |c, v| c.deliver_policy = v,
        same: equal,
        show: deliver_name,
        cost: Cost::Recreate(|_, _, _| {
            format!("nats-server cannot change a consumer's deliver policy; {CONSUMER_LOST}")
        }),
        compared: always,
    },
    &C {
        name: "ack_wait",
        declared: |c| c.ack_wait.map(|w| w.get()),
        actual: |c| c.ack_wait,
        write: |c, v| c.ack_wait = v,
        same: equal,
        show: |v| go_duration(*v),
        cost: Cost::InPlace,
        compared: always,
    },
    &C {
        name: "max_deliver",
        declared: |c| c.max_deliver,
        actual: |c| c.max_deliver,
        write: |c, v| c.max_deliver = v,
        same: same_limit,
        show: |v| limit_text(*v),
        cost: Cost::InPlace,
        compared: always,
    },
    &C {
        name: "max_ack_pending",
        declared: |c| c.max_ack_pending,
        actual: |c| c.max_ack_pending,
        write: |c, v| c.max_ack_pending = v,
        same: equal,
        show: |v| limit_text(*v),
        cost: Cost::InPlace,
        compared: always,
    },
    &C {
        name: "filter_subjects",
        declared: |c| Some(c.filter_subjects.clone()),
        actual: effective_filters,
        // A single filter goes in `filter_subject`, which every server version reads;
        // nats-server before 2.10 does not know `filter_subjects`.
        write: |c, v| match v.as_slice() {
            [] => {
                c.filter_subject = String::new();
                c.filter_subjects = Vec::new();
            }
            [one] => {
                c.filter_subject = one.clone();
                c.filter_subjects = Vec::new();
            }
            _ => {
                c.filter_subject = String::new();
                c.filter_subjects = v;
            }
        },
        // Checked against 2.9.10 and 2.15.1: both change a durable's filter in place.
        same: |a, b| same_set(a, b),
        show: |v| list(&sorted(v)),
        cost: Cost::InPlace,
        compared: always,
    },
];

fn always<C>(_: &C) -> bool {
    true
}

fn equal<V: PartialEq>(a: &V, b: &V) -> bool {
    a == b
}

/// The same items, in any order, each once or more.
fn same_set(a: &[String], b: &[String]) -> bool {
    sorted(a) == sorted(b)
}

/// nats-server reads 0 and -1 alike as "no limit".
fn same_limit(a: &i64, b: &i64) -> bool {
    normal_limit(*a) == normal_limit(*b)
}

/// A limit lowered below what the stream holds deletes the oldest messages.
fn below_usage(want: i64, used: u64, unit: &str) -> Option<String> {
    (want > 0 && (want as u64) < used).then(|| {
        format!("the stream holds {used} {unit}; lowering the limit to {want} deletes the oldest")
    })
}

fn is_push(config: &consumer::Config) -> bool {
    kind_of(config) == ConsumerKind::Push
}

fn kind_of(config: &consumer::Config) -> ConsumerKind {
    if config.deliver_subject.is_some() {
        ConsumerKind::Push
    } else {
        ConsumerKind::Pull
    }
}

/// The filters a consumer applies, whichever of the two fields holds them, sorted.
pub fn effective_filters(config: &consumer::Config) -> Vec<String> {
    let mut filters = if !config.filter_subjects.is_empty() {
        config.filter_subjects.clone()
    } else if !config.filter_subject.is_empty() {
        vec![config.filter_subject.clone()]
    } else {
        Vec::new()
    };
    filters.sort();
    filters.dedup();
    filters
}

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

fn ack_policy(policy: AckPolicy) -> consumer::AckPolicy {
    match policy {
        AckPolicy::Explicit => consumer::AckPolicy::Explicit,
        AckPolicy::All => consumer::AckPolicy::All,
        AckPolicy::None => consumer::AckPolicy::None,
    }
}

fn deliver_policy(policy: DeliverPolicy) -> consumer::DeliverPolicy {
    match policy {
        DeliverPolicy::All => consumer::DeliverPolicy::All,
        DeliverPolicy::Last => consumer::DeliverPolicy::Last,
        DeliverPolicy::New => consumer::DeliverPolicy::New,
        DeliverPolicy::LastPerSubject => consumer::DeliverPolicy::LastPerSubject,
    }
}

fn sorted(items: &[String]) -> Vec<String> {
    let mut items = items.to_vec();
    items.sort();
    items.dedup();
    items
}

fn list(items: &[String]) -> String {
    format!("[{}]", items.join(", "))
}

/// nats-server reads 0 and -1 alike as "no limit".
fn normal_limit(value: i64) -> i64 {
    if value <= 0 {
        -1
    } else {
        value
    }
}

fn limit_text(value: i64) -> String {
    match normal_limit(value) {
        -1 => "unlimited".to_owned(),
        n => n.to_string(),
    }
}

fn age_text(age: Duration) -> String {
    if age.is_zero() {
        "unlimited".to_owned()
    } else {
        go_duration(age)
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

fn kind_name(kind: ConsumerKind) -> String {
    match kind {
        ConsumerKind::Pull => "pull",
        ConsumerKind::Push => "push",
    }
    .to_owned()
}

fn ack_name(policy: consumer::AckPolicy) -> String {
    serde_json::to_value(policy)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| format!("{policy:?}").to_lowercase())
}

fn deliver_name(policy: &consumer::DeliverPolicy) -> String {
    match policy {
        consumer::DeliverPolicy::All => "all".to_owned(),
        consumer::DeliverPolicy::Last => "last".to_owned(),
        consumer::DeliverPolicy::New => "new".to_owned(),
        consumer::DeliverPolicy::LastPerSubject => "last_per_subject".to_owned(),
        consumer::DeliverPolicy::ByStartSequence { start_sequence } => {
            format!("by_start_sequence ({start_sequence})")
        }
        consumer::DeliverPolicy::ByStartTime { .. } => "by_start_time".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    //! Every row is both written by the desired configuration and compared by the diff: changing
    //! its declared value gives exactly one difference, named after it, with the cost it declares,
    //! and the configuration the overlay writes then shows no difference at all.

    use super::*;
    use crate::provision::desired::{overlay_consumer, overlay_stream};
    use crate::provision::diff::{consumer_changes, stream_changes, ServerFacts, StreamUsage};
    use pier_config::model::{AckPolicy, DeliverPolicy, Discard, Retention, Storage};
    use pier_config::units::{Bytes, Span};
    use pier_config::Source;

    /// The seed's stream, its pull consumer and a push consumer, as the captured server
    /// configurations below hold them.
    const STREAMS: &str = r#"
[node]
name = "n1"

[[streams]]
name = "LOGS"
subjects = ["logs.>"]

[[streams.consumers]]
name = "pull-worker"
type = "pull"
ack_policy = "explicit"
max_ack_pending = 50000

[[streams.consumers]]
name = "push-worker"
type = "push"
deliver_subject = "deliver.logs"
deliver_group = "workers"
filter_subjects = ["logs.app"]
"#;

    fn declared() -> Stream {
        Source::from_text("pier.toml", STREAMS)
            .parse()
            .expect("test config parses")
            .streams
            .remove(0)
    }

    fn server_stream() -> stream::Config {
        serde_json::from_str::<stream::Info>(include_str!("testdata/stream-2.15.1.json"))
            .expect("captured stream info parses")
            .config
    }

    fn server_consumer(name: &str) -> consumer::Config {
        let text = match name {
            "pull-worker" => include_str!("testdata/consumer-2.15.1.json"),
            _ => include_str!("testdata/push-2.15.1.json"),
        };
        serde_json::from_str::<consumer::Info>(text)
            .expect("captured consumer info parses")
            .config
    }

    /// A field's name and a change of its declared value.
    type Edit<T> = (&'static str, fn(&mut T));

    /// One change of every stream field, in the table's order.
    const STREAM_EDITS: &[Edit<Stream>] = &[
        ("description", |s| s.description = Some("logs".into())),
        ("subjects", |s| s.subjects.push("audit.>".into())),
        ("storage", |s| s.storage = Storage::Memory),
        ("replicas", |s| s.replicas = 3),
        ("retention", |s| s.retention = Retention::Interest),
        ("discard", |s| s.discard = Discard::New),
        ("max_age", |s| {
            s.max_age = Some(Span(Duration::from_secs(3600)))
        }),
        ("max_bytes", |s| s.max_bytes = Some(Bytes(1 << 30))),
        ("max_msgs", |s| s.max_msgs = Some(1000)),
        ("max_msgs_per_subject", |s| {
            s.max_msgs_per_subject = Some(10)
        }),
        ("max_msg_size", |s| s.max_msg_size = Some(Bytes(1 << 20))),
        ("duplicate_window", |s| {
            s.duplicate_window = Some(Span(Duration::from_secs(300)))
        }),
        ("placement_tags", |s| s.placement_tags = vec!["ssd".into()]),
    ];

    /// One change of every consumer field, in the table's order, with the consumer it edits.
    const CONSUMER_EDITS: &[(usize, Edit<Consumer>)] = &[
        (
            0,
            ("description", |c| c.description = Some("workers".into())),
        ),
        (
            0,
            ("type", |c| {
                c.kind = ConsumerKind::Push;
                c.deliver_subject = Some("deliver.pull".into());
            }),
        ),
        (
            1,
            ("deliver_subject", |c| {
                c.deliver_subject = Some("deliver.other".into())
            }),
        ),
        (1, ("deliver_group", |c| c.deliver_group = None)),
        (0, ("ack_policy", |c| c.ack_policy = AckPolicy::All)),
        (
            0,
            ("deliver_policy", |c| c.deliver_policy = DeliverPolicy::New),
        ),
        (
            0,
            ("ack_wait", |c| {
                c.ack_wait = Some(Span(Duration::from_secs(60)))
            }),
        ),
        (0, ("max_deliver", |c| c.max_deliver = Some(5))),
        (0, ("max_ack_pending", |c| c.max_ack_pending = Some(100))),
        (
            1,
            ("filter_subjects", |c| {
                c.filter_subjects = vec!["logs.web".into(), "logs.app".into()]
            }),
        ),
    ];

    #[test]
    fn every_edit_names_a_field_of_the_table() {
        let names: Vec<_> = STREAM_FIELDS.iter().map(|f| f.name()).collect();
        let edited: Vec<_> = STREAM_EDITS.iter().map(|(name, _)| *name).collect();
        assert_eq!(
            edited, names,
            "one edit per stream field, in the table's order"
        );
        let names: Vec<_> = CONSUMER_FIELDS.iter().map(|f| f.name()).collect();
        let edited: Vec<_> = CONSUMER_EDITS.iter().map(|(_, (name, _))| *name).collect();
        assert_eq!(
            edited, names,
            "one edit per consumer field, in the table's order"
        );
    }

    #[test]
    fn every_stream_field_is_both_overlaid_and_compared() {
        let server = server_stream();
        // Messages, so that a cost that depends on them can show; none in the subjects dropped.
        let usage = StreamUsage {
            messages: 5,
            bytes: 500,
            oldest: Some(Duration::from_secs(60)),
            dropped_subjects_with_messages: Vec::new(),
        };
        let facts = ServerFacts {
            version: "2.15.1".parse().ok(),
        };
        assert_eq!(stream_changes(&declared(), &server, &usage, facts), []);
        for (field, (name, edit)) in STREAM_FIELDS.iter().zip(STREAM_EDITS) {
            let mut edited = declared();
            edit(&mut edited);
            let changes = stream_changes(&edited, &server, &usage, facts);
            assert_eq!(changes.len(), 1, "{name}: {changes:?}");
            assert_eq!(changes[0].field, *name);
            assert!(field.allows(&changes[0].effect), "{name}: {changes:?}");
            let desired = overlay_stream(&edited, &server);
            assert_ne!(desired, server, "{name} is not written");
            let left = stream_changes(&edited, &desired, &usage, facts);
            assert_eq!(left, [], "{name} is written otherwise than compared");
        }
    }

    #[test]
    fn every_consumer_field_is_both_overlaid_and_compared() {
        for consumer in &declared().consumers {
            let server = server_consumer(&consumer.name);
            assert_eq!(consumer_changes(consumer, &server), [], "{}", consumer.name);
        }
        for (field, (which, (name, edit))) in CONSUMER_FIELDS.iter().zip(CONSUMER_EDITS) {
            let mut edited = declared().consumers.remove(*which);
            let server = server_consumer(&edited.name);
            edit(&mut edited);
            let changes = consumer_changes(&edited, &server);
            assert_eq!(changes.len(), 1, "{name}: {changes:?}");
            assert_eq!(changes[0].field, *name);
            assert!(field.allows(&changes[0].effect), "{name}: {changes:?}");
            let desired = overlay_consumer(&edited, &server);
            assert_ne!(desired, server, "{name} is not written");
            let left = consumer_changes(&edited, &desired);
            assert_eq!(left, [], "{name} is written otherwise than compared");
        }
    }
}
