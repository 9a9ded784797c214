// Test code: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

//! `pier-broker run` under systemd's journal: nats-server's lines arrive as native journal
//! entries with matching priorities and the SERVER / NATS_LEVEL fields.
//!
//! tracing-journald writes to the fixed path /run/systemd/journal/socket, so this test stands in
//! for journald there. It runs only where no journald owns that path and /run is writable.

mod support;

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use support::*;

const JOURNAL_DIR: &str = "/run/systemd/journal";
const JOURNAL_SOCKET: &str = "/run/systemd/journal/socket";

/// Decodes journald's native protocol: `KEY=value\n`, or `KEY\n<u64 LE length><value>\n`.
fn decode(mut data: &[u8]) -> HashMap<String, String> {
    let mut fields = HashMap::new();
    while !data.is_empty() {
        let end = data.iter().position(|b| *b == b'\n').unwrap_or(data.len());
        let line = &data[..end];
        if let Some(eq) = line.iter().position(|b| *b == b'=') {
            fields.insert(
                String::from_utf8_lossy(&line[..eq]).into_owned(),
                String::from_utf8_lossy(&line[eq + 1..]).into_owned(),
            );
            data = &data[(end + 1).min(data.len())..];
        } else {
            let key = String::from_utf8_lossy(line).into_owned();
            let rest = &data[end + 1..];
            let len = u64::from_le_bytes(rest[..8].try_into().unwrap()) as usize;
            fields.insert(key, String::from_utf8_lossy(&rest[8..8 + len]).into_owned());
            data = &rest[(8 + len + 1).min(rest.len())..];
        }
    }
    fields
}

struct FakeJournal {
    socket: UnixDatagram,
    created_dir: bool,
}

impl Drop for FakeJournal {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(JOURNAL_SOCKET);
        if self.created_dir {
            let _ = std::fs::remove_dir(JOURNAL_DIR);
        }
    }
}

fn fake_journal() -> Option<FakeJournal> {
    if Path::new(JOURNAL_SOCKET).exists()
        && cannot_run(&format!("a journald owns {JOURNAL_SOCKET}"))
    {
        return None;
    }
    let created_dir = !Path::new(JOURNAL_DIR).exists();
    if let Err(e) = std::fs::create_dir_all(JOURNAL_DIR) {
        assert!(cannot_run(&format!("cannot create {JOURNAL_DIR}: {e}")));
        return None;
    }
    let socket = UnixDatagram::bind(JOURNAL_SOCKET).expect("bind the journal socket");
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .ok()?;
    Some(FakeJournal {
        socket,
        created_dir,
    })
}

#[test]
fn server_lines_reach_the_journal_with_priorities_and_fields() {
    let Some(journal) = fake_journal() else {
        return;
    };
    let stop = Arc::new(AtomicBool::new(false));
    // Peers that never start: nats-server logs [ERR] for each failed route dial, and the node
    // still becomes READY on its own.
    let ports: Vec<NodePorts> = (0..3).map(|i| node_ports(21700, i)).collect();
    let node = NodeDir::new(ports[0].clone());
    node.write_config(&ports, NATS_2_15, "");
    // Read all along, as journald would: a full socket queue would block the supervisor.
    let collected = Arc::new(Mutex::new(Vec::new()));
    let reader = {
        let collected = collected.clone();
        let socket = journal.socket.try_clone().unwrap();
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 65536];
            while !stop.load(Ordering::SeqCst) {
                if let Ok(n) = socket.recv(&mut buf) {
                    collected.lock().unwrap().push(decode(&buf[..n]));
                }
            }
        })
    };
    let mut notify = NotifySocket::new();
    let mut supervisor = Supervisor::start(&node, |cmd| {
        // As systemd says it: the device and inode of the stderr it gave the service.
        let stderr = std::fs::metadata(node.dir.path().join("supervisor.log")).unwrap();
        cmd.env("NOTIFY_SOCKET", notify.path()).env(
            "JOURNAL_STREAM",
            format!("{}:{}", stderr.dev(), stderr.ino()),
        );
    });
    notify
        .wait_for("READY=1", Duration::from_secs(30))
        .expect("READY=1 without peers");

    let seen = |entries: &[HashMap<String, String>], level: &str| {
        entries
            .iter()
            .any(|e| e.get("NATS_LEVEL").map(String::as_str) == Some(level))
    };
    let until = Instant::now() + Duration::from_secs(10);
    while Instant::now() < until {
        let entries = collected.lock().unwrap();
        if seen(&entries, "INF") && seen(&entries, "ERR") {
            break;
        }
        drop(entries);
        std::thread::sleep(Duration::from_millis(100));
    }
    supervisor.signal(Signal::SIGTERM);
    assert_eq!(
        supervisor
            .wait_exit(Duration::from_secs(50))
            .and_then(|s| s.code()),
        Some(0)
    );
    stop.store(true, Ordering::SeqCst);
    reader.join().unwrap();
    let entries = collected.lock().unwrap().clone();

    let ready = entries
        .iter()
        .find(|e| e.get("MESSAGE").map(String::as_str) == Some("Server is ready"))
        .unwrap_or_else(|| panic!("no 'Server is ready' entry in {entries:?}"));
    assert_eq!(ready["PRIORITY"], "6");
    assert_eq!(ready["NATS_LEVEL"], "INF");
    assert_eq!(ready["SERVER"], "n1");
    assert_eq!(ready["TARGET"], "nats_server");
    assert_eq!(ready["SYSLOG_IDENTIFIER"], "pier-broker");

    let error = entries
        .iter()
        .find(|e| e.get("NATS_LEVEL").map(String::as_str) == Some("ERR"))
        .unwrap_or_else(|| panic!("no [ERR] entry in {entries:?}"));
    assert_eq!(error["PRIORITY"], "3");
    assert!(error["MESSAGE"].contains("route"), "{error:?}");

    // The supervisor's own events go the same way.
    assert!(
        entries.iter().any(|e| e
            .get("MESSAGE")
            .is_some_and(|m| m.starts_with("nats-server is ready"))
            && e.get("PRIORITY").map(String::as_str) == Some("6")),
        "{entries:?}"
    );
}
