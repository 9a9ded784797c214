//! Field-by-field comparison of a declared stream or consumer with the server's configuration.
//!
//! Only what pier.toml sets is compared: nats-server fills in every field a request leaves out
//! (max_msgs -1, duplicate window 2m, ack wait 30s, ...), and those defaults are not drift. Each
//! difference says whether the server can apply it in place and whether doing so loses data.

use std::time::Duration;

use async_nats::jetstream::{consumer, stream};
use pier_config::model::{Consumer, ConsumerKind, Stream};
use pier_config::units::go_duration;
use pier_config::ServerVersion;
use serde::Serialize;

use super::desired;

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

/// The first nats-server that changes retention between limits and interest in place.
const IN_PLACE_RETENTION: ServerVersion = ServerVersion::new(2, 10, 0);

impl ServerFacts {
    fn at_least(self, version: ServerVersion) -> bool {
        // An unknown version is assumed recent: the server refuses what it cannot do anyway.
        self.version.map_or(true, |v| v >= version)
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
    let mut out = Vec::new();
    let mut push = |field, from: String, to: String, effect| {
        out.push(FieldChange {
            field,
            from,
            to,
            effect,
        })
    };
    let stored = match usage.messages {
        0 => "the stream is empty".to_owned(),
        1 => "its 1 message would be lost".to_owned(),
        n => format!("its {n} messages would be lost"),
    };

    if let Some(description) = &declared.description {
        let current = actual.description.clone().unwrap_or_default();
        if *description != current {
            push("description", current, description.clone(), Effect::InPlace);
        }
    }
    if sorted(&declared.subjects) != sorted(&actual.subjects) {
        let effect = if usage.dropped_subjects_with_messages.is_empty() {
            Effect::InPlace
        } else {
            Effect::Destructive(format!(
                "{} still hold messages, which could no longer be published to or selected by subject",
                usage.dropped_subjects_with_messages.join(", ")
            ))
        };
        push(
            "subjects",
            list(&actual.subjects),
            list(&declared.subjects),
            effect,
        );
    }
    let storage = desired::storage(declared.storage);
    if storage != actual.storage {
        push(
            "storage",
            storage_name(actual.storage),
            storage_name(storage),
            Effect::Recreate(format!(
                "nats-server cannot change a stream's storage type; {stored}"
            )),
        );
    }
    let replicas = desired::replicas(declared);
    if replicas != actual.num_replicas {
        let effect = if replicas < actual.num_replicas {
            Effect::Destructive(format!(
                "fewer replicas: the stream survives the loss of fewer nodes (R{} → R{replicas})",
                actual.num_replicas
            ))
        } else {
            Effect::InPlace
        };
        push(
            "replicas",
            actual.num_replicas.to_string(),
            replicas.to_string(),
            effect,
        );
    }
    let retention = desired::retention(declared.retention);
    if retention != actual.retention {
        use stream::RetentionPolicy::{Interest, Limits};
        let in_place = matches!(
            (actual.retention, retention),
            (Limits, Interest) | (Interest, Limits)
        ) && server.at_least(IN_PLACE_RETENTION);
        let effect = if in_place {
            Effect::Destructive(
                "a new retention policy changes which messages are kept; messages without interest may be removed"
                    .to_owned(),
            )
        } else {
            Effect::Recreate(format!(
                "nats-server cannot change this retention policy in place; {stored}"
            ))
        };
        push(
            "retention",
            retention_name(actual.retention),
            retention_name(retention),
            effect,
        );
    }
    let discard = desired::discard(declared.discard);
    if discard != actual.discard {
        push(
            "discard",
            discard_name(actual.discard),
            discard_name(discard),
            Effect::InPlace,
        );
    }
    if let Some(age) = declared.max_age.map(|a| a.get()) {
        if age != actual.max_age {
            let lower = !age.is_zero() && (actual.max_age.is_zero() || age < actual.max_age);
            let effect = match usage.oldest {
                Some(oldest) if lower && oldest > age => Effect::Destructive(format!(
                    "messages older than {} would be deleted (the oldest is {})",
                    go_duration(age),
                    go_duration(Duration::from_secs(oldest.as_secs()))
                )),
                _ => Effect::InPlace,
            };
            push("max_age", age_text(actual.max_age), age_text(age), effect);
        }
    }
    let limits = [
        (
            "max_bytes",
            declared.max_bytes.map(|b| b.get()),
            actual.max_bytes,
            usage.bytes,
            "bytes",
        ),
        (
            "max_msgs",
            declared.max_msgs,
            actual.max_messages,
            usage.messages,
            "messages",
        ),
    ];
    for (field, want, have, used, unit) in limits {
        let Some(want) = want.map(desired::saturating_i64) else {
            continue;
        };
        if normal_limit(want) != normal_limit(have) {
            let effect = if want > 0 && (want as u64) < used {
                Effect::Destructive(format!(
                    "the stream holds {used} {unit}; lowering the limit to {want} deletes the oldest"
                ))
            } else {
                Effect::InPlace
            };
            push(field, limit_text(have), limit_text(want), effect);
        }
    }
    if let Some(want) = declared.max_msgs_per_subject.map(desired::saturating_i64) {
        let have = actual.max_messages_per_subject;
        if normal_limit(want) != normal_limit(have) {
            let lower = want > 0 && (normal_limit(have) == -1 || want < have);
            let effect = if lower && usage.messages > 0 {
                Effect::Destructive(format!(
                    "subjects holding more than {want} messages would lose their oldest"
                ))
            } else {
                Effect::InPlace
            };
            push(
                "max_msgs_per_subject",
                limit_text(have),
                limit_text(want),
                effect,
            );
        }
    }
    if let Some(size) = declared.max_msg_size {
        let want = i64::try_from(size.get()).unwrap_or(i64::MAX);
        let have = i64::from(actual.max_message_size);
        if normal_limit(want) != normal_limit(have) {
            push(
                "max_msg_size",
                limit_text(have),
                limit_text(want),
                Effect::InPlace,
            );
        }
    }
    if let Some(window) = declared.duplicate_window.map(|w| w.get()) {
        if window != actual.duplicate_window {
            push(
                "duplicate_window",
                go_duration(actual.duplicate_window),
                go_duration(window),
                Effect::InPlace,
            );
        }
    }
    if !declared.placement_tags.is_empty() {
        let have = actual
            .placement
            .as_ref()
            .map(|p| p.tags.clone())
            .unwrap_or_default();
        if sorted(&declared.placement_tags) != sorted(&have) {
            push(
                "placement_tags",
                list(&have),
                list(&declared.placement_tags),
                Effect::InPlace,
            );
        }
    }
    out
}

pub fn consumer_changes(declared: &Consumer, actual: &consumer::Config) -> Vec<FieldChange> {
    let mut out = Vec::new();
    let mut push = |field, from: String, to: String, effect| {
        out.push(FieldChange {
            field,
            from,
            to,
            effect,
        })
    };
    let lost = "its delivery and acknowledgement state would be lost";

    if let Some(description) = &declared.description {
        let current = actual.description.clone().unwrap_or_default();
        if *description != current {
            push("description", current, description.clone(), Effect::InPlace);
        }
    }
    let actual_kind = if actual.deliver_subject.is_some() {
        ConsumerKind::Push
    } else {
        ConsumerKind::Pull
    };
    if declared.kind != actual_kind {
        push(
            "type",
            kind_name(actual_kind),
            kind_name(declared.kind),
            Effect::Recreate(format!(
                "nats-server cannot turn a {} consumer into a {} consumer; {lost}",
                kind_name(actual_kind),
                kind_name(declared.kind)
            )),
        );
    } else if declared.kind == ConsumerKind::Push {
        if declared.deliver_subject != actual.deliver_subject {
            push(
                "deliver_subject",
                actual.deliver_subject.clone().unwrap_or_default(),
                declared.deliver_subject.clone().unwrap_or_default(),
                Effect::InPlace,
            );
        }
        let have_group = actual.deliver_group.clone().filter(|g| !g.is_empty());
        if declared.deliver_group != have_group {
            push(
                "deliver_group",
                have_group.unwrap_or_default(),
                declared.deliver_group.clone().unwrap_or_default(),
                Effect::InPlace,
            );
        }
    }
    let ack = desired::ack_policy(declared.ack_policy);
    if ack != actual.ack_policy {
        push(
            "ack_policy",
            ack_name(actual.ack_policy),
            ack_name(ack),
            Effect::Recreate(format!(
                "nats-server cannot change a consumer's ack policy; {lost}"
            )),
        );
    }
    let deliver = desired::deliver_policy(declared.deliver_policy);
    if deliver != actual.deliver_policy {
        push(
            "deliver_policy",
            deliver_name(&actual.deliver_policy),
            deliver_name(&deliver),
            Effect::Recreate(format!(
                "nats-server cannot change a consumer's deliver policy; {lost}"
            )),
        );
    }
    if let Some(wait) = declared.ack_wait.map(|w| w.get()) {
        if wait != actual.ack_wait {
            push(
                "ack_wait",
                go_duration(actual.ack_wait),
                go_duration(wait),
                Effect::InPlace,
            );
        }
    }
    if let Some(deliver) = declared.max_deliver {
        if normal_limit(deliver) != normal_limit(actual.max_deliver) {
            push(
                "max_deliver",
                limit_text(actual.max_deliver),
                limit_text(deliver),
                Effect::InPlace,
            );
        }
    }
    if let Some(pending) = declared.max_ack_pending {
        if pending != actual.max_ack_pending {
            push(
                "max_ack_pending",
                limit_text(actual.max_ack_pending),
                limit_text(pending),
                Effect::InPlace,
            );
        }
    }
    let want = sorted(&declared.filter_subjects);
    let have = desired::effective_filters(actual);
    if want != have {
        // Checked against 2.9.10 and 2.15.1: both change a durable's filter in place.
        push("filter_subjects", list(&have), list(&want), Effect::InPlace);
    }
    out
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
