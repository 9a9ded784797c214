//! Declared streams and consumers: the mistakes nats-server would refuse at provisioning time, or
//! worse, accept. The seed's own mistake, a deliver group on a pull consumer, is one of them.

use std::collections::HashMap;
use std::time::Duration;

use super::{check_tag, control_problem, name_problem, word_problem, Context};
use crate::diagnostic::Diagnostic;
use crate::model::{
    AckPolicy, Config, Consumer, ConsumerKind, DeliverPolicy, Retention, Storage, Stream,
};
use crate::subject::{self, Budget, SubjectIndex};
use crate::version::Feature;

/// JetStream's upper bound on replicas.
const MAX_REPLICAS: i64 = 5;
/// JetStream's longest description (`JSMaxDescriptionLen`), in bytes.
const MAX_DESCRIPTION_BYTES: usize = 4096;
/// JetStream's shortest `max_age` and `duplicate_window` other than zero.
const MIN_AGE: Duration = Duration::from_millis(100);
/// The longest `[provision] timeout`: provisioning that has not converged in a day will not.
pub const MAX_PROVISION_TIMEOUT: Duration = Duration::from_secs(24 * 3600);
/// How many of the other parties a grouped finding names before it counts the rest.
const NAMED: usize = 3;
/// The steps all subject searches of one validation may take (see [`Budget`]): a fraction of a
/// second in a release build. A thousand streams all overlapping each other take a quarter of it;
/// files without overlaps or leading wildcards, far less.
const SEARCH_BUDGET: usize = 4_000_000;

pub(super) fn check(config: &Config, context: &Context, out: &mut Vec<Diagnostic>) {
    let mut budget = Budget::new(SEARCH_BUDGET);
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
        check_consumers(context, &key, stream, &mut budget, out);
    }
    let index = index_subjects(&config.streams);
    check_overlapping_subjects(&config.streams, &index, &mut budget, out);
    check_deliver_cycles(&config.streams, &index, &mut budget, out);
    if budget.exhausted() {
        out.push(
            Diagnostic::error(
                "streams",
                format!(
                    "the streams' subjects and filters are too many or too wild to check for overlaps \
                     within {SEARCH_BUDGET} steps; their checks stopped there"
                ),
            )
            .hint("declare fewer subjects per stream, with literal leading tokens (\"orders.>\" rather than \"*.orders\")"),
        );
    }
    check_provision(config, out);
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

fn check_consumers(
    context: &Context,
    key: &str,
    stream: &Stream,
    budget: &mut Budget,
    out: &mut Vec<Diagnostic>,
) {
    let mut stream_subjects = SubjectIndex::default();
    for (j, s) in stream.subjects.iter().enumerate() {
        if subject::invalid_reason(s).is_none() {
            stream_subjects.insert(s, j);
        }
    }
    let mut names: HashMap<&str, usize> = HashMap::new();
    for (j, consumer) in stream.consumers.iter().enumerate() {
        let key = format!("{key}.consumers[{j}]");
        if let Some(problem) = name_problem(&consumer.name) {
            out.push(Diagnostic::error(
                format!("{key}.name"),
                format!("consumer name {problem}"),
            ));
        }
        if let Some(first) = names.insert(consumer.name.as_str(), j) {
            out.push(Diagnostic::error(
                format!("{key}.name"),
                format!(
                    "duplicate consumer name {:?} on stream {:?} (also consumers[{first}])",
                    consumer.name, stream.name
                ),
            ));
        }
        check_description(&key, consumer.description.as_deref(), out);
        check_delivery(&key, consumer, out);
        if consumer.kind == ConsumerKind::Pull && consumer.ack_policy == AckPolicy::None {
            super::version_gate(
                &format!("{key}.ack_policy"),
                Feature::PullWithoutAck,
                context,
                out,
            );
        }
        check_consumer_limits(&key, consumer, out);
        check_filters(
            context,
            &key,
            stream,
            &stream_subjects,
            consumer,
            budget,
            out,
        );
        if stream.retention == Retention::Workqueue {
            if consumer.ack_policy != AckPolicy::Explicit {
                out.push(Diagnostic::error(
                    format!("{key}.ack_policy"),
                    "a work-queue stream needs explicit acks: a message leaves the stream when it is acknowledged",
                ));
            }
            if consumer.deliver_policy != DeliverPolicy::All {
                out.push(Diagnostic::error(
                    format!("{key}.deliver_policy"),
                    "a work-queue stream's consumers must deliver all messages",
                ));
            }
        }
    }
    if stream.retention == Retention::Workqueue {
        check_work_queue_filters(key, stream, budget, out);
    }
}

