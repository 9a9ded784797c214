//! Live counters of a run: each client owns a cache-line-sized slot it bumps without contention;
//! the coordinator sums them to decide when everything has arrived, and a ticker prints them on
//! a terminal.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::Clock;

/// One client's counter, alone on its cache line so that clients on different cores do not
/// slow each other down.
#[derive(Debug, Default)]
#[repr(align(64))]
pub struct Slot(AtomicU64);

impl Slot {
    /// Only the owning client writes, so a plain store is enough.
    pub fn set(&self, value: u64) {
        self.0.store(value, Ordering::Relaxed);
    }
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

#[derive(Debug, Default)]
pub struct Counter {
    slots: Mutex<Vec<Arc<Slot>>>,
}

impl Counter {
    pub fn slot(&self) -> Arc<Slot> {
        let slot = Arc::new(Slot::default());
        if let Ok(mut slots) = self.slots.lock() {
            slots.push(slot.clone());
        }
        slot
    }
    pub fn total(&self) -> u64 {
        self.slots
            .lock()
            .map(|slots| slots.iter().map(|s| s.get()).sum())
            .unwrap_or(0)
    }
}

/// Counters of one workload.
#[derive(Debug, Default)]
pub struct Workload {
    pub published: Counter,
    pub consumed: Counter,
}

#[derive(Debug, Clone, Default)]
pub struct Progress {
    pub push: Arc<Workload>,
    pub pull: Arc<Workload>,
}

/// Prints `push pub N sub N | pull pub N sub N` on stderr every second, on one line.
pub fn spawn_ticker(progress: Progress, clock: Clock) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(Duration::from_secs(1));
        interval.tick().await;
        loop {
            interval.tick().await;
            let seconds = clock.now_ns() as f64 / 1e9;
            let line = format!(
                "\r{seconds:6.1}s  push: pub {} sub {}  pull: pub {} sub {}   ",
                progress.push.published.total(),
                progress.push.consumed.total(),
                progress.pull.published.total(),
                progress.pull.consumed.total(),
            );
            let mut stderr = std::io::stderr().lock();
            let _ = stderr.write_all(line.as_bytes());
            let _ = stderr.flush();
        }
    })
}

pub fn clear_line() {
    let mut stderr = std::io::stderr().lock();
    let _ = stderr.write_all(b"\r\x1b[2K");
    let _ = stderr.flush();
}
