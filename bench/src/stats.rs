//! What each subscriber accumulates while it receives (pure; merged once the run ends):
//! a latency histogram, a per-publisher record of sequences seen, counts and first/last times.

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use super::payload::Stamp;

/// Latencies above this (nanoseconds) are clamped into the top bucket rather than dropped.
const HISTOGRAM_MAX_NS: u64 = 3_600_000_000_000;
const HISTOGRAM_SIGNIFICANT_DIGITS: u8 = 3;

pub fn new_histogram() -> Result<Histogram<u64>, hdrhistogram::CreationError> {
    Histogram::new_with_bounds(1, HISTOGRAM_MAX_NS, HISTOGRAM_SIGNIFICANT_DIGITS)
}

/// One subscriber's (or pull worker's) tally.
#[derive(Debug, Clone)]
pub struct Recorder {
    pub latency: Histogram<u64>,
    pub seen: SeenSequences,
    pub messages: u64,
    pub bytes: u64,
    /// Messages whose payload carried no stamp.
    pub unstamped: u64,
    /// JetStream deliveries whose delivery count was above one.
    pub redeliveries: u64,
    pub last_ns: u64,
}

impl Recorder {
    pub fn new() -> Result<Self, hdrhistogram::CreationError> {
        Ok(Recorder {
            latency: new_histogram()?,
            seen: SeenSequences::default(),
            messages: 0,
            bytes: 0,
            unstamped: 0,
            redeliveries: 0,
            last_ns: 0,
        })
    }

    /// Counts one received payload at `now_ns` (nanoseconds since the shared start).
    pub fn record(&mut self, payload: &[u8], now_ns: u64) {
        self.messages += 1;
        self.bytes += payload.len() as u64;
        self.last_ns = now_ns;
        match Stamp::decode(payload) {
            Some(stamp) => {
                self.latency
                    .saturating_record(now_ns.saturating_sub(stamp.sent_ns).max(1));
                self.seen.mark(stamp.publisher, stamp.sequence);
            }
            None => self.unstamped += 1,
        }
    }

    /// Distinct stamped messages so far: what the coordinator compares with the number
    /// published to decide that everything has arrived.
    pub fn distinct(&self) -> u64 {
        self.messages - self.unstamped - self.seen.duplicates
    }

    pub fn merge(&mut self, other: Recorder) {
        // Both histograms share bounds, so `add` cannot fail; a mismatch would only lose
        // latency samples, never counts.
        let _ = self.latency.add(&other.latency);
        self.seen.merge(other.seen);
        self.messages += other.messages;
        self.bytes += other.bytes;
        self.unstamped += other.unstamped;
        self.redeliveries += other.redeliveries;
        self.last_ns = self.last_ns.max(other.last_ns);
    }
}

/// Which sequences of which publisher arrived, as one bitset per publisher, plus how many
/// arrived more than once.
#[derive(Debug, Clone, Default)]
pub struct SeenSequences {
    bits: Vec<Vec<u64>>,
    pub duplicates: u64,
    /// Stamps no run of bench could have written (a foreign message that happens to be long
    /// enough to decode): counted, never tracked, so they cannot blow up the bitsets.
    out_of_range: u64,
}

/// Bounds of a plausible stamp: more publishers or messages per publisher than any run sends.
/// Options refuse more publishers: an acknowledged stamp out of range would go uncounted.
pub const MAX_PUBLISHERS: usize = 1024;
const MAX_SEQUENCE: u64 = 1 << 32;

impl SeenSequences {
    pub fn mark(&mut self, publisher: u16, sequence: u64) {
        let publisher = usize::from(publisher);
        if publisher >= MAX_PUBLISHERS || sequence >= MAX_SEQUENCE {
            self.out_of_range += 1;
            return;
        }
        if self.bits.len() <= publisher {
            self.bits.resize_with(publisher + 1, Vec::new);
        }
        let words = &mut self.bits[publisher];
        let word = (sequence / 64) as usize;
        if words.len() <= word {
            words.resize((word + 1).next_power_of_two(), 0);
        }
        let bit = 1u64 << (sequence % 64);
        if words[word] & bit != 0 {
            self.duplicates += 1;
        }
        words[word] |= bit;
    }

    /// A message seen by two subscribers counts as a duplicate just like one seen twice by one.
    pub fn merge(&mut self, other: SeenSequences) {
        self.duplicates += other.duplicates;
        self.out_of_range += other.out_of_range;
        if self.bits.len() < other.bits.len() {
            self.bits.resize_with(other.bits.len(), Vec::new);
        }
        for (mine, theirs) in self.bits.iter_mut().zip(other.bits) {
            if mine.len() < theirs.len() {
                mine.resize(theirs.len(), 0);
            }
            for (a, b) in mine.iter_mut().zip(theirs) {
                self.duplicates += u64::from((*a & b).count_ones());
                *a |= b;
            }
        }
    }

