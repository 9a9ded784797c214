//! Field-by-field comparison of a declared stream or consumer with the server's configuration:
//! each row of the managed fields' table (`fields/`) whose value pier.toml sets and the server
//! holds otherwise is one difference, saying whether the server can apply it in place and whether
//! doing so loses data.

use std::time::Duration;

use async_nats::jetstream::{consumer, stream};
use pier_config::model::{Consumer, Stream};
use pier_config::ServerVersion;
use serde::Serialize;

use super::fields::{CONSUMER_FIELDS, STREAM_FIELDS};

/// What applying one difference costs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "effect", content = "reason", rename_all = "snake_case")]
pub enum Effect {
    /// The server changes it in place; nothing is lost.
    InPlace,
    /// The server changes it in place, but data or redundancy is lost (the reason says which).
    Destructive(String),
    /// The server cannot change it: the object must be deleted and created again.
    Recreate(String),
}

impl Effect {
    pub fn is_safe(&self) -> bool {
        matches!(self, Effect::InPlace)
    }
}

/// One field whose declared value differs from the server's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldChange {
    pub field: &'static str,
    /// The server's value, as an operator would write it.
    pub from: String,
    /// The declared value.
    pub to: String,
    #[serde(flatten)]
    pub effect: Effect,
}

/// What a stream holds, for judging whether a change would lose messages.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamUsage {
    pub messages: u64,
    pub bytes: u64,
    /// Age of the oldest message; None when the stream is empty.
    pub oldest: Option<Duration>,
    /// Subjects the declaration drops (see [`dropped_subjects`]) that still hold messages.
    pub dropped_subjects_with_messages: Vec<String>,
}

/// What the comparison needs to know about the server beyond the object itself.
#[derive(Debug, Clone, Copy, Default)]
pub struct ServerFacts {
    pub version: Option<ServerVersion>,
}

impl ServerFacts {
    pub(super) fn at_least(self, version: ServerVersion) -> bool {
        // An unknown version is assumed recent: the server refuses what it cannot do anyway.
        self.version.map_or(true, |v| v >= version)
    }
}

/// Everything judging a stream change's cost needs beyond the two values.
#[derive(Debug, Clone, Default)]
pub struct StreamFacts {
    pub usage: StreamUsage,
    pub server: ServerFacts,
}

impl StreamFacts {
    /// What recreating the stream would lose.
    pub(super) fn stored(&self) -> String {
        match self.usage.messages {
            0 => "the stream is empty".to_owned(),
            1 => "its 1 message would be lost".to_owned(),
            n => format!("its {n} messages would be lost"),
        }
    }
}

/// The server's subjects that no declared subject covers any more.
pub fn dropped_subjects(declared: &Stream, actual: &stream::Config) -> Vec<String> {
    actual
        .subjects
        .iter()
        .filter(|old| {
            !declared
                .subjects
                .iter()
                .any(|new| pier_config::subject::is_subset(old, new))
        })
        .cloned()
        .collect()
}

pub fn stream_changes(
    declared: &Stream,
    actual: &stream::Config,
    usage: &StreamUsage,
    server: ServerFacts,
) -> Vec<FieldChange> {
    let facts = StreamFacts {
        usage: usage.clone(),
        server,
    };
    STREAM_FIELDS
        .iter()
        .filter_map(|field| field.change(declared, actual, &facts))
        .collect()
}

pub fn consumer_changes(declared: &Consumer, actual: &consumer::Config) -> Vec<FieldChange> {
    CONSUMER_FIELDS
        .iter()
        .filter_map(|field| field.change(declared, actual, &()))
        .collect()
}

#[cfg(test)]
mod tests {
    //! Against configurations captured from nats-server 2.15.1 and 2.9.10 after they created the
    //! seed's stream (R1 on a single node) and the consumers declared in `STREAMS`.

    use super::*;
    use pier_config::Source;

    const STREAMS: &str = r#"
[[streams]]
name = "LOGS"
subjects = ["logs.>"]
# EXTRA

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

