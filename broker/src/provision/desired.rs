//! The JetStream configuration a declared stream or consumer asks for, in async-nats' types.
//!
//! Only the fields pier.toml sets are written; everything else keeps the value of the base
//! configuration it is laid over: nats-server's defaults for a new object, the server's current
//! configuration for an update. That way an update never resets a field pier does not manage.

use async_nats::jetstream::{consumer, stream};
use pier_config::model::{
    AckPolicy, Consumer, ConsumerKind, DeliverPolicy, Discard, Retention, Storage, Stream,
};

/// The configuration to create `declared` with.
pub fn new_stream(declared: &Stream) -> stream::Config {
    let base = stream::Config {
        name: declared.name.clone(),
        ..Default::default()
    };
    overlay_stream(declared, &base)
}

/// `base` (usually the server's current configuration) with every field `declared` sets.
pub fn overlay_stream(declared: &Stream, base: &stream::Config) -> stream::Config {
    let mut config = base.clone();
    config.name = declared.name.clone();
    if let Some(description) = &declared.description {
        config.description = Some(description.clone());
    }
    config.subjects = declared.subjects.clone();
    config.storage = storage(declared.storage);
    config.num_replicas = replicas(declared);
    config.retention = retention(declared.retention);
    config.discard = discard(declared.discard);
    if let Some(age) = declared.max_age {
        config.max_age = age.get();
    }
    if let Some(bytes) = declared.max_bytes {
        config.max_bytes = saturating_i64(bytes.get());
    }
    if let Some(msgs) = declared.max_msgs {
        config.max_messages = saturating_i64(msgs);
    }
    if let Some(msgs) = declared.max_msgs_per_subject {
        config.max_messages_per_subject = saturating_i64(msgs);
    }
    if let Some(size) = declared.max_msg_size {
        config.max_message_size = i32::try_from(size.get()).unwrap_or(i32::MAX);
    }
    if let Some(window) = declared.duplicate_window {
        config.duplicate_window = window.get();
    }
    if !declared.placement_tags.is_empty() {
        let mut placement = config.placement.take().unwrap_or_default();
        placement.tags = declared.placement_tags.clone();
        config.placement = Some(placement);
    }
    config
}

/// The configuration to create `declared` with.
pub fn new_consumer(declared: &Consumer) -> consumer::Config {
    overlay_consumer(declared, &consumer::Config::default())
}