    /// Distinct stamps marked (out-of-range ones are not tracked).
    pub fn count(&self) -> u64 {
        self.bits
            .iter()
            .flatten()
            .map(|word| u64::from(word.count_ones()))
            .sum()
    }

    /// Distinct stamps marked here and not in `other`.
    pub fn count_not_in(&self, other: &SeenSequences) -> u64 {
        self.bits
            .iter()
            .enumerate()
            .map(|(publisher, words)| {
                let theirs = other.bits.get(publisher).map_or(&[][..], Vec::as_slice);
                words
                    .iter()
                    .enumerate()
                    .map(|(index, word)| {
                        let seen = theirs.get(index).copied().unwrap_or(0);
                        u64::from((word & !seen).count_ones())
                    })
                    .sum::<u64>()
            })
            .sum()
    }

    /// Compares with what was published: `published[p]` messages with sequences 0..n by
    /// publisher `p`.
    pub fn check(&self, published: &[u64]) -> Check {
        let expected: u64 = published.iter().sum();
        let mut unique = 0u64;
        let mut unexpected = self.out_of_range;
        for (publisher, words) in self.bits.iter().enumerate() {
            let sent = published.get(publisher).copied().unwrap_or(0);
            for (index, word) in words.iter().enumerate() {
                let first = index as u64 * 64;
                let in_range = match sent.saturating_sub(first) {
                    0 => 0,
                    n if n >= 64 => u64::MAX,
                    n => (1u64 << n) - 1,
                };
                unique += u64::from((word & in_range).count_ones());
                unexpected += u64::from((word & !in_range).count_ones());
            }
        }
        Check {
            expected,
            unique,
            missing: expected - unique,
            duplicates: self.duplicates,
            unexpected,
            complete: unique == expected && self.duplicates == 0 && unexpected == 0,
        }
    }
}

/// Errors of one kind of client, counted, with the first few kept verbatim for the report.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorLog {
    pub count: u64,
    pub samples: Vec<String>,
}

const ERROR_SAMPLES: usize = 10;

impl ErrorLog {
    pub fn push(&mut self, error: impl std::fmt::Display) {
        self.count += 1;
        if self.samples.len() < ERROR_SAMPLES {
            self.samples.push(error.to_string());
        }
    }

    pub fn merge(&mut self, other: ErrorLog) {
        self.count += other.count;
        let room = ERROR_SAMPLES.saturating_sub(self.samples.len());
        self.samples.extend(other.samples.into_iter().take(room));
    }
}

/// Did every published message arrive exactly once?
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    /// Messages the publishers sent (handed to the client; for JetStream whether or not the
    /// stream acknowledged them: a lost publish ack shows as an error, the message as missing).
    pub expected: u64,
    /// Distinct expected messages received.
    pub unique: u64,
    pub missing: u64,
    /// Extra deliveries of a message already received (redeliveries included).
    pub duplicates: u64,
    /// Stamped messages with a sequence no publisher of this run sent (a foreign message that
    /// decodes as a stamp, or a stale one from an earlier run).
    pub unexpected: u64,
    /// True when nothing is missing, duplicated or unexpected.
    pub complete: bool,
}

/// Latency percentiles in microseconds, from the merged histogram.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    pub samples: u64,
    pub min: f64,
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p99_9: f64,
    pub max: f64,
}

impl Latency {
    pub fn from_histogram(histogram: &Histogram<u64>) -> Latency {
        let us = |ns: u64| ns as f64 / 1_000.0;
        if histogram.is_empty() {
            return Latency {
                samples: 0,
                min: 0.0,
                mean: 0.0,
                p50: 0.0,
                p90: 0.0,
                p99: 0.0,
                p99_9: 0.0,
                max: 0.0,
            };
        }
        Latency {
            samples: histogram.len(),
            min: us(histogram.min()),
            mean: histogram.mean() / 1_000.0,
            p50: us(histogram.value_at_quantile(0.50)),
            p90: us(histogram.value_at_quantile(0.90)),
            p99: us(histogram.value_at_quantile(0.99)),
            p99_9: us(histogram.value_at_quantile(0.999)),
            max: us(histogram.max()),
        }
    }
}

/// Messages and bytes over a span of time.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Throughput {
    pub messages: u64,
    pub bytes: u64,
    pub seconds: f64,
    pub msgs_per_sec: f64,
    pub bytes_per_sec: f64,
}

