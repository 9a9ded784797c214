//! The push workload's longest silence: the longest time in which no subscriber received
//! anything, and how many messages were published meanwhile.
//!
//! Each subscriber sets one bit per millisecond in which it read a run of messages (it reads
//! the clock once per run anyway), and the bitsets are OR-ed once the run is over. A maximum
//! gap per subscriber would be cheaper still but cannot be merged: queue subscribers take
//! turns, so each one's own silences say nothing about the group's. A bit per millisecond is
//! exact to the millisecond and costs 450 KB per subscriber and hour.

use serde::{Deserialize, Serialize};

/// Width of a bucket.
const BUCKET_NS: u64 = 1_000_000;

fn bucket(ns: u64) -> u64 {
    ns / BUCKET_NS
}

/// Milliseconds (since the run's start) in which a subscriber received messages.
#[derive(Debug, Clone, Default)]
pub struct Arrivals {
    words: Vec<u64>,
}

impl Arrivals {
    pub fn mark(&mut self, now_ns: u64) {
        let bucket = bucket(now_ns) as usize;
        let word = bucket / 64;
        if self.words.len() <= word {
            self.words.resize((word + 1).next_power_of_two(), 0);
        }
        self.words[word] |= 1 << (bucket % 64);
    }

    pub fn merge(&mut self, other: Arrivals) {
        if self.words.len() < other.words.len() {
            self.words.resize(other.words.len(), 0);
        }
        for (mine, theirs) in self.words.iter_mut().zip(other.words) {
            *mine |= theirs;
        }
    }

    fn is_set(&self, bucket: u64) -> bool {
        self.words
            .get((bucket / 64) as usize)
            .is_some_and(|word| word & (1 << (bucket % 64)) != 0)
    }

    /// The longest run of empty buckets between `from_ns` and `to_ns` (both included), as
    /// (first bucket, buckets); None when every bucket had an arrival.
    fn longest_silence(&self, from_ns: u64, to_ns: u64) -> Option<(u64, u64)> {
        let mut longest: Option<(u64, u64)> = None;
        let mut current: Option<u64> = None;
        for b in bucket(from_ns)..=bucket(to_ns) + 1 {
            let empty = b <= bucket(to_ns) && !self.is_set(b);
            match (empty, current) {
                (true, None) => current = Some(b),
                (false, Some(start)) => {
                    if longest.map_or(true, |(_, length)| b - start > length) {
                        longest = Some((start, b - start));
                    }
                    current = None;
                }
                _ => {}
            }
        }
        longest
    }
}

/// One publisher's first sequence of each millisecond (by stamp), so that the messages
/// published in any window can be counted afterwards. Stamps never go back in time.
#[derive(Debug, Clone, Default)]
pub struct SendMarks {
    marks: Vec<(u64, u64)>,
    /// Where the next bucket starts: below it, a message needs no mark.
    next_ns: u64,
}

impl SendMarks {
    /// One comparison per message on the publisher's path; a division and a push only when
    /// the millisecond changes.
    pub fn note(&mut self, sent_ns: u64, sequence: u64) {
        if sent_ns >= self.next_ns {
            let bucket = bucket(sent_ns);
            self.marks.push((bucket, sequence));
            self.next_ns = (bucket + 1) * BUCKET_NS;
        }
    }

    /// Messages stamped in buckets `from..to`, of `sent` in all.
    fn sent_between(&self, from: u64, to: u64, sent: u64) -> u64 {
        let first_at = |bucket: u64| {
            let index = self.marks.partition_point(|&(b, _)| b < bucket);
            self.marks
                .get(index)
                .map_or(sent, |&(_, sequence)| sequence)
        };
        first_at(to) - first_at(from)
    }
}

/// `workloads[].gap` of a push workload.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Gap {
    /// The longest time without a delivery to any subscriber, in milliseconds.
    pub longest_ms: f64,
    /// When it began, in seconds since the workload started.
    pub at_s: f64,
    /// Messages published (by stamp) during it.
    pub published_during: u64,
}

impl Gap {
    /// The longest silence between `start_ns` and `end_ns`; `publishers` holds each
    /// publisher's marks and messages sent.
    pub fn find(
        arrivals: &Arrivals,
        publishers: &[(SendMarks, u64)],
        start_ns: u64,
        end_ns: u64,
    ) -> Gap {
        let Some((first, length)) = arrivals.longest_silence(start_ns, end_ns) else {
            return Gap {
                longest_ms: 0.0,
                at_s: 0.0,
                published_during: 0,
            };
        };
        let published_during = publishers
            .iter()
            .map(|(marks, sent)| marks.sent_between(first, first + length, *sent))
            .sum();
        Gap {
            longest_ms: (length * BUCKET_NS) as f64 / 1e6,
            at_s: (first * BUCKET_NS).saturating_sub(start_ns) as f64 / 1e9,
            published_during,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    #[test]
    fn the_longest_silence_of_all_subscribers_together() {
        // a receives in ms 0..100 and 400..500, b in 100..150 and 300..500: silent together
        // in 150..300.
        let mut a = Arrivals::default();
        let mut b = Arrivals::default();
        for ms in (0..100).chain(400..500) {
            a.mark(ms * MS + 10);
        }
        for ms in (100..150).chain(300..500) {
            b.mark(ms * MS + 999_999);
        }
        a.merge(b);
        // One message per ms, sequences 0..500, from one publisher; none from a second one.
        let mut marks = SendMarks::default();
        for sequence in 0..500 {
            marks.note(sequence * MS + 5, sequence);
            marks.note(sequence * MS + 6, sequence);
        }
        let gap = Gap::find(&a, &[(marks, 500), (SendMarks::default(), 0)], 0, 499 * MS);
        assert_eq!(gap.longest_ms, 150.0);
        assert_eq!(gap.at_s, 0.150);
        assert_eq!(gap.published_during, 150);
    }

    #[test]
    fn silence_until_the_end_counts_and_no_silence_is_zero() {
        let mut arrivals = Arrivals::default();
        for ms in 0..10 {
            arrivals.mark(ms * MS);
        }
        let gap = Gap::find(&arrivals, &[], 0, 9 * MS);
        assert_eq!(gap.longest_ms, 0.0);
        let gap = Gap::find(&arrivals, &[], 0, 29 * MS);
        assert_eq!((gap.longest_ms, gap.at_s), (20.0, 0.010));
    }
}