/// `base` (usually the server's current configuration) with every field `declared` sets.
pub fn overlay_consumer(declared: &Consumer, base: &consumer::Config) -> consumer::Config {
    let mut config = base.clone();
    config.durable_name = Some(declared.name.clone());
    if let Some(description) = &declared.description {
        config.description = Some(description.clone());
    }
    match declared.kind {
        ConsumerKind::Pull => {
            config.deliver_subject = None;
            config.deliver_group = None;
        }
        ConsumerKind::Push => {
            config.deliver_subject = declared.deliver_subject.clone();
            config.deliver_group = declared.deliver_group.clone();
        }
    }
    config.ack_policy = ack_policy(declared.ack_policy);
    config.deliver_policy = deliver_policy(declared.deliver_policy);
    if let Some(wait) = declared.ack_wait {
        config.ack_wait = wait.get();
    }
    if let Some(deliver) = declared.max_deliver {
        config.max_deliver = deliver;
    }
    if let Some(pending) = declared.max_ack_pending {
        config.max_ack_pending = pending;
    }
    // A single filter goes in `filter_subject`, which every server version reads; nats-server
    // before 2.10 does not know `filter_subjects`.
    match declared.filter_subjects.as_slice() {
        [] => {
            config.filter_subject = String::new();
            config.filter_subjects = Vec::new();
        }
        [one] => {
            config.filter_subject = one.clone();
            config.filter_subjects = Vec::new();
        }
        many => {
            config.filter_subject = String::new();
            config.filter_subjects = many.to_vec();
        }
    }
    config
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
pub(super) fn saturating_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// The declared replica count (validation keeps it within 1..=5).
pub fn replicas(declared: &Stream) -> usize {
    usize::try_from(declared.replicas).unwrap_or(1)
}

pub fn storage(storage: Storage) -> stream::StorageType {
    match storage {
        Storage::File => stream::StorageType::File,
        Storage::Memory => stream::StorageType::Memory,
    }
}

pub fn retention(retention: Retention) -> stream::RetentionPolicy {
    match retention {
        Retention::Limits => stream::RetentionPolicy::Limits,
        Retention::Interest => stream::RetentionPolicy::Interest,
        Retention::Workqueue => stream::RetentionPolicy::WorkQueue,
    }
}

pub fn discard(discard: Discard) -> stream::DiscardPolicy {
    match discard {
        Discard::Old => stream::DiscardPolicy::Old,
        Discard::New => stream::DiscardPolicy::New,
    }
}

pub fn ack_policy(policy: AckPolicy) -> consumer::AckPolicy {
    match policy {
        AckPolicy::Explicit => consumer::AckPolicy::Explicit,
        AckPolicy::All => consumer::AckPolicy::All,
        AckPolicy::None => consumer::AckPolicy::None,
    }
}

pub fn deliver_policy(policy: DeliverPolicy) -> consumer::DeliverPolicy {
    match policy {
        DeliverPolicy::All => consumer::DeliverPolicy::All,
        DeliverPolicy::Last => consumer::DeliverPolicy::Last,
        DeliverPolicy::New => consumer::DeliverPolicy::New,
        DeliverPolicy::LastPerSubject => consumer::DeliverPolicy::LastPerSubject,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pier_config::Source;
    use std::time::Duration;

    fn streams(toml: &str) -> Vec<Stream> {
        let text = format!("[node]\nname = \"n1\"\n{toml}");
        Source::from_text("pier.toml", text)
            .parse()
            .expect("test config parses")
            .streams
    }

    #[test]
    fn seed_stream_and_pull_consumer() {
        let streams = streams(
            r#"
[[streams]]
name = "LOGS"
subjects = ["logs.>"]
storage = "file"
replicas = 3

[[streams.consumers]]
name = "pull-worker"
type = "pull"
ack_policy = "explicit"
max_ack_pending = 50000
"#,
        );
        let config = new_stream(&streams[0]);
        assert_eq!(config.name, "LOGS");
        assert_eq!(config.subjects, ["logs.>"]);
        assert_eq!(config.storage, stream::StorageType::File);
        assert_eq!(config.num_replicas, 3);
        // Unset limits stay zero so that nats-server fills in its own defaults.
        assert_eq!(config.max_messages, 0);
        assert_eq!(config.duplicate_window, Duration::ZERO);

        let consumer = new_consumer(&streams[0].consumers[0]);
        assert_eq!(consumer.durable_name.as_deref(), Some("pull-worker"));
        assert_eq!(consumer.deliver_subject, None);
        assert_eq!(consumer.ack_policy, consumer::AckPolicy::Explicit);
        assert_eq!(consumer.max_ack_pending, 50_000);
        assert_eq!(consumer.ack_wait, Duration::ZERO);
    }

    #[test]
    fn overlay_keeps_fields_the_config_does_not_set() {
        let streams = streams(
            r#"
[[streams]]
name = "LOGS"
subjects = ["logs.>"]
max_age = "7d"
"#,
        );
        let server = stream::Config {
            name: "LOGS".into(),
            subjects: vec!["logs.>".into()],
            max_messages: -1,
            max_bytes: -1,
            duplicate_window: Duration::from_secs(120),
            allow_direct: true,
            ..Default::default()
        };
        let config = overlay_stream(&streams[0], &server);
        assert_eq!(config.max_age, Duration::from_secs(7 * 86400));
        assert_eq!(config.max_messages, -1);
        assert_eq!(config.duplicate_window, Duration::from_secs(120));
        assert!(config.allow_direct);
    }

    #[test]
    fn one_filter_uses_filter_subject_and_several_use_filter_subjects() {
        let streams = streams(
            r#"
[[streams]]
name = "LOGS"
subjects = ["logs.>"]

[[streams.consumers]]
name = "one"
filter_subjects = ["logs.app"]

[[streams.consumers]]
name = "two"
type = "push"
deliver_subject = "deliver.two"
deliver_group = "workers"
filter_subjects = ["logs.b", "logs.a"]
"#,
        );
        let one = new_consumer(&streams[0].consumers[0]);
        assert_eq!(one.filter_subject, "logs.app");
        assert!(one.filter_subjects.is_empty());
        let two = new_consumer(&streams[0].consumers[1]);
        assert_eq!(two.filter_subject, "");
        assert_eq!(two.filter_subjects, ["logs.b", "logs.a"]);
        assert_eq!(effective_filters(&two), ["logs.a", "logs.b"]);
        assert_eq!(two.deliver_subject.as_deref(), Some("deliver.two"));
        assert_eq!(two.deliver_group.as_deref(), Some("workers"));
    }
}