fn check_delivery(key: &str, consumer: &Consumer, out: &mut Vec<Diagnostic>) {
    match consumer.kind {
        ConsumerKind::Pull => {
            if let Some(group) = &consumer.deliver_group {
                out.push(
                    Diagnostic::error(
                        format!("{key}.deliver_group"),
                        format!(
                            "pull consumer {:?} has deliver_group {group:?}, but a deliver group belongs to push consumers",
                            consumer.name
                        ),
                    )
                    .hint("pull workers share a pull consumer simply by fetching from it: remove deliver_group, or set type = \"push\" with a deliver_subject"),
                );
            }
            if consumer.deliver_subject.is_some() {
                out.push(
                    Diagnostic::error(
                        format!("{key}.deliver_subject"),
                        format!("pull consumer {:?} has a deliver_subject, which only push consumers use", consumer.name),
                    )
                    .hint("remove deliver_subject, or set type = \"push\""),
                );
            }
        }
        ConsumerKind::Push => match &consumer.deliver_subject {
            None => out.push(
                Diagnostic::error(
                    format!("{key}.deliver_subject"),
                    format!("push consumer {:?} needs a deliver_subject", consumer.name),
                )
                .hint("the subject its messages are pushed to, e.g. \"deliver.logs\""),
            ),
            Some(subject) => {
                if subject.contains(['*', '>']) || subject::invalid_reason(subject).is_some() {
                    out.push(Diagnostic::error(
                        format!("{key}.deliver_subject"),
                        format!("{subject:?} is not a literal subject"),
                    ));
                }
            }
        },
    }
    if let Some(problem) = consumer.deliver_group.as_deref().and_then(word_problem) {
        out.push(Diagnostic::error(
            format!("{key}.deliver_group"),
            format!("a queue group name {problem}"),
        ));
    }
}

fn check_consumer_limits(key: &str, consumer: &Consumer, out: &mut Vec<Diagnostic>) {
    if let Some(pending) = consumer.max_ack_pending {
        if pending <= 0 {
            out.push(
                Diagnostic::error(
                    format!("{key}.max_ack_pending"),
                    format!("max_ack_pending must be positive, not {pending}"),
                )
                .hint("it bounds unacknowledged messages in flight; omit it for the server default (1000)"),
            );
        } else if consumer.ack_policy == AckPolicy::None && consumer.kind == ConsumerKind::Push {
            out.push(
                Diagnostic::error(
                    format!("{key}.max_ack_pending"),
                    "JetStream refuses max_ack_pending on a push consumer with ack_policy = \"none\"",
                )
                .hint("remove max_ack_pending, or choose an ack policy"),
            );
        } else if consumer.ack_policy == AckPolicy::None {
            out.push(Diagnostic::warning(
                format!("{key}.max_ack_pending"),
                "max_ack_pending has no effect with ack_policy = \"none\"",
            ));
        }
    }
    if let Some(deliver) = consumer.max_deliver {
        if deliver == 0 || deliver < -1 {
            out.push(
                Diagnostic::error(
                    format!("{key}.max_deliver"),
                    format!("max_deliver must be positive or -1, not {deliver}"),
                )
                .hint("-1 redelivers without limit"),
            );
        }
    }
    if consumer.ack_wait.is_some_and(|w| w.get().is_zero()) {
        out.push(Diagnostic::error(
            format!("{key}.ack_wait"),
            "ack_wait cannot be zero",
        ));
    }
}

