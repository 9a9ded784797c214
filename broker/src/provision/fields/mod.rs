//! The managed fields: every setting of a declared stream or consumer that provisioning writes and
//! compares, each listed once with how it is read from pier.toml and from the server, written,
//! compared and shown, and what changing it costs. The desired configuration (`desired.rs`)
//! writes every row of a table; the comparison (`diff.rs`) compares every row. A new stream or
//! consumer setting is one row here.
//!
//! A field pier.toml leaves out keeps the server's value and is not compared: nats-server fills
//! in every field a request leaves out (max_msgs -1, duplicate window 2m, ack wait 30s, ...),
//! and those defaults are not drift.
//!
//! This file holds what a row is; the rows are in `stream.rs` and `consumer.rs`.

pub(super) mod consumer;
mod stream;

use super::diff::{Effect, FieldChange};

pub use consumer::CONSUMER_FIELDS;
pub use stream::STREAM_FIELDS;

/// One managed field of a declaration `D` in the server's configuration `C`; `X` is what judging
/// a change's cost needs beyond the two values, `V` the field's value in the server's terms.
pub struct Field<D, C, X, V> {
    /// The name operators see: pier.toml's key, and the plan's `field`.
    name: &'static str,
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

/// Two limits nats-server reads alike (0 and -1 are both "no limit").
fn same_limit(a: &i64, b: &i64) -> bool {
    normal_limit(*a) == normal_limit(*b)
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

#[cfg(test)]
mod tests {
    //! Every row is both written by the desired configuration and compared by the diff: changing
    //! its declared value gives exactly one difference, named after it, with the cost it declares,
    //! and the configuration the overlay writes then shows no difference at all.

    use std::time::Duration;

    use async_nats::jetstream::{consumer, stream};
    use pier_config::model::{
        AckPolicy, Consumer, ConsumerKind, DeliverPolicy, Discard, Retention, Storage, Stream,
    };
    use pier_config::units::{Bytes, Span};
    use pier_config::Source;

    use super::*;
    use crate::provision::desired::{overlay_consumer, overlay_stream};
    use crate::provision::diff::{consumer_changes, stream_changes, ServerFacts, StreamUsage};

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
        serde_json::from_str::<stream::Info>(include_str!("../testdata/stream-2.15.1.json"))
            .expect("captured stream info parses")
            .config
    }

    fn server_consumer(name: &str) -> consumer::Config {
        let text = match name {
            "pull-worker" => include_str!("../testdata/consumer-2.15.1.json"),
            _ => include_str!("../testdata/push-2.15.1.json"),
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
