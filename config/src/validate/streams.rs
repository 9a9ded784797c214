//! Declared streams (`[[streams]]`): names, subjects, limits, replicas and the store's room, the
//! mistakes nats-server would refuse at provisioning time, or worse, accept. Their consumers are
//! checked in `consumers.rs`, every subject overlap in `subject_overlap.rs`.

use std::collections::HashMap;
use std::time::Duration;

use super::{check_description, check_tag, consumers, name_problem, subject_overlap, Context};
use crate::diagnostic::Diagnostic;
use crate::model::{Config, Storage, Stream};
use crate::subject;

/// JetStream's upper bound on replicas.
const MAX_REPLICAS: i64 = 5;
/// JetStream's shortest `max_age` and `duplicate_window` other than zero.
const MIN_AGE: Duration = Duration::from_millis(100);

pub(super) fn check(config: &Config, context: &Context, out: &mut Vec<Diagnostic>) {
    let mut budget = subject_overlap::budget();
    let mut names: HashMap<&str, usize> = HashMap::new();
    for (i, stream) in config.streams.iter().enumerate() {
        let key = format!("streams[{i}]");
        if let Some(problem) = name_problem(&stream.name) {
            out.push(Diagnostic::error(
                format!("{key}.name"),
                format!("stream name {problem}"),
            ));
        }
        if let Some(first) = names.insert(stream.name.as_str(), i) {
            out.push(Diagnostic::error(
                format!("{key}.name"),
                format!(
                    "duplicate stream name {:?} (also streams[{first}])",
                    stream.name
                ),
            ));
        }
        check_stream(config, &key, stream, out);
        consumers::check(context, &key, stream, &mut budget, out);
    }
    subject_overlap::check(&config.streams, &mut budget, out);
}

fn check_stream(config: &Config, key: &str, stream: &Stream, out: &mut Vec<Diagnostic>) {
    if stream.subjects.is_empty() {
        out.push(Diagnostic::error(
            format!("{key}.subjects"),
            format!("stream {:?} has no subjects", stream.name),
        ));
    }
    for (j, s) in stream.subjects.iter().enumerate() {
        if let Some(reason) = subject::invalid_reason(s) {
            out.push(Diagnostic::error(format!("{key}.subjects[{j}]"), reason));
            continue;
        }
        if let Some(reserved) = subject::reserved_overlap(s) {
            out.push(
                Diagnostic::error(
                    format!("{key}.subjects[{j}]"),
                    format!("subject {s:?} captures nats-server's own {reserved} subjects, which a stream may not"),
                )
                .hint("start the subject with a literal token, e.g. \"logs.>\""),
            );
        }
    }

    check_description(key, stream.description.as_deref(), out);
    for (j, tag) in stream.placement_tags.iter().enumerate() {
        check_tag(format!("{key}.placement_tags[{j}]"), tag, out);
    }
    // JetStream keeps the largest message as a signed 32-bit integer.
    if let Some(size) = stream.max_msg_size {
        if size.get() > i32::MAX as u64 {
            out.push(Diagnostic::error(
                format!("{key}.max_msg_size"),
                format!(
                    "{size} is above JetStream's maximum message size of {} bytes",
                    i32::MAX
                ),
            ));
        }
    }
    for (field, value) in [
        ("max_age", stream.max_age),
        ("duplicate_window", stream.duplicate_window),
    ] {
        if let Some(value) = value.filter(|v| !v.get().is_zero() && v.get() < MIN_AGE) {
            out.push(
                Diagnostic::error(
                    format!("{key}.{field}"),
                    format!("{value} is shorter than JetStream's minimum of 100ms"),
                )
                .hint(format!(
                    "write at least \"100ms\", or omit {field} for no limit"
                )),
            );
        }
    }
    // JetStream keeps these limits as signed 64-bit integers.
    for (field, value) in [
        ("max_msgs", stream.max_msgs),
        ("max_msgs_per_subject", stream.max_msgs_per_subject),
    ] {
        if value.is_some_and(|v| v > i64::MAX as u64) {
            out.push(Diagnostic::error(
                format!("{key}.{field}"),
                format!("{field} is above JetStream's maximum of {}", i64::MAX),
            ));
        }
    }

    let size = config.cluster_size() as i64;
    if !(1..=MAX_REPLICAS).contains(&stream.replicas) {
        out.push(Diagnostic::error(
            format!("{key}.replicas"),
            format!(
                "replicas must be between 1 and {MAX_REPLICAS}, not {}",
                stream.replicas
            ),
        ));
    } else if stream.replicas > size {
        out.push(
            Diagnostic::error(
                format!("{key}.replicas"),
                format!(
                    "stream {:?} wants {} replicas but the cluster has {size} node{}",
                    stream.name,
                    stream.replicas,
                    if size == 1 { "" } else { "s" }
                ),
            )
            .hint("replicas cannot exceed the number of [[cluster.peers]]"),
        );
    } else if stream.replicas == 2 {
        out.push(
            Diagnostic::warning(
                format!("{key}.replicas"),
                "two replicas cannot lose one: Raft needs a majority",
            )
            .hint("use 3 replicas (or 1)"),
        );
    }

    if let (Some(window), Some(age)) = (stream.duplicate_window, stream.max_age) {
        if !age.get().is_zero() && window > age {
            out.push(Diagnostic::error(
                format!("{key}.duplicate_window"),
                format!("duplicate_window ({window}) is longer than max_age ({age}); nats-server refuses it"),
            ));
        }
    }
    if stream.allow_destructive {
        out.push(
            Diagnostic::warning(
                format!("{key}.allow_destructive"),
                format!(
                    "provisioning may delete and recreate stream {:?} or its consumers, losing their messages and state",
                    stream.name
                ),
            )
            .hint("set it only for the change that needs it, and remove it once provisioned"),
        );
    }

    if let (Some(size), Some(payload)) = (stream.max_msg_size, config.limits.max_payload) {
        if size > payload {
            out.push(Diagnostic::warning(
                format!("{key}.max_msg_size"),
                format!("{size} is larger than limits.max_payload ({payload}), which no publisher can exceed"),
            ));
        }
    }
    check_store_room(config, key, stream, out);
}

