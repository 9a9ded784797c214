// Test code: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

//! Signals and the runtime directory, with real signals to a real supervisor over a real
//! nats-server: USR1 and USR2 (as `systemctl kill` sends them to every process of the unit), a
//! reload stuck reading pier.toml while the watchdog and SIGTERM must still be served, and the
//! private runtime directory outside systemd (0700, a SIGKILLed supervisor's removed later).

mod support;

use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use support::*;

const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// lame_duck_duration (30s, nats-server's minimum) plus the supervisor's margin, plus slack.
const STOP_TIMEOUT: Duration = Duration::from_secs(50);

fn start(base: u16, env: &[(&str, &str)]) -> (NodeDir, NotifySocket, Supervisor) {
    let node = NodeDir::new(node_ports(base, 0));
    node.write_config(&[], NATS_2_15, "");
    let notify = NotifySocket::new();
    let supervisor = Supervisor::start(&node, |cmd| {
        cmd.env("NOTIFY_SOCKET", notify.path());
        for (k, v) in env {
            cmd.env(k, v);
        }
    });
    (node, notify, supervisor)
}

fn wait_ready(notify: &mut NotifySocket, supervisor: &Supervisor) {
    notify
        .wait_for("READY=1", READY_TIMEOUT)
        .unwrap_or_else(|| panic!("no READY=1; log:\n{}", supervisor.log()));
}

#[test]
fn usr1_is_forwarded_and_usr2_is_a_lame_duck_stop() {
    let (_node, mut notify, mut supervisor) = start(24600, &[]);
    wait_ready(&mut notify, &supervisor);
    let server = supervisor
        .server_pid(Duration::from_secs(5))
        .expect("nats-server");

    // USR1 (log reopen) reaches nats-server through the supervisor; both keep running.
    supervisor.signal(Signal::SIGUSR1);
    assert!(
        wait_until(Duration::from_secs(10), || supervisor
            .log()
            .contains("File log re-open ignored")),
        "nats-server did not get USR1; log:\n{}",
        supervisor.log()
    );
    assert!(supervisor.wait_exit(Duration::from_millis(200)).is_none());
    assert_eq!(supervisor.server_pid(Duration::from_secs(1)), Some(server));

    // `systemctl kill -s USR2` signals every process of the unit: a lame duck stop, exit 0.
    let started = Instant::now();
    supervisor.signal(Signal::SIGUSR2);
    kill(server, Signal::SIGUSR2).expect("signal nats-server");
    notify
        .wait_for("STOPPING=1", Duration::from_secs(5))
        .unwrap_or_else(|| panic!("no STOPPING=1; log:\n{}", supervisor.log()));
    let status = supervisor
        .wait_exit(STOP_TIMEOUT)
        .expect("supervisor exits");
    eprintln!("USR2 stop took {:.2}s", started.elapsed().as_secs_f64());
    let log = supervisor.log();
    assert_eq!(status.code(), Some(0), "log:\n{log}");
    assert!(log.contains("SIGUSR2 received"), "{log}");
    assert!(log.contains("Entering lame duck mode"), "{log}");
    assert!(!alive(server));
}

/// A wrapper around nats-server 2.15.1 in `dir` whose `-t` hangs while `<wrapper>.hang` exists:
/// a reload's check stuck as on a TLS file of a hung mount.
fn hanging_check_server(dir: &Path) -> PathBuf {
    let wrapper = dir.join("nats-server");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\n[ \"$1\" = -t ] && [ -e \"$0.hang\" ] && exec sleep 60\nexec {NATS_2_15} \"$@\"\n"
        ),
    )
    .unwrap();
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    wrapper
}

#[test]
fn a_stuck_reload_delays_neither_the_watchdog_nor_sigterm() {
    let node = NodeDir::new(node_ports(24700, 0));
    let server_binary = hanging_check_server(node.dir.path());
    node.write_config(&[], server_binary.to_str().unwrap(), "");
    let mut notify = NotifySocket::new();
    // 3s: the supervisor pings every 1.5s.
    let mut supervisor = Supervisor::start(&node, |cmd| {
        cmd.env("NOTIFY_SOCKET", notify.path())
            .env("WATCHDOG_USEC", "3000000");
    });
    wait_ready(&mut notify, &supervisor);
    let server = supervisor
        .server_pid(Duration::from_secs(5))
        .expect("nats-server");

    // pier.toml replaced by a FIFO nobody writes: refused at once, never waited on.
    let config = std::fs::read(node.config_path()).unwrap();
    std::fs::remove_file(node.config_path()).unwrap();
    nix::unistd::mkfifo(&node.config_path(), nix::sys::stat::Mode::S_IRWXU).expect("mkfifo");
    supervisor.signal(Signal::SIGHUP);
    let ready = notify
        .wait_for("READY=1", Duration::from_secs(5))
        .unwrap_or_else(|| panic!("a FIFO held the reload; log:\n{}", supervisor.log()));
    let status = field(&ready, "STATUS").unwrap_or_default();
    assert!(status.contains("last reload FAILED"), "{status}");
    assert!(status.contains("FIFO"), "{status}");
    std::fs::remove_file(node.config_path()).unwrap();
    std::fs::write(node.config_path(), config).unwrap();

    // nats-server -t hangs: the reload waits for it off the supervisor's loop.
    let hang = PathBuf::from(format!("{}.hang", server_binary.display()));
    std::fs::write(&hang, "").unwrap();
    supervisor.signal(Signal::SIGHUP);
    notify
        .wait_for("RELOADING=1", Duration::from_secs(5))
        .unwrap_or_else(|| panic!("no RELOADING=1; log:\n{}", supervisor.log()));
    let pings = notify.collect(Duration::from_secs(5));
    assert!(
        count_line(&pings, "WATCHDOG=1") >= 2,
        "watchdog starved during the reload: {pings:?}\nlog:\n{}",
        supervisor.log()
    );
    // The check has a time limit: the reload gives up on its own, and says so.
    let ready = notify
        .wait_for("READY=1", Duration::from_secs(20))
        .unwrap_or_else(|| panic!("the reload never ended; log:\n{}", supervisor.log()));
    let status = field(&ready, "STATUS").unwrap_or_default();
    assert!(status.contains("last reload FAILED"), "{status}");
    assert!(alive(server));

    // Stuck again, and SIGTERM in the middle of it: the stop starts at once.
    supervisor.signal(Signal::SIGHUP);
    notify
        .wait_for("RELOADING=1", Duration::from_secs(5))
        .expect("RELOADING=1");
    std::thread::sleep(Duration::from_secs(1));
    let started = Instant::now();
    supervisor.signal(Signal::SIGTERM);
    notify
        .wait_for("STOPPING=1", Duration::from_secs(2))
        .unwrap_or_else(|| panic!("SIGTERM waited for the reload; log:\n{}", supervisor.log()));
    assert!(started.elapsed() < Duration::from_secs(2));
    let status = supervisor
        .wait_exit(STOP_TIMEOUT)
        .expect("supervisor exits");
    assert_eq!(status.code(), Some(0), "log:\n{}", supervisor.log());
    assert!(!alive(server));
}

