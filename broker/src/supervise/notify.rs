//! systemd's notify protocol; every call is a no-op when NOTIFY_SOCKET is not set.

use std::time::Duration;

use sd_notify::NotifyState;

use pier_monitor::printable_capped;

/// STATUS= text carries what the monitoring port and a pier.toml said: escaped, since a newline
/// would start another notify field (READY=1, MAINPID=...), and capped well below systemd's
/// notify buffer (4096 bytes: at most 4 bytes a character).
const STATUS_MAX_CHARS: usize = 1000;

#[derive(Debug, Clone)]
pub struct Notifier {
    enabled: bool,
    watchdog: Option<Duration>,
}

impl Notifier {
    pub fn from_env() -> Self {
        Notifier {
            enabled: std::env::var_os("NOTIFY_SOCKET").is_some(),
            watchdog: sd_notify::watchdog_enabled(),
        }
    }

    /// systemd's watchdog timeout (WATCHDOG_USEC), when it asked for pings.
    pub fn watchdog(&self) -> Option<Duration> {
        self.watchdog.filter(|_| self.enabled)
    }

    pub fn ready(&self, status: &str) {
        self.send(&[
            NotifyState::Ready,
            NotifyState::Status(&status_field(status)),
        ]);
    }

    pub fn status(&self, status: &str) {
        self.send(&[NotifyState::Status(&status_field(status))]);
    }

    pub fn watchdog_ping(&self) {
        if self.watchdog().is_some() {
            self.send(&[NotifyState::Watchdog]);
        }
    }

    /// RELOADING=1 with the CLOCK_MONOTONIC timestamp (systemd 253's Type=notify-reload needs
    /// it; 252 with Type=notify accepts it).
    pub fn reloading(&self) {
        match NotifyState::monotonic_usec_now() {
            Ok(now) => self.send(&[NotifyState::Reloading, now]),
            Err(_) => self.send(&[NotifyState::Reloading]),
        }
    }

    pub fn stopping(&self, status: &str) {
        self.send(&[
            NotifyState::Stopping,
            NotifyState::Status(&status_field(status)),
        ]);
    }

    fn send(&self, states: &[NotifyState]) {
        if !self.enabled {
            return;
        }
        if let Err(e) = sd_notify::notify(states) {
            tracing::warn!("cannot notify systemd: {e}");
        }
    }
}

fn status_field(status: &str) -> String {
    printable_capped(status, STATUS_MAX_CHARS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_cannot_inject_a_field_or_overflow_the_buffer() {
        assert_eq!(status_field("ok\nREADY=1\n"), "ok\\nREADY=1\\n");
        let huge = "é".repeat(10_000);
        let field = status_field(&huge);
        assert_eq!(field.chars().count(), STATUS_MAX_CHARS);
        assert!(field.len() + "STATUS=".len() < 4096);
    }
}
