//! Scaffolding shared by pier-broker's integration tests: real nats-server binaries, configs in
//! temporary directories, fixed per-test port blocks, a systemd notify socket, and supervisors
//! started as real processes.
//!
//! Ports: every test that starts servers takes its own block of 100 ports from [`node_ports`]
//! with a base nobody else uses, because cargo runs tests (and test binaries) in parallel.
//! Blocks taken so far (add yours here):
//! - 21000–21699, 21800–21899: `run.rs` (supervisor tests)
//! - 21700–21799: `journal.rs`
//! - 14322–14331, 16322–16331, 18322–18331: `provision.rs` (see [`cluster`])
//! - 15322–15324, 17322–17324, 19322–19324: `bench/tests/bench.rs` (in pier-bench)
//! - 24600–24899: `signals.rs`
//! - 26000–26799: `security.rs`
//!
//! Include with `mod support;` from a test file; not every test uses every helper.
#![allow(dead_code)]

pub mod cluster;
pub mod examples;
pub mod hostile;

use std::fs;
use std::io::ErrorKind;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tempfile::TempDir;

/// A test that cannot run on this machine (not root, a journald already owns its socket). In CI
/// (`CI` set, as `.ci/run` runs) that fails the test, so a required test never passes by
/// skipping; on a developer's machine it says why and the test returns.
#[must_use = "return from the test when this says so"]
pub fn cannot_run(why: &str) -> bool {
    assert!(
        std::env::var_os("CI").is_none(),
        "required test cannot run here: {why}"
    );
    eprintln!("skipped: {why}");
    true
}

/// Both supported nats-server versions as (version, binary), newest first;
/// PIER_NATS_SERVER_2_15 and PIER_NATS_SERVER_2_9 say where they are when not where .ci/setup
/// puts them. A missing one fails the test.
pub fn servers() -> Vec<(&'static str, PathBuf)> {
    let new = std::env::var_os("PIER_NATS_SERVER_2_15")
        .map_or_else(|| PathBuf::from(NATS_2_15), PathBuf::from);
    let old = std::env::var_os("PIER_NATS_SERVER_2_9")
        .map_or_else(|| PathBuf::from(NATS_2_9), PathBuf::from);
    for path in [&new, &old] {
        assert!(
            path.is_file(),
            "nats-server missing at {}: .ci/setup installs it",
            path.display()
        );
    }
    vec![("2.15.1", new), ("2.9.10", old)]
}

/// `nats-server -t -c CONF`, the real server's judgement of a rendered file: what it said when it
/// refuses (pier's own runner, the one `validate` and `run` use).
pub fn server_accepts(server: &Path, conf: &Path) -> Result<(), String> {
    pier_config::server_binary::test_config(server, conf).map_err(|e| e.to_string())
}

/// nats-server 2.15.1, pier's bundled build.
pub const NATS_2_15: &str = "/usr/lib/pier/nats-server";
/// Debian 12's nats-server 2.9.10, the oldest version pier supports.
pub const NATS_2_9: &str = "/usr/sbin/nats-server";

/// The pier-broker binary cargo built for these tests.
pub fn pier_broker() -> &'static str {
    env!("CARGO_BIN_EXE_pier-broker")
}

