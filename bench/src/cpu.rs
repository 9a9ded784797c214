//! The benchmark's own cost: CPU time of this process (every client of the run, user and
//! system), read with getrusage. On a small machine the clients share the cores with the
//! servers they measure, so each microsecond a message costs the client is taken from them.

use std::time::Duration;

use nix::sys::resource::{getrusage, UsageWho};
use nix::sys::time::TimeValLike;
use serde::{Deserialize, Serialize};

/// CPU time this process has used so far, user and system.
#[derive(Debug, Clone, Copy)]
pub struct CpuTime {
    user: Duration,
    system: Duration,
}

impl CpuTime {
    /// None if getrusage fails (it cannot for RUSAGE_SELF on Linux; the run does not depend
    /// on it).
    pub fn now() -> Option<CpuTime> {
        let usage = getrusage(UsageWho::RUSAGE_SELF).ok()?;
        let duration = |t: nix::sys::time::TimeVal| {
            Duration::from_micros(u64::try_from(t.num_microseconds()).unwrap_or(0))
        };
        Some(CpuTime {
            user: duration(usage.user_time()),
            system: duration(usage.system_time()),
        })
    }

    /// CPU used since `earlier`, per message over `messages` messages.
    pub fn since(&self, earlier: &CpuTime, messages: u64) -> ClientCpu {
        let user_s = self.user.saturating_sub(earlier.user).as_secs_f64();
        let system_s = self.system.saturating_sub(earlier.system).as_secs_f64();
        let us_per_msg = if messages > 0 {
            (user_s + system_s) * 1e6 / messages as f64
        } else {
            0.0
        };
        ClientCpu {
            user_s,
            system_s,
            us_per_msg,
        }
    }
}

/// CPU time of the whole run in this process (connecting, set-up and clean-up included)
/// and its cost per consumed message, every workload's messages together.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ClientCpu {
    pub user_s: f64,
    pub system_s: f64,
    /// (user + system) µs per message consumed.
    pub us_per_msg: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_work_shows_up_per_message() {
        let start = CpuTime::now().unwrap();
        let mut x = 0u64;
        let spin = std::time::Instant::now();
        while spin.elapsed() < Duration::from_millis(50) {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
        }
        let cpu = CpuTime::now().unwrap().since(&start, 1_000);
        let total = cpu.user_s + cpu.system_s;
        assert!(total >= 0.03, "{cpu:?}");
        assert!((cpu.us_per_msg - total * 1e3).abs() < 1e-6, "{cpu:?}");
        assert_eq!(start.since(&start, 0).us_per_msg, 0.0);
    }
}