fn check_filters(
    context: &Context,
    key: &str,
    stream: &Stream,
    stream_subjects: &SubjectIndex<usize>,
    consumer: &Consumer,
    budget: &mut Budget,
    out: &mut Vec<Diagnostic>,
) {
    if consumer.deliver_policy == DeliverPolicy::LastPerSubject
        && consumer.filter_subjects.is_empty()
    {
        out.push(
            Diagnostic::error(
                format!("{key}.deliver_policy"),
                "JetStream needs filter_subjects to deliver the last message per subject",
            )
            .hint("add filter_subjects, e.g. the stream's own subjects"),
        );
    }
    if consumer.filter_subjects.len() > 1 {
        super::version_gate(
            &format!("{key}.filter_subjects"),
            Feature::MultipleFilterSubjects,
            context,
            out,
        );
    }
    let mut earlier_filters = SubjectIndex::default();
    for (k, filter) in consumer.filter_subjects.iter().enumerate() {
        let fkey = format!("{key}.filter_subjects[{k}]");
        if let Some(reason) = subject::invalid_reason(filter) {
            out.push(Diagnostic::error(fkey, reason));
            continue;
        }
        let Some(inside) = stream_subjects.contains(filter, budget) else {
            return;
        };
        if !inside {
            out.push(
                Diagnostic::error(
                    fkey.clone(),
                    format!(
                        "filter {filter:?} is outside stream {:?}'s subjects {}",
                        stream.name,
                        listing(stream.subjects.iter(), |s| format!("{s:?}")).unwrap_or_default()
                    ),
                )
                .hint("a consumer only sees its stream's messages; narrow the filter to within the stream's subjects"),
            );
        }
        let Some(mut earlier) = earlier_filters.overlapping(filter, budget) else {
            return;
        };
        earlier.sort_unstable();
        let named = listing(earlier.into_iter(), |e| {
            format!("{:?}", consumer.filter_subjects[e])
        });
        if let Some(overlapped) = named {
            out.push(Diagnostic::error(
                fkey,
                format!("filter {filter:?} overlaps {overlapped}"),
            ));
        }
        earlier_filters.insert(filter, k);
    }
}

/// A message in a work queue belongs to exactly one consumer, so their filters must not overlap.
fn check_work_queue_filters(
    key: &str,
    stream: &Stream,
    budget: &mut Budget,
    out: &mut Vec<Diagnostic>,
) {
    let everything = vec![">".to_owned()];
    // Filters of the consumers before the one checked, each under its consumer's index.
    let mut earlier = SubjectIndex::default();
    for (j, consumer) in stream.consumers.iter().enumerate() {
        let filters = if consumer.filter_subjects.is_empty() {
            &everything
        } else {
            &consumer.filter_subjects
        };
        let valid = || {
            filters
                .iter()
                .filter(|f| subject::invalid_reason(f).is_none())
        };
        let mut overlapping: Vec<usize> = Vec::new();
        for filter in valid() {
            let Some(found) = earlier.overlapping(filter, budget) else {
                return;
            };
            overlapping.extend(found);
        }
        overlapping.sort_unstable();
        overlapping.dedup();
        let named = listing(overlapping.into_iter(), |k| {
            format!("consumer {:?} (consumers[{k}])", stream.consumers[k].name)
        });
        if let Some(overlapped) = named {
            out.push(
                Diagnostic::error(
                    format!("{key}.consumers[{j}].filter_subjects"),
                    format!(
                        "work-queue stream {:?}: the filters of consumer {:?} overlap those of {overlapped}",
                        stream.name, consumer.name
                    ),
                )
                .hint("each message of a work queue goes to one consumer: give every consumer disjoint filter_subjects, or share one consumer between workers"),
            );
        }
        for filter in valid() {
            earlier.insert(filter, j);
        }
    }
}

/// Every valid subject of every stream, as (stream, subject) positions.
fn index_subjects(streams: &[Stream]) -> SubjectIndex<(usize, usize)> {
    let mut index = SubjectIndex::default();
    for (i, stream) in streams.iter().enumerate() {
        for (j, s) in stream.subjects.iter().enumerate() {
            if subject::invalid_reason(s).is_none() {
                index.insert(s, (i, j));
            }
        }
    }
    index
}

