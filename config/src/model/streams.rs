use serde::{Deserialize, Serialize};

use crate::units::{Bytes, Span};

/// A JetStream stream declared in pier.toml (`[[streams]]`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Stream {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    pub subjects: Vec<String>,
    #[serde(default)]
    pub storage: Storage,
    #[serde(default = "default_replicas")]
    pub replicas: i64,
    #[serde(default)]
    pub retention: Retention,
    #[serde(default)]
    pub max_age: Option<Span>,
    #[serde(default)]
    pub max_bytes: Option<Bytes>,
    #[serde(default)]
    pub max_msgs: Option<u64>,
    #[serde(default)]
    pub max_msgs_per_subject: Option<u64>,
    #[serde(default)]
    pub max_msg_size: Option<Bytes>,
    #[serde(default)]
    pub discard: Discard,
    #[serde(default)]
    pub duplicate_window: Option<Span>,
    #[serde(default)]
    pub placement_tags: Vec<String>,
    /// Lets provisioning make changes that lose data or cannot be made in place (storage,
    /// retention, fewer replicas, limits below current usage, ...): those streams and consumers
    /// are updated or deleted and recreated. Off: such changes are refused.
    #[serde(default)]
    pub allow_destructive: bool,
    #[serde(default)]
    pub consumers: Vec<Consumer>,
}

pub fn default_replicas() -> i64 {
    1
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Storage {
    #[default]
    File,
    Memory,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Retention {
    #[default]
    Limits,
    Interest,
    #[serde(alias = "work_queue")]
    Workqueue,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Discard {
    #[default]
    Old,
    New,
}

/// A durable consumer on its stream (`[[streams.consumers]]`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Consumer {
    /// The durable name.
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(rename = "type", default)]
    pub kind: ConsumerKind,
    #[serde(default)]
    pub ack_policy: AckPolicy,
    #[serde(default)]
    pub ack_wait: Option<Span>,
    #[serde(default)]
    pub max_deliver: Option<i64>,
    #[serde(default)]
    pub max_ack_pending: Option<i64>,
    #[serde(default)]
    pub filter_subjects: Vec<String>,
    #[serde(default)]
    pub deliver_policy: DeliverPolicy,
    /// Push consumers only: where messages are delivered.
    #[serde(default)]
    pub deliver_subject: Option<String>,
    /// Push consumers only: the queue group sharing the deliveries.
    #[serde(default)]
    pub deliver_group: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ConsumerKind {
    #[default]
    Pull,
    Push,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AckPolicy {
    #[default]
    Explicit,
    All,
    None,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliverPolicy {
    #[default]
    All,
    Last,
    New,
    LastPerSubject,
}
