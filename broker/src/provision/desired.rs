//! The desired state, beside the actual one (`observe.rs`): the JetStream configuration a declared
//! stream or consumer asks for, in async-nats' types.
//!
//! Only the fields pier.toml sets are written; everything else keeps the value of the base
//! configuration it is laid over: nats-server's defaults for a new object, the server's current
//! configuration for an update. That way an update never resets a field pier does not manage.
//! Which fields those are, and how each is written, is the table in `fields/`: the same one
//! the comparison with the server's configuration (`diff.rs`) reads.

use async_nats::jetstream::{consumer, stream};
use pier_config::model::{Consumer, Stream};

use super::fields::{CONSUMER_FIELDS, STREAM_FIELDS};

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
    for field in STREAM_FIELDS {
        field.overlay(declared, &mut config);
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
    for field in CONSUMER_FIELDS {
        field.overlay(declared, &mut config);
    }
    config
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provision::fields::consumer::effective_filters;
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
