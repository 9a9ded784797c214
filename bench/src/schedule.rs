//! When a publisher sends its next message. Unpaced, as soon as the client takes it; under
//! `--rate`, on a fixed schedule, and a late message is stamped with its scheduled time rather
//! than the actual one so that a stalled publisher shows up as latency instead of hiding it
//! (coordinated omission). Timers have millisecond granularity, so the pacer wakes up to one
//! tick early and sends what is due within it; a message sent early is stamped with the
//! actual time, so neither the pacer's earliness nor its timer lateness counts as latency.
//!
//! Unpaced, consecutive messages share a clock reading, [`UNPACED_STAMP_REUSE`] at most, as
//! long as the client takes each without making the publisher wait ([`Schedule::send`]): a
//! clock read costs about as much as building the payload, and handing a message over a
//! few hundred nanoseconds, so a stamp is at most a couple of microseconds early and the
//! latency it gives errs on the long side.

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use super::Clock;

/// How far ahead of its time a paced message may be sent: one timer tick.
const EARLY_NS: u64 = 1_000_000;
/// Unpaced messages stamped with one clock reading.
const UNPACED_STAMP_REUSE: u32 = 8;

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
    /// The last clock reading; unpaced, how many more stamps may reuse it.
    stamp_ns: u64,
    stamp_uses_left: u32,
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
            stamp_ns: start_ns,
            stamp_uses_left: 0,
        }
    }

    /// The stamp time of message `sequence`, after waiting until it is (nearly) due; None
    /// once the publisher is done.
    pub async fn next(&mut self, sequence: u64) -> Option<u64> {
        if self.limit.is_some_and(|limit| sequence >= limit) {
            return None;
        }
        let due = match self.interval_ns {
            Some(interval) => self.start_ns + (sequence as f64 * interval) as u64,
            None => self.unpaced_stamp(),
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
        self.stamp_ns = self.clock.now_ns();
        Some(due.min(self.stamp_ns))
    }

    /// The clock when the last message was scheduled (within a couple of microseconds
    /// unpaced): a time base for deadlines that costs no clock read of its own.
    pub fn last_reading_ns(&self) -> u64 {
        self.stamp_ns
    }

    fn unpaced_stamp(&mut self) -> u64 {
        if self.stamp_uses_left == 0 {
            self.stamp_ns = self.clock.now_ns();
            self.stamp_uses_left = UNPACED_STAMP_REUSE;
        }
        self.stamp_uses_left -= 1;
        self.stamp_ns
    }

    /// Awaits the client taking a message (or anything else the publisher waits for); when
    /// it has to wait, the next stamp reads the clock again.
    /// Takes the future pinned by the caller, so that a large one is not moved.
    pub async fn send<F: Future>(&mut self, mut future: Pin<&mut F>) -> F::Output {
        match futures::poll!(future.as_mut()) {
            Poll::Ready(output) => output,
            Poll::Pending => {
                self.stamp_uses_left = 0;
                future.await
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::pin::pin;

    use super::*;

    #[tokio::test]
    async fn fixed_count_stops_at_the_limit() {
        let mut schedule = Schedule::new(Clock::start(), None, None, Some(3));
        assert!(schedule.next(2).await.is_some());
        assert!(schedule.next(3).await.is_none());
    }

    #[tokio::test]
    async fn paced_messages_are_stamped_with_their_scheduled_time() {
        let clock = Clock::start();
        let mut schedule = Schedule::new(clock, Some(1000.0), None, None);
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
        let mut schedule = Schedule::new(
            Clock::start(),
            Some(100.0),
            Some(Duration::from_millis(50)),
            None,
        );
        assert!(schedule.next(4).await.is_some());
        assert!(schedule.next(5).await.is_none());
    }

    #[tokio::test]
    async fn unpaced_stamps_share_a_reading_until_the_publisher_waits() {
        let clock = Clock::start();
        let mut schedule = Schedule::new(clock, None, None, None);
        let first = schedule.next(0).await.unwrap();
        std::thread::sleep(Duration::from_millis(2));
        for sequence in 1..u64::from(UNPACED_STAMP_REUSE) {
            assert_eq!(schedule.next(sequence).await, Some(first), "reused");
        }
        let fresh = schedule.next(99).await.unwrap();
        assert!(
            fresh >= first + 2_000_000,
            "read again after {UNPACED_STAMP_REUSE}"
        );
        // A send that waits makes the next stamp read the clock.
        schedule
            .send(pin!(tokio::time::sleep(Duration::from_millis(2))))
            .await;
        let after_wait = schedule.next(100).await.unwrap();
        assert!(after_wait >= fresh + 2_000_000, "{fresh} {after_wait}");
        // One that does not leaves the reading shared.
        assert_eq!(schedule.send(pin!(async { 7 })).await, 7);
        assert_eq!(schedule.next(101).await, Some(after_wait));
    }
}
