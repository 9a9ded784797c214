//! Clock synchronisation. On the live host the kernel is asked (adjtimex, read-only); in a
//! captured tree the evidence is systemd-timesyncd's flag file or a time daemon's process.
//! `--offline` skips it: a clock is synchronised over the network, so a host checked without
//! one (a first rollout before the network is up, a captured tree) would only warn for that.

use super::{Category, Check, Context, Spec};

const CAT: Category = Category::Clock;

const SYNC: Spec = Spec::one("clock.sync", CAT, "clock synchronised");
pub const SPECS: &[Spec] = &[SYNC];

const DAEMONS: &[&str] = &[
    "chronyd",
    "ntpd",
    "ntpd-rs",
    "systemd-timesyn",
    "openntpd",
    "timemaster",
];

pub fn run(ctx: &Context, out: &mut Vec<Check>) {
    let draft = SYNC.draft().expected("synchronised (NTP or PTP)");
    if ctx.offline {
        out.push(draft.skip("--offline: clock synchronisation needs the network (NTP or PTP)"));
        return;
    }
    let flag = ctx.host.exists("/run/systemd/timesync/synchronized");
    let daemon = DAEMONS
        .iter()
        .find_map(|d| ctx.running(d).map(|p| (d, p.pid)));
    let evidence = match (flag, daemon) {
        (true, _) => Some("systemd-timesyncd reports synchronized".to_owned()),
        (false, Some((name, pid))) => Some(format!("{name} running (pid {pid})")),
        (false, None) => None,
    };
    let fix = "run chrony (or systemd-timesyncd) against your NTP servers: message timestamps, max_age expiry and TLS depend on the clock";
    if ctx.host.is_live() {
        if let Some(synced) = kernel_synchronised() {
            let draft = draft.observed(format!(
                "kernel says {}{}",
                if synced {
                    "synchronised"
                } else {
                    "unsynchronised"
                },
                evidence.map(|e| format!("; {e}")).unwrap_or_default()
            ));
            out.push(if synced {
                draft.pass()
            } else {
                draft.warn(fix)
            });
            return;
        }
    }
    out.push(match evidence {
        Some(e) => draft.observed(e).pass(),
        None => draft
            .observed("no time daemon running and no synchronized flag")
            .warn(fix),
    });
}

/// The kernel's view: STA_UNSYNC clear in adjtimex's status. `modes = 0` only reads.
fn kernel_synchronised() -> Option<bool> {
    // SAFETY: timex is plain data; zeroed is a valid value and modes = 0 makes adjtimex read only.
    let mut timex: libc::timex = unsafe { std::mem::zeroed() };
    // SAFETY: the pointer is to a live, exclusively borrowed timex.
    let state = unsafe { libc::adjtimex(&mut timex) };
    if state < 0 {
        return None;
    }
    Some(timex.status & libc::STA_UNSYNC == 0 && state != libc::TIME_ERROR)
}