    fn declared(extra: &str) -> Stream {
        // Storage and replicas are left at pier's defaults (file, 1) unless `extra` sets them.
        let text = format!("[node]\nname = \"n1\"\n{STREAMS}").replace("# EXTRA", extra);
        Source::from_text("pier.toml", text)
            .parse()
            .expect("test config parses")
            .streams
            .remove(0)
    }

    fn stream(version: &str) -> stream::Info {
        let text = match version {
            "2.15.1" => include_str!("testdata/stream-2.15.1.json"),
            _ => include_str!("testdata/stream-2.9.10.json"),
        };
        serde_json::from_str(text).expect("captured stream info parses")
    }

    fn consumer(version: &str, name: &str) -> consumer::Config {
        let text = match (version, name) {
            ("2.15.1", "pull-worker") => include_str!("testdata/consumer-2.15.1.json"),
            ("2.15.1", _) => include_str!("testdata/push-2.15.1.json"),
            (_, "pull-worker") => include_str!("testdata/consumer-2.9.10.json"),
            _ => include_str!("testdata/push-2.9.10.json"),
        };
        serde_json::from_str::<consumer::Info>(text)
            .expect("captured consumer info parses")
            .config
    }

    fn facts(version: &str) -> ServerFacts {
        ServerFacts {
            version: version.parse().ok(),
        }
    }

    const VERSIONS: [&str; 2] = ["2.15.1", "2.9.10"];

    #[test]
    fn server_defaults_are_not_drift() {
        let declared = declared("");
        for version in VERSIONS {
            let info = stream(version);
            let changes = stream_changes(
                &declared,
                &info.config,
                &StreamUsage::default(),
                facts(version),
            );
            assert_eq!(changes, [], "stream on {version}");
            for c in &declared.consumers {
                let changes = consumer_changes(c, &consumer(version, &c.name));
                assert_eq!(changes, [], "consumer {} on {version}", c.name);
            }
        }
    }

    #[test]
    fn declared_limits_show_as_in_place_changes() {
        let declared = declared("max_age = \"7d\"\nduplicate_window = \"5m\"\nmax_msgs = 1000");
        let info = stream("2.15.1");
        let changes = stream_changes(
            &declared,
            &info.config,
            &StreamUsage::default(),
            facts("2.15.1"),
        );
        let fields: Vec<_> = changes
            .iter()
            .map(|c| (c.field, c.from.as_str(), c.to.as_str()))
            .collect();
        assert_eq!(
            fields,
            [
                ("max_age", "unlimited", "168h"),
                ("max_msgs", "unlimited", "1000"),
                ("duplicate_window", "2m", "5m"),
            ]
        );
        assert!(changes.iter().all(|c| c.effect.is_safe()));
    }

    #[test]
    fn lowering_limits_below_usage_is_destructive() {
        let declared = declared("max_msgs = 10\nmax_age = \"1h\"");
        let mut config = stream("2.15.1").config;
        config.max_messages = 1000;
        let usage = StreamUsage {
            messages: 100,
            bytes: 10_000,
            oldest: Some(Duration::from_secs(7200)),
            dropped_subjects_with_messages: Vec::new(),
        };
        let changes = stream_changes(&declared, &config, &usage, facts("2.15.1"));
        assert_eq!(changes.len(), 2, "{changes:?}");
        for change in &changes {
            assert!(
                matches!(change.effect, Effect::Destructive(_)),
                "{change:?}"
            );
        }
        // The same limits above usage are harmless.
        let usage = StreamUsage {
            messages: 5,
            oldest: Some(Duration::from_secs(60)),
            ..usage
        };
        let changes = stream_changes(&declared, &config, &usage, facts("2.15.1"));
        assert!(changes.iter().all(|c| c.effect.is_safe()), "{changes:?}");
    }