/// Private runtime directories of node n1 in `tmp`.
fn private_dirs(tmp: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(tmp)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("pier-broker-n1-"))
        })
        .collect();
    dirs.sort();
    dirs
}

/// A directory that looks like a private runtime directory, with `mode` and a pid file of `pid`.
fn lookalike(path: &Path, mode: u32, pid: Option<Pid>) -> PathBuf {
    std::fs::create_dir(path).unwrap();
    if let Some(pid) = pid {
        std::fs::write(path.join("supervisor.pid"), format!("{pid}\n")).unwrap();
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    path.to_owned()
}

#[test]
fn outside_systemd_the_runtime_dir_is_private_and_a_killed_supervisors_is_removed() {
    let node = NodeDir::new(node_ports(24800, 0));
    node.write_config(&[], NATS_2_15, "");
    let tmp = node.dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let start = |notify: &NotifySocket| {
        Supervisor::start(&node, |cmd| {
            cmd.env_remove("RUNTIME_DIRECTORY")
                .env("TMPDIR", &tmp)
                .env("NOTIFY_SOCKET", notify.path());
        })
    };

    let mut notify = NotifySocket::new();
    let mut first = start(&notify);
    wait_ready(&mut notify, &first);
    let dirs = private_dirs(&tmp);
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    let stale = dirs[0].clone();
    let meta = std::fs::metadata(&stale).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o700);
    let conf = std::fs::metadata(stale.join("nats-server.conf")).unwrap();
    assert_eq!(conf.permissions().mode() & 0o777, 0o600);

    // SIGKILL: the supervisor cannot clean up; nats-server follows it (parent death signal).
    let server = first
        .server_pid(Duration::from_secs(5))
        .expect("nats-server");
    let dead = first.pid();
    first.signal(Signal::SIGKILL);
    first.wait_exit(Duration::from_secs(5)).expect("killed");
    assert!(wait_until(Duration::from_secs(15), || !alive(server)));
    assert!(stale.is_dir());

    // What is not certainly a dead supervisor's own stays.
    let live = lookalike(&tmp.join("pier-broker-n1-live"), 0o700, Some(Pid::this()));
    let no_pid = lookalike(&tmp.join("pier-broker-n1-nopid"), 0o700, None);
    let open = lookalike(&tmp.join("pier-broker-n1-open"), 0o755, Some(dead));
    let other = lookalike(&tmp.join("pier-broker-n2-other"), 0o700, Some(dead));
    let target = lookalike(&node.dir.path().join("elsewhere"), 0o700, Some(dead));
    let link = tmp.join("pier-broker-n1-link");
    symlink(&target, &link).unwrap();
    let zero = lookalike(
        &tmp.join("pier-broker-n1-zero"),
        0o700,
        Some(Pid::from_raw(0)),
    );

    let mut notify = NotifySocket::new();
    let second = start(&notify);
    wait_ready(&mut notify, &second);
    assert!(
        !stale.exists(),
        "stale {stale:?} kept; log:\n{}",
        second.log()
    );
    assert!(
        second.log().contains("left by supervisor"),
        "{}",
        second.log()
    );
    for kept in [&live, &no_pid, &open, &other, &target, &zero] {
        assert!(kept.is_dir(), "{kept:?} removed");
    }
    assert!(link.symlink_metadata().is_ok(), "symlink removed");
    assert!(target.join("supervisor.pid").is_file());
    // The second supervisor's own directory, next to the kept lookalikes.
    let own: Vec<PathBuf> = private_dirs(&tmp)
        .into_iter()
        .filter(|d| d.join("nats-server.conf").is_file())
        .collect();
    assert_eq!(own.len(), 1, "{own:?}");
}
