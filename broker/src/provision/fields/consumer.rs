//! A consumer's managed fields: the rows provisioning writes and compares for
//! `[[streams.consumers]]`.

use async_nats::jetstream::consumer;
use pier_config::model::{AckPolicy, Consumer, ConsumerKind, DeliverPolicy};
use pier_config::units::go_duration;

use super::{always, equal, limit_text, list, same_limit, same_set, sorted, Cost, Field, Managed};

pub type ConsumerField = dyn Managed<Consumer, consumer::Config, ()>;
type C<V> = Field<Consumer, consumer::Config, (), V>;

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
