//! The coordinator's wait for consumers to catch up with what was published.

use std::time::Duration;

use tokio::time::Instant;

use super::progress::Counter;

/// How often the counters are summed while waiting.
const POLL: Duration = Duration::from_millis(5);

/// Returns true once `counter` reaches `expected`; false when it stops moving for `idle`
/// (messages were lost, or the consumers are stuck).
pub async fn until_consumed(counter: &Counter, expected: u64, idle: Duration) -> bool {
    let mut last = counter.total();
    let mut last_change = Instant::now();
    loop {
        let now = counter.total();
        if now >= expected {
            return true;
        }
        if now != last {
            last = now;
            last_change = Instant::now();
        } else if last_change.elapsed() >= idle {
            return false;
        }
        tokio::time::sleep(POLL).await;
    }
}