/// JetStream reserves a stream's `max_bytes` in its server's store when it is created, and
/// refuses a stream that cannot fit ("insufficient storage resources").
fn check_store_room(config: &Config, key: &str, stream: &Stream, out: &mut Vec<Diagnostic>) {
    let (store, limit) = match stream.storage {
        Storage::File => ("max_file_store", config.jetstream.max_file_store),
        Storage::Memory => ("max_memory_store", config.jetstream.max_memory_store),
    };
    let Some(limit) = limit else {
        return;
    };
    if limit.get() == 0 {
        out.push(Diagnostic::error(
            format!("{key}.storage"),
            format!(
                "stream {:?} needs {} storage but jetstream.{store} is 0",
                stream.name,
                if stream.storage == Storage::File {
                    "file"
                } else {
                    "memory"
                }
            ),
        ));
    } else if let Some(bytes) = stream.max_bytes.filter(|b| *b > limit) {
        out.push(
            Diagnostic::error(
                format!("{key}.max_bytes"),
                format!("{bytes} is more than the whole store (jetstream.{store} = {limit}); JetStream would refuse the stream"),
            )
            .hint(format!("lower max_bytes or raise jetstream.{store}")),
        );
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::source::Source;

    const CLUSTER: &str = r#"
[node]
name = "n1"

[cluster]
name = "c"

[[cluster.peers]]
name = "n1"
address = "127.0.0.1:6222"

[[cluster.peers]]
name = "n2"
address = "127.0.0.1:6223"

[[cluster.peers]]
name = "n3"
address = "127.0.0.1:6224"
"#;

    /// The errors validating these streams in a three-node cluster gives.
    pub(in crate::validate) fn errors(streams: &str) -> Vec<Diagnostic> {
        let config = Source::from_text("pier.toml", format!("{CLUSTER}\n{streams}"))
            .parse()
            .expect("test config parses");
        let mut out = Vec::new();
        check(&config, &Context::default(), &mut out);
        out.retain(Diagnostic::is_error);
        out
    }

    pub(in crate::validate) fn keys(streams: &str) -> Vec<String> {
        errors(streams).into_iter().map(|d| d.key).collect()
    }

    #[test]
    fn the_seed_is_valid() {
        let seed = r#"
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
"#;
        assert_eq!(errors(seed), []);
    }

    #[test]
    fn replicas_above_the_cluster_size() {
        let keys = keys("[[streams]]\nname = \"LOGS\"\nsubjects = [\"logs.>\"]\nreplicas = 5\n");
        assert_eq!(keys, ["streams[0].replicas"]);
    }

    #[test]
    fn duplicate_names() {
        let keys = keys(
            "[[streams]]\nname = \"A\"\nsubjects = [\"a.>\"]\n\
             [[streams.consumers]]\nname = \"w\"\n[[streams.consumers]]\nname = \"w\"\n\
             [[streams]]\nname = \"A\"\nsubjects = [\"b.>\"]\n",
        );
        assert_eq!(keys, ["streams[0].consumers[1].name", "streams[1].name"]);
    }

    #[test]
    fn duplicate_window_longer_than_max_age() {
        let keys = keys(
            "[[streams]]\nname = \"LOGS\"\nsubjects = [\"logs.>\"]\nmax_age = \"1m\"\nduplicate_window = \"2m\"\n",
        );
        assert_eq!(keys, ["streams[0].duplicate_window"]);
    }
}
