//! The pull workload's publish acks and their verdict: which stamps JetStream acknowledged
//! (publisher side), compared with which stamps the workers consumed, gives the verdict a
//! fault cannot fool: an acknowledged message that was never consumed is lost. (The report
//! calls it the workload's `accounting`; it has nothing to do with NATS accounts.)

use serde::{Deserialize, Serialize};

use super::stats::SeenSequences;

/// What the pull publishers learned from their publish acks.
#[derive(Debug, Clone, Default)]
pub struct PublishAcks {
    /// Stamps whose publish JetStream acknowledged (a deduplicated re-send included).
    pub stamps: SeenSequences,
    /// Acks received, duplicates of a re-sent message included.
    pub received: u64,
    /// Lowest and highest stream sequence an ack named.
    pub lowest: Option<u64>,
    pub highest: Option<u64>,
    /// Re-sends of a publish whose ack failed or timed out (`--retry-publish`).
    pub retried: u64,
    /// Publishes given up on without an ack.
    pub unacknowledged: u64,
}

impl PublishAcks {
    pub fn record(&mut self, publisher: u16, sequence: u64, stream_sequence: u64) {
        self.stamps.mark(publisher, sequence);
        self.received += 1;
        self.lowest = Some(
            self.lowest
                .map_or(stream_sequence, |l| l.min(stream_sequence)),
        );
        self.highest = Some(
            self.highest
                .map_or(stream_sequence, |h| h.max(stream_sequence)),
        );
    }

    pub fn merge(&mut self, other: PublishAcks) {
        self.stamps.merge(other.stamps);
        self.received += other.received;
        self.lowest = match (self.lowest, other.lowest) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.highest = self.highest.max(other.highest);
        self.retried += other.retried;
        self.unacknowledged += other.unacknowledged;
    }
}

/// The verdict of a pull workload (`workloads[].accounting` in the JSON report).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AckVerdict {
    /// Distinct stamps JetStream acknowledged.
    pub acknowledged: u64,
    /// Distinct stamps the workers consumed.
    pub consumed: u64,
    /// Acknowledged and never consumed: must be 0.
    pub lost: u64,
    /// Deliveries of a stamp the workers had already consumed (and acknowledged).
    pub duplicates: u64,
    /// Publishes that never got an ack, after every retry.
    pub unacknowledged: u64,
    /// Consumed but never acknowledged to the publisher: the ack was lost, the message stored.
    pub stored_unacknowledged: u64,
    /// Re-sends of publishes under `--retry-publish`.
    pub retried: u64,
    /// Deliveries JetStream marked as redeliveries.
    pub redeliveries: u64,
    /// Seconds from the end of publishing to the end of the drain.
    pub drain_s: f64,
    /// Lowest and highest stream sequence named by an ack; null without acks.
    pub lowest_stream_sequence: Option<u64>,
    pub highest_stream_sequence: Option<u64>,
}

impl AckVerdict {
    /// `consumed` holds every stamp the workers received, with their repeat deliveries.
    pub fn new(
        acks: &PublishAcks,
        consumed: &SeenSequences,
        redeliveries: u64,
        drain_s: f64,
    ) -> Self {
        AckVerdict {
            acknowledged: acks.stamps.count(),
            consumed: consumed.count(),
            lost: acks.stamps.count_not_in(consumed),
            duplicates: consumed.duplicates,
            unacknowledged: acks.unacknowledged,
            stored_unacknowledged: consumed.count_not_in(&acks.stamps),
            retried: acks.retried,
            redeliveries,
            drain_s,
            lowest_stream_sequence: acks.lowest,
            highest_stream_sequence: acks.highest,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_acknowledged_stamp_consumed_once_is_a_clean_verdict() {
        let mut acks = PublishAcks::default();
        let mut consumed = SeenSequences::default();
        for sequence in 0..1000 {
            acks.record((sequence % 3) as u16, sequence, 100 + sequence);
            consumed.mark((sequence % 3) as u16, sequence);
        }
        let verdict = AckVerdict::new(&acks, &consumed, 0, 0.5);
        assert_eq!(verdict.acknowledged, 1000);
        assert_eq!(verdict.consumed, 1000);
        assert_eq!((verdict.lost, verdict.duplicates), (0, 0));
        assert_eq!(verdict.stored_unacknowledged, 0);
        assert_eq!(verdict.lowest_stream_sequence, Some(100));
        assert_eq!(verdict.highest_stream_sequence, Some(1099));
    }

    #[test]
    fn lost_duplicates_and_stored_unacknowledged_from_the_bitsets() {
        // Publisher 0 sent 0..200: 150 and 151 never acknowledged (one of them stored all the
        // same), publisher 1 sent 0..70, every one acknowledged.
        let mut first = PublishAcks::default();
        for sequence in (0..200).filter(|s| ![150, 151].contains(s)) {
            first.record(0, sequence, sequence + 1);
        }
        first.unacknowledged = 2;
        first.retried = 9;
        let mut second = PublishAcks::default();
        for sequence in 0..70 {
            second.record(1, sequence, 1000 + sequence);
        }
        first.merge(second);

        // Worker a consumed publisher 0 except 7 and 8 (lost), plus 151 (stored, ack lost);
        // worker b consumed publisher 1 except 69 (lost) with 3 again and 5 delivered to both.
        let mut a = SeenSequences::default();
        for sequence in (0..200).filter(|s| ![7, 8, 150].contains(s)) {
            a.mark(0, sequence);
        }
        a.mark(1, 5);
        let mut b = SeenSequences::default();
        for sequence in 0..69 {
            b.mark(1, sequence);
        }
        b.mark(1, 3);
        a.merge(b);

        let verdict = AckVerdict::new(&first, &a, 4, 1.25);
        assert_eq!(verdict.acknowledged, 198 + 70);
        assert_eq!(verdict.consumed, 197 + 69);
        assert_eq!(verdict.lost, 3, "publisher 0's 7 and 8, publisher 1's 69");
        assert_eq!(verdict.duplicates, 2, "1/3 twice by b, 1/5 by a and b");
        assert_eq!(verdict.stored_unacknowledged, 1, "publisher 0's 151");
        assert_eq!(verdict.unacknowledged, 2);
        assert_eq!(verdict.retried, 9);
        assert_eq!(verdict.redeliveries, 4);
        assert_eq!(verdict.lowest_stream_sequence, Some(1));
        assert_eq!(verdict.highest_stream_sequence, Some(1069));
    }

    #[test]
    fn nothing_acknowledged_loses_nothing() {
        let mut consumed = SeenSequences::default();
        consumed.mark(0, 0);
        let verdict = AckVerdict::new(&PublishAcks::default(), &consumed, 0, 0.0);
        assert_eq!((verdict.acknowledged, verdict.lost), (0, 0));
        assert_eq!(verdict.stored_unacknowledged, 1);
        assert_eq!(verdict.lowest_stream_sequence, None);
    }
}