impl Throughput {
    pub fn new(messages: u64, bytes: u64, seconds: f64) -> Throughput {
        let per_sec = |n: u64| {
            if seconds > 0.0 {
                n as f64 / seconds
            } else {
                0.0
            }
        };
        Throughput {
            messages,
            bytes,
            seconds,
            msgs_per_sec: per_sec(messages),
            bytes_per_sec: per_sec(bytes),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payload::{PayloadWriter, Stamp};

    fn payload(publisher: u16, sequence: u64, sent_ns: u64) -> Vec<u8> {
        PayloadWriter::new(32)
            .next(Stamp {
                sent_ns,
                publisher,
                sequence,
            })
            .to_vec()
    }

    #[test]
    fn complete_when_every_message_arrives_once_across_subscribers() {
        let mut a = Recorder::new().unwrap();
        let mut b = Recorder::new().unwrap();
        for sequence in 0..1000 {
            let target = if sequence % 3 == 0 { &mut a } else { &mut b };
            target.record(&payload(0, sequence, 0), 1_000);
            target.record(&payload(1, sequence, 0), 1_000);
        }
        a.merge(b);
        let check = a.seen.check(&[1000, 1000]);
        assert_eq!(check.expected, 2000);
        assert_eq!(check.unique, 2000);
        assert_eq!(check.missing, 0);
        assert!(check.complete, "{check:?}");
        assert_eq!(a.messages, 2000);
        assert_eq!(a.bytes, 2000 * 32);
    }

    #[test]
    fn a_foreign_payload_is_unexpected_not_a_huge_allocation() {
        let mut seen = SeenSequences::default();
        seen.mark(0, 0);
        seen.mark(0, (1 << 48) - 1);
        seen.mark(u16::MAX, 3);
        let check = seen.check(&[1]);
        assert_eq!(check.unexpected, 2);
        assert_eq!(check.unique, 1);
        assert!(!check.complete);
    }

    #[test]
    fn reports_missing_duplicate_and_unexpected_messages() {
        let mut a = Recorder::new().unwrap();
        let mut b = Recorder::new().unwrap();
        for sequence in 0..100 {
            if sequence != 42 {
                a.record(&payload(0, sequence, 0), 1);
            }
        }
        a.record(&payload(0, 7, 0), 1);
        b.record(&payload(0, 8, 0), 1);
        b.record(&payload(0, 100, 0), 1);
        b.record(&payload(3, 0, 0), 1);
        a.merge(b);
        let check = a.seen.check(&[100]);
        assert_eq!(check.missing, 1);
        assert_eq!(check.duplicates, 2);
        assert_eq!(check.unexpected, 2);
        assert!(!check.complete);
    }

    #[test]
    fn unstamped_payloads_are_counted_not_checked() {
        let mut recorder = Recorder::new().unwrap();
        recorder.record(b"short", 10);
        assert_eq!(recorder.unstamped, 1);
        assert_eq!(recorder.messages, 1);
        assert_eq!(recorder.distinct(), 0);
        assert!(recorder.latency.is_empty());
        recorder.record(&payload(0, 0, 0), 10);
        recorder.record(&payload(0, 0, 0), 10);
        assert_eq!(recorder.distinct(), 1, "a duplicate is not counted twice");
    }

    #[test]
    fn latency_percentiles_in_microseconds() {
        let mut recorder = Recorder::new().unwrap();
        for i in 1..=1000u64 {
            recorder.record(&payload(0, i - 1, 0), i * 1_000);
        }
        let latency = Latency::from_histogram(&recorder.latency);
        assert_eq!(latency.samples, 1000);
        assert!((latency.p50 - 500.0).abs() < 1.0, "{latency:?}");
        assert!((latency.p90 - 900.0).abs() < 1.0, "{latency:?}");
        assert!((latency.p99 - 990.0).abs() < 1.0, "{latency:?}");
        assert!((latency.p99_9 - 999.0).abs() < 1.0, "{latency:?}");
        assert!((latency.max - 1000.0).abs() < 1.0, "{latency:?}");
    }

    #[test]
    fn empty_latency_is_all_zero() {
        let latency = Latency::from_histogram(&new_histogram().unwrap());
        assert_eq!(latency.samples, 0);
        assert_eq!(latency.p99_9, 0.0);
    }

    #[test]
    fn throughput_per_second() {
        let t = Throughput::new(1000, 128_000, 0.5);
        assert_eq!(t.msgs_per_sec, 2000.0);
        assert_eq!(t.bytes_per_sec, 256_000.0);
        assert_eq!(Throughput::new(5, 5, 0.0).msgs_per_sec, 0.0);
    }
}