/// Polls `condition` every 50ms until it holds or `timeout` passes; true when it held.
pub fn wait_until(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// One node's name and listener ports (all on 127.0.0.1).
#[derive(Debug, Clone)]
pub struct NodePorts {
    pub name: String,
    pub client: u16,
    pub monitor: u16,
    pub cluster: u16,
}

/// Ports of node `index` (0-based, at most 10 nodes) in the block starting at `base`:
/// clients at base+i, monitoring at base+10+i, routes at base+20+i.
pub fn node_ports(base: u16, index: u16) -> NodePorts {
    assert!(index < 10, "a port block holds 10 nodes");
    NodePorts {
        name: format!("n{}", index + 1),
        client: base + index,
        monitor: base + 10 + index,
        cluster: base + 20 + index,
    }
}

/// A pier.toml for `node`. `peers` lists every cluster member (this node included; empty for a
/// standalone node). `extra` is appended verbatim: put `[resources]`, `[limits]`... there.
pub fn node_toml(
    node: &NodePorts,
    peers: &[NodePorts],
    store_dir: &Path,
    nats_server: &str,
    extra: &str,
) -> String {
    let mut toml = format!(
        "[node]\nname = \"{}\"\nclient_listen = \"127.0.0.1:{}\"\nmonitor_listen = \"127.0.0.1:{}\"\n\
         cluster_listen = \"127.0.0.1:{}\"\nnats_server = \"{nats_server}\"\n\n",
        node.name, node.client, node.monitor, node.cluster
    );
    if !peers.is_empty() {
        toml.push_str("[cluster]\nname = \"pier-test\"\n\n");
        for peer in peers {
            toml.push_str(&format!(
                "[[cluster.peers]]\nname = \"{}\"\naddress = \"127.0.0.1:{}\"\n\n",
                peer.name, peer.cluster
            ));
        }
    }
    toml.push_str(&format!(
        "[jetstream]\nstore_dir = \"{}\"\n\n",
        store_dir.display()
    ));
    toml.push_str(extra);
    toml
}

/// A node's working directory: its pier.toml, JetStream store and runtime directory, removed
/// when dropped.
pub struct NodeDir {
    pub dir: TempDir,
    pub ports: NodePorts,
}

impl NodeDir {
    pub fn new(ports: NodePorts) -> Self {
        let dir = tempfile::Builder::new()
            .prefix(&format!("pier-test-{}-", ports.name))
            .tempdir()
            .expect("tempdir");
        fs::create_dir_all(dir.path().join("run")).expect("runtime dir");
        NodeDir { dir, ports }
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("pier.toml")
    }

    pub fn store_dir(&self) -> PathBuf {
        self.dir.path().join("jetstream")
    }

    /// Given to the supervisor as $RUNTIME_DIRECTORY, as systemd would.
    pub fn runtime_dir(&self) -> PathBuf {
        self.dir.path().join("run")
    }

    /// The rendered nats-server.conf the supervisor keeps in the runtime directory.
    pub fn runtime_conf(&self) -> PathBuf {
        self.runtime_dir().join("nats-server.conf")
    }

    /// Writes this node's pier.toml (see [`node_toml`]).
    pub fn write_config(&self, peers: &[NodePorts], nats_server: &str, extra: &str) -> PathBuf {
        let path = self.config_path();
        fs::write(
            &path,
            node_toml(&self.ports, peers, &self.store_dir(), nats_server, extra),
        )
        .expect("write pier.toml");
        path
    }
}

/// A bound notify socket standing in for systemd: point NOTIFY_SOCKET at [`NotifySocket::path`].
pub struct NotifySocket {
    socket: UnixDatagram,
    path: PathBuf,
    _dir: TempDir,
    /// Every datagram received so far, each split into its `KEY=value` lines.
    pub received: Vec<Vec<String>>,
}

impl NotifySocket {
    pub fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("pier-notify-")
            .tempdir()
            .expect("tempdir");
        let path = dir.path().join("notify.sock");
        let socket = UnixDatagram::bind(&path).expect("bind notify socket");
        NotifySocket {
            socket,
            path,
            _dir: dir,
            received: Vec::new(),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn recv(&mut self, until: Instant) -> Option<Vec<String>> {
        let left = until.checked_duration_since(Instant::now())?;
        self.socket
            .set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .ok()?;
        let mut buf = [0u8; 4096];
        match self.socket.recv(&mut buf) {
            Ok(n) => {
                let lines: Vec<String> = String::from_utf8_lossy(&buf[..n])
                    .lines()
                    .map(str::to_owned)
                    .collect();
                self.received.push(lines.clone());
                Some(lines)
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => None,
            Err(e) => panic!("notify socket: {e}"),
        }
    }

    /// The first datagram within `timeout` that has a line equal to `line` (e.g. "READY=1").
    pub fn wait_for(&mut self, line: &str, timeout: Duration) -> Option<Vec<String>> {
        let until = Instant::now() + timeout;
        while let Some(datagram) = self.recv(until) {
            if datagram.iter().any(|l| l == line) {
                return Some(datagram);
            }
        }
        None
    }

    /// Every datagram received during `period`.
    pub fn collect(&mut self, period: Duration) -> Vec<Vec<String>> {
        let until = Instant::now() + period;
        let mut out = Vec::new();
        while let Some(datagram) = self.recv(until) {
            out.push(datagram);
        }
        out
    }
}

impl Default for NotifySocket {
    fn default() -> Self {
        Self::new()
    }
}

/// The value of `KEY=` in a datagram.
pub fn field<'a>(datagram: &'a [String], key: &str) -> Option<&'a str> {
    datagram
        .iter()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
}

/// Counts datagrams holding `line`.
pub fn count_line(datagrams: &[Vec<String>], line: &str) -> usize {
    datagrams
        .iter()
        .filter(|d| d.iter().any(|l| l == line))
        .count()
}

/// `pier-broker run` as a real process; its stderr goes to a file (read it with [`Supervisor::log`]).
/// Dropping it kills the supervisor and its nats-server if still running.
pub struct Supervisor {
    child: Child,
    log: PathBuf,
    exited: Option<ExitStatus>,
}

impl Supervisor {
    /// Starts `pier-broker run --config CONFIG` with `$RUNTIME_DIRECTORY` in `node`'s directory;
    /// `configure` adds arguments and environment (NOTIFY_SOCKET, WATCHDOG_USEC...).
    pub fn start(node: &NodeDir, configure: impl FnOnce(&mut Command)) -> Self {
        let log = node.dir.path().join("supervisor.log");
        let mut command = Command::new(pier_broker());
        command
            .arg("run")
            .arg("--config")
            .arg(node.config_path())
            .env("RUNTIME_DIRECTORY", node.runtime_dir())
            .env_remove("NOTIFY_SOCKET")
            .env_remove("WATCHDOG_USEC")
            .env_remove("WATCHDOG_PID")
            .env_remove("JOURNAL_STREAM")
            .stdin(Stdio::null())
            .stdout(fs::File::create(&log).expect("log file"))
            .stderr(
                fs::OpenOptions::new()
                    .append(true)
                    .open(&log)
                    .expect("log file"),
            );
        configure(&mut command);
        let child = command.spawn().expect("start pier-broker run");
        Supervisor {
            child,
            log,
            exited: None,
        }
    }

    pub fn pid(&self) -> Pid {
        Pid::from_raw(self.child.id() as i32)
    }

    /// nats-server's pid: the supervisor's child process, once started.
    pub fn server_pid(&self, timeout: Duration) -> Option<Pid> {
        let mut found = None;
        wait_until(timeout, || {
            found = children_of(self.pid()).into_iter().next();
            found.is_some()
        });
        found
    }

    pub fn signal(&self, signal: Signal) {
        kill(self.pid(), signal).expect("signal supervisor");
    }

    /// Waits for the supervisor to exit; None if it still runs after `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        if let Some(status) = self.exited {
            return Some(status);
        }
        wait_until(timeout, || {
            if let Ok(Some(status)) = self.child.try_wait() {
                self.exited = Some(status);
            }
            self.exited.is_some()
        });
        self.exited
    }

    /// Everything the supervisor (and nats-server through it) logged so far.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        if self.exited.is_none() && matches!(self.child.try_wait(), Ok(None)) {
            for server in children_of(self.pid()) {
                let _ = kill(server, Signal::SIGKILL);
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Processes whose parent is `parent` (read from /proc/*/stat).
pub fn children_of(parent: Pid) -> Vec<Pid> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            // The command name may hold spaces and parentheses: fields start after the last ')'.
            stat.rsplit_once(") ")
                .and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse::<i32>().ok())
                == Some(parent.as_raw())
        })
        .map(Pid::from_raw)
        .collect()
}

/// Whether `pid` still exists and is not a zombie.
pub fn alive(pid: Pid) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            let state = stat.rsplit_once(") ")?.1.chars().next()?;
            Some(state != 'Z' && state != 'X')
        })
        .unwrap_or(false)
}

/// `KEY:` values of every thread of `pid` (e.g. "Cpus_allowed_list"), from /proc/PID/task/*/status.
pub fn thread_status_values(pid: Pid, key: &str) -> Vec<String> {
    let mut out = Vec::new();
    for task in fs::read_dir(format!("/proc/{pid}/task"))
        .expect("task dir")
        .flatten()
    {
        let status = fs::read_to_string(task.path().join("status")).unwrap_or_default();
        if let Some(value) = status_value(&status, key) {
            out.push(value);
        }
    }
    out
}

/// A `Key:\tvalue` line of a /proc status file.
pub fn status_value(status: &str, key: &str) -> Option<String> {
    status.lines().find_map(|line| {
        let (k, v) = line.split_once(':')?;
        (k == key).then(|| v.trim().to_owned())
    })
}

/// Runs `pier-broker ARGS...` to completion with a timeout; returns the status and stdout.
pub fn pier_broker_output(args: &[&str], timeout: Duration) -> (ExitStatus, String) {
    let mut command = Command::new(pier_broker());
    command.args(args).stderr(Stdio::inherit());
    let (status, stdout, _) = output_within(command, args, timeout);
    (status, stdout)
}

/// Runs `pier-broker ARGS...` with `PIER_LOG=log` to completion with a timeout; returns the
/// status, stdout and stderr (its log).
pub fn pier_broker_logged(
    args: &[&str],
    log: &str,
    timeout: Duration,
) -> (ExitStatus, String, String) {
    let mut command = Command::new(pier_broker());
    command
        .args(args)
        .env("PIER_LOG", log)
        .stderr(Stdio::piped());
    output_within(command, args, timeout)
}

/// Runs `command` (stdout piped, stderr as the caller set it) to completion; panics naming
/// `args` when it still runs after `timeout`.
fn output_within(
    mut command: Command,
    args: &[&str],
    timeout: Duration,
) -> (ExitStatus, String, String) {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start pier-broker");
    let reader = read_all(child.stdout.take());
    let errors = read_all(child.stderr.take());
    let mut status = None;
    wait_until(timeout, || {
        status = child.try_wait().ok().flatten();
        status.is_some()
    });
    let status = match status {
        Some(status) => status,
        None => {
            let _ = child.kill();
            panic!("pier-broker {args:?} still running after {timeout:?}");
        }
    };
    (
        status,
        reader.join().unwrap_or_default(),
        errors.join().unwrap_or_default(),
    )
}

/// Reads a child's pipe to its end on a thread of its own (both pipes at once: a child blocked
/// on a full stderr would never close stdout); empty when the pipe was not captured.
fn read_all<R: std::io::Read + Send + 'static>(pipe: Option<R>) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_string(&mut text);
        }
        text
    })
}

/// The seed's stream and pull consumer under `stream` on `subject`, as pier.toml tables.
pub fn seed(stream: &str, subject: &str) -> String {
    format!(
        r#"
[[streams]]
name = "{stream}"
subjects = ["{subject}"]
storage = "file"
replicas = 3

[[streams.consumers]]
name = "pull-worker"
type = "pull"
ack_policy = "explicit"
max_ack_pending = 50000
"#
    )
}
