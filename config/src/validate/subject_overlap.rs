//! The search for overlapping subjects: between the streams' subjects, between a work queue's
//! consumers' filters, and between a push consumer's deliveries and every stream. One
//! [`Budget`] bounds all searches of a validation, so that a file of wild subjects cannot make
//! validation run for minutes.

use crate::diagnostic::Diagnostic;
use crate::model::Stream;
use crate::subject::{self, Budget, SubjectIndex};

/// How many of the other parties a grouped finding names before it counts the rest.
const NAMED: usize = 3;
/// The steps all subject searches of one validation may take (see [`Budget`]): a fraction of a
/// second in a release build. A thousand streams all overlapping each other take a quarter of it;
/// files without overlaps or leading wildcards, far less.
const SEARCH_BUDGET: usize = 4_000_000;

/// The budget all subject searches of one validation share.
pub(super) fn budget() -> Budget {
    Budget::new(SEARCH_BUDGET)
}

/// Overlaps between streams and deliveries captured by a stream, then whether the budget ran out
/// (in any search of this validation, the consumers' filters' included).
pub(super) fn check(streams: &[Stream], budget: &mut Budget, out: &mut Vec<Diagnostic>) {
    let index = index_subjects(streams);
    check_overlapping_subjects(streams, &index, budget, out);
    check_deliver_cycles(streams, &index, budget, out);
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
}

/// A message in a work queue belongs to exactly one consumer, so their filters must not overlap.
pub(super) fn check_work_queue_filters(
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

/// Names the first few items and counts the rest ("A, B, C and 997 more"); None when there are
/// none. Only the named ones are described.
pub(super) fn listing<T>(
    items: impl Iterator<Item = T>,
    describe: impl Fn(T) -> String,
) -> Option<String> {
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

#[cfg(test)]
mod tests {
    use crate::validate::streams::tests::keys;

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
}