/// One finding per subject that overlaps earlier ones, in its own stream or in earlier streams,
/// naming the first few and counting the rest: a thousand overlapping streams give a thousand
/// lines, not half a million, and the index keeps the search from comparing every pair.
fn check_overlapping_subjects(
    streams: &[Stream],
    index: &SubjectIndex<(usize, usize)>,
    budget: &mut Budget,
    out: &mut Vec<Diagnostic>,
) {
    for (i, stream) in streams.iter().enumerate() {
        for (j, s) in stream.subjects.iter().enumerate() {
            if subject::invalid_reason(s).is_some() {
                continue;
            }
            let Some(found) = index.overlapping(s, budget) else {
                return;
            };
            let mut earlier: Vec<(usize, usize)> = found
                .into_iter()
                .filter(|&position| position < (i, j))
                .collect();
            earlier.sort_unstable();
            let (same, mut other): (Vec<_>, Vec<_>) =
                earlier.into_iter().partition(|&(k, _)| k == i);
            let named = listing(same.into_iter(), |(_, m)| {
                format!("{:?} (subjects[{m}])", stream.subjects[m])
            });
            if let Some(overlapped) = named {
                out.push(Diagnostic::error(
                    format!("streams[{i}].subjects[{j}]"),
                    format!("subject {s:?} overlaps {overlapped} in the same stream"),
                ));
            }
            // Each other stream once, by its first overlapping subject.
            other.dedup_by_key(|&mut (k, _)| k);
            let named = listing(other.into_iter(), |(k, m)| {
                let other = &streams[k];
                format!(
                    "{:?} of stream {:?} (streams[{k}])",
                    other.subjects[m], other.name
                )
            });
            if let Some(overlapped) = named {
                out.push(
                    Diagnostic::error(
                        format!("streams[{i}].subjects[{j}]"),
                        format!(
                            "subject {s:?} of stream {:?} overlaps {overlapped}",
                            stream.name
                        ),
                    )
                    .hint("nats-server refuses a stream whose subjects overlap another stream's"),
                );
            }
        }
    }
}

/// Names the first few items and counts the rest ("A, B, C and 997 more"); None when there are
/// none. Only the named ones are described.
fn listing<T>(items: impl Iterator<Item = T>, describe: impl Fn(T) -> String) -> Option<String> {
    let mut named = Vec::with_capacity(NAMED);
    let mut more = 0usize;
    for item in items {
        if named.len() < NAMED {
            named.push(describe(item));
        } else {
            more += 1;
        }
    }
    match (named.len(), more) {
        (0, _) => None,
        (_, 0) => Some(named.join(", ")),
        (_, more) => Some(format!("{} and {more} more", named.join(", "))),
    }
}

/// A stream's or consumer's description: sent to JetStream as it is, and shown by tools.
fn check_description(key: &str, description: Option<&str>, out: &mut Vec<Diagnostic>) {
    let Some(description) = description else {
        return;
    };
    let key = format!("{key}.description");
    if description.len() > MAX_DESCRIPTION_BYTES {
        out.push(Diagnostic::error(
            key,
            format!(
                "the description is {} bytes long; JetStream allows at most {MAX_DESCRIPTION_BYTES}",
                description.len()
            ),
        ));
    } else if let Some(problem) = control_problem(&description.replace(['\n', '\t'], " ")) {
        out.push(Diagnostic::error(key, format!("the description {problem}")));
    }
}

