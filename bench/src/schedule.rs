//! When a publisher sends its next message. Unpaced, as soon as the client takes it; under
//! `--rate`, on a fixed schedule, and a late message is stamped with its scheduled time rather
//! than the actual one so that a stalled publisher shows up as latency instead of hiding it
//! (coordinated omission). Timers have millisecond granularity, so the pacer wakes up to one
//! tick early and sends what is due within it; a message sent early is stamped with the
//! actual time, so neither the pacer's earliness nor its timer lateness counts as latency.

use std::time::Duration;

use super::Clock;

/// How far ahead of its time a paced message may be sent: one timer tick.
const EARLY_NS: u64 = 1_000_000;

#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    clock: Clock,
    start_ns: u64,
    /// Nanoseconds between two messages of this publisher; None when unpaced.
    interval_ns: Option<f64>,
    /// Stop scheduling at this time (duration runs).
    end_ns: Option<u64>,
    /// Stop after this many messages (fixed-count runs).
    limit: Option<u64>,
}

impl Schedule {
    pub fn new(
        clock: Clock,
        rate_per_publisher: Option<f64>,
        duration: Option<Duration>,
        limit: Option<u64>,
    ) -> Self {
        let start_ns = clock.now_ns();
        Schedule {
            clock,
            start_ns,
            interval_ns: rate_per_publisher.map(|rate| 1e9 / rate),
            end_ns: duration.map(|d| start_ns + d.as_nanos() as u64),
            limit,
        }
    }

    /// The stamp time of message `sequence`, after waiting until it is (nearly) due; None
    /// once the publisher is done.
    pub async fn next(&self, sequence: u64) -> Option<u64> {
        if self.limit.is_some_and(|limit| sequence >= limit) {
            return None;
        }
        let due = match self.interval_ns {
            Some(interval) => self.start_ns + (sequence as f64 * interval) as u64,
            None => self.clock.now_ns(),
        };
        if self.end_ns.is_some_and(|end| due >= end) {
            return None;
        }
        if self.interval_ns.is_none() {
            return Some(due);
        }
        if due > self.clock.now_ns() + EARLY_NS {
            tokio::time::sleep_until(self.clock.instant_at(due - EARLY_NS).into()).await;
        }
        Some(due.min(self.clock.now_ns()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn fixed_count_stops_at_the_limit() {
        let schedule = Schedule::new(Clock::start(), None, None, Some(3));
        assert!(schedule.next(2).await.is_some());
        assert!(schedule.next(3).await.is_none());
    }

    #[tokio::test]
    async fn paced_messages_are_stamped_with_their_scheduled_time() {
        let clock = Clock::start();
        let schedule = Schedule::new(clock, Some(1000.0), None, None);
        let first = schedule.next(0).await.unwrap();
        let before = clock.now_ns();
        let tenth = schedule.next(10).await.unwrap();
        // Sent no more than a tick early, and stamped no later than its schedule.
        assert!(tenth <= first + 10_000_000, "{first} {tenth}");
        assert!(clock.now_ns() + EARLY_NS >= first + 10_000_000);
        assert!(tenth >= before);
    }

    #[tokio::test]
    async fn duration_runs_stop_when_time_is_up() {
        let schedule = Schedule::new(
            Clock::start(),
            Some(100.0),
            Some(Duration::from_millis(50)),
            None,
        );
        assert!(schedule.next(4).await.is_some());
        assert!(schedule.next(5).await.is_none());
    }
}