    #[test]
    fn storage_and_retention_need_recreating_and_fewer_replicas_is_destructive() {
        let mut config = stream("2.15.1").config;
        let declared_memory = declared("storage = \"memory\"");
        let usage = StreamUsage {
            messages: 3,
            ..Default::default()
        };
        let changes = stream_changes(&declared_memory, &config, &usage, facts("2.15.1"));
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].field, "storage");
        match &changes[0].effect {
            Effect::Recreate(reason) => assert!(reason.contains("3 messages"), "{reason}"),
            other => panic!("{other:?}"),
        }

        let work_queue = declared("retention = \"workqueue\"");
        let changes = stream_changes(&work_queue, &config, &usage, facts("2.15.1"));
        assert!(matches!(changes[0].effect, Effect::Recreate(_)));
        let interest = declared("retention = \"interest\"");
        let changes = stream_changes(&interest, &config, &usage, facts("2.15.1"));
        assert!(matches!(changes[0].effect, Effect::Destructive(_)));
        let changes = stream_changes(&interest, &config, &usage, facts("2.9.10"));
        assert!(matches!(changes[0].effect, Effect::Recreate(_)));

        config.num_replicas = 3;
        let changes = stream_changes(&declared(""), &config, &usage, facts("2.15.1"));
        assert_eq!(changes[0].field, "replicas");
        assert!(matches!(changes[0].effect, Effect::Destructive(_)));
        config.num_replicas = 1;
        let more = declared("replicas = 3");
        let changes = stream_changes(&more, &config, &usage, facts("2.15.1"));
        assert_eq!(
            (changes[0].field, changes[0].effect.is_safe()),
            ("replicas", true)
        );
    }

    #[test]
    fn dropped_subjects_are_the_ones_no_declared_subject_covers() {
        let mut config = stream("2.15.1").config;
        config.subjects = vec!["logs.>".into(), "audit.*".into()];
        let mut narrower = declared("");
        narrower.subjects = vec!["logs.app".into(), ">".into()];
        assert!(dropped_subjects(&narrower, &config).is_empty());
        narrower.subjects = vec!["logs.app".into()];
        assert_eq!(dropped_subjects(&narrower, &config), ["logs.>", "audit.*"]);

        let usage = StreamUsage {
            messages: 1,
            dropped_subjects_with_messages: vec!["audit.*".into()],
            ..Default::default()
        };
        let changes = stream_changes(&narrower, &config, &usage, facts("2.15.1"));
        assert!(matches!(changes[0].effect, Effect::Destructive(_)));
    }

    #[test]
    fn consumer_changes_say_what_the_server_can_do() {
        let declared = declared("");
        let pull = &declared.consumers[0];
        let push = &declared.consumers[1];

        // pull <-> push cannot be changed in place.
        let changes = consumer_changes(push, &consumer("2.15.1", "pull-worker"));
        let kind = changes
            .iter()
            .find(|c| c.field == "type")
            .expect("type differs");
        assert!(matches!(kind.effect, Effect::Recreate(_)));

        // A filter change is in place, on 2.9 as on 2.15.
        let mut narrower = push.clone();
        narrower.filter_subjects = vec!["logs.app".into(), "logs.web".into()];
        let changes = consumer_changes(&narrower, &consumer("2.15.1", "push-worker"));
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].from, "[logs.app]");
        assert_eq!(changes[0].to, "[logs.app, logs.web]");
        assert!(changes[0].effect.is_safe());
        let mut other = push.clone();
        other.filter_subjects = vec!["logs.web".into()];
        let changes = consumer_changes(&other, &consumer("2.9.10", "push-worker"));
        assert_eq!(changes.len(), 1);
        assert!(changes[0].effect.is_safe());

        // Limits are in place; ack policy is not.
        let mut tuned = pull.clone();
        tuned.max_ack_pending = Some(100);
        tuned.ack_wait = Some(pier_config::units::Span(Duration::from_secs(60)));
        tuned.ack_policy = pier_config::model::AckPolicy::All;
        let changes = consumer_changes(&tuned, &consumer("2.9.10", "pull-worker"));
        let fields: Vec<_> = changes
            .iter()
            .map(|c| (c.field, c.effect.is_safe()))
            .collect();
        assert_eq!(
            fields,
            [
                ("ack_policy", false),
                ("ack_wait", true),
                ("max_ack_pending", true)
            ]
        );
    }
}
