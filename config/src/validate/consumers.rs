//! A stream's consumers (`[[streams.consumers]]`): names, delivery (pull or push), ack limits, and
//! filters within the stream's subjects. The seed's own mistake, a deliver group on a pull
//! consumer, is one of them.

use std::collections::HashMap;

use super::subject_overlap::{self, listing};
use super::{check_description, name_problem, word_problem, Context};
use crate::diagnostic::Diagnostic;
use crate::model::{AckPolicy, Consumer, ConsumerKind, DeliverPolicy, Retention, Stream};
use crate::subject::{self, Budget, SubjectIndex};
use crate::version::Feature;

/// Checks every consumer of `stream`, whose key is `key`.
pub(super) fn check(
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
        subject_overlap::check_work_queue_filters(key, stream, budget, out);
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

#[cfg(test)]
mod tests {
    use crate::validate::streams::tests::keys;

    #[test]
    fn deliver_group_on_a_pull_consumer() {
        let keys = keys(
            "[[streams]]\nname = \"LOGS\"\nsubjects = [\"logs.>\"]\n\
             [[streams.consumers]]\nname = \"w\"\ndeliver_group = \"workers\"\n",
        );
        assert_eq!(keys, ["streams[0].consumers[0].deliver_group"]);
    }

    #[test]
    fn filter_outside_the_stream() {
        let keys = keys(
            "[[streams]]\nname = \"LOGS\"\nsubjects = [\"logs.>\"]\n\
             [[streams.consumers]]\nname = \"w\"\nfilter_subjects = [\"metrics.>\"]\n",
        );
        assert_eq!(keys, ["streams[0].consumers[0].filter_subjects[0]"]);
    }
}