/// A push consumer delivering into a stream's own subjects would store its deliveries again.
fn check_deliver_cycles(
    streams: &[Stream],
    index: &SubjectIndex<(usize, usize)>,
    budget: &mut Budget,
    out: &mut Vec<Diagnostic>,
) {
    for (i, stream) in streams.iter().enumerate() {
        for (j, consumer) in stream.consumers.iter().enumerate() {
            let Some(deliver) = &consumer.deliver_subject else {
                continue;
            };
            if subject::invalid_reason(deliver).is_some() {
                continue;
            }
            let Some(found) = index.overlapping(deliver, budget) else {
                return;
            };
            if let Some(other) = found.into_iter().min().map(|(k, _)| &streams[k]) {
                out.push(
                    Diagnostic::error(
                        format!("streams[{i}].consumers[{j}].deliver_subject"),
                        format!(
                            "deliver_subject {deliver:?} of consumer {:?} is captured by stream {:?}: every delivery would be stored again",
                            consumer.name, other.name
                        ),
                    )
                    .hint("deliver to a subject outside every stream, e.g. \"deliver.<consumer>\""),
                );
            }
        }
    }
}

fn check_provision(config: &Config, out: &mut Vec<Diagnostic>) {
    let timeout = config.provision.timeout;
    if timeout.get().is_zero() {
        out.push(Diagnostic::error(
            "provision.timeout",
            "the provisioning timeout cannot be zero",
        ));
    } else if timeout.get() > MAX_PROVISION_TIMEOUT {
        out.push(
            Diagnostic::error(
                "provision.timeout",
                format!("{timeout} is longer than the 24h pier allows"),
            )
            .hint("provisioning retries while the cluster has no JetStream leader; a few minutes is plenty"),
        );
    }
}

#[cfg(test)]
mod tests {
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

    fn errors(streams: &str) -> Vec<Diagnostic> {
        let config = Source::from_text("pier.toml", format!("{CLUSTER}\n{streams}"))
            .parse()
            .expect("test config parses");
        let mut out = Vec::new();
        check(&config, &Context::default(), &mut out);
        out.retain(Diagnostic::is_error);
        out
    }

    fn keys(streams: &str) -> Vec<String> {
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
    fn deliver_group_on_a_pull_consumer() {
        let keys = keys(
            "[[streams]]\nname = \"LOGS\"\nsubjects = [\"logs.>\"]\n\
             [[streams.consumers]]\nname = \"w\"\ndeliver_group = \"workers\"\n",
        );
        assert_eq!(keys, ["streams[0].consumers[0].deliver_group"]);
    }

    #[test]
    fn replicas_above_the_cluster_size() {
        let keys = keys("[[streams]]\nname = \"LOGS\"\nsubjects = [\"logs.>\"]\nreplicas = 5\n");
        assert_eq!(keys, ["streams[0].replicas"]);
    }

    #[test]
    fn filter_outside_the_stream() {
        let keys = keys(
            "[[streams]]\nname = \"LOGS\"\nsubjects = [\"logs.>\"]\n\
             [[streams.consumers]]\nname = \"w\"\nfilter_subjects = [\"metrics.>\"]\n",
        );
        assert_eq!(keys, ["streams[0].consumers[0].filter_subjects[0]"]);
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
    fn work_queue_with_overlapping_filters() {
        let keys = keys(
            "[[streams]]\nname = \"JOBS\"\nsubjects = [\"jobs.>\"]\nretention = \"workqueue\"\n\
             [[streams.consumers]]\nname = \"a\"\nfilter_subjects = [\"jobs.a.>\"]\n\
             [[streams.consumers]]\nname = \"b\"\nfilter_subjects = [\"jobs.*.x\"]\n",
        );
        assert_eq!(keys, ["streams[0].consumers[1].filter_subjects"]);
    }

    #[test]
    fn push_delivery_into_a_stream() {
        let keys = keys(
            "[[streams]]\nname = \"LOGS\"\nsubjects = [\"logs.>\"]\n\
             [[streams.consumers]]\nname = \"p\"\ntype = \"push\"\ndeliver_subject = \"logs.out\"\n",
        );
        assert_eq!(keys, ["streams[0].consumers[0].deliver_subject"]);
    }

    #[test]
    fn duplicate_window_longer_than_max_age() {
        let keys = keys(
            "[[streams]]\nname = \"LOGS\"\nsubjects = [\"logs.>\"]\nmax_age = \"1m\"\nduplicate_window = \"2m\"\n",
        );
        assert_eq!(keys, ["streams[0].duplicate_window"]);
    }
}
