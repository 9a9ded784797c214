//! A real nats-server 2.15 cluster on loopback for the benchmark tests.
//!
//! Ports are reserved for `tests/bench.rs` only: client 15322.., cluster 17322..,
//! monitor 19322.. (one per node, at most three nodes). Tests in that file take [`serial`]
//! before starting a cluster, so two clusters never hold these ports at once. Stores live in a
//! tempdir; dropping the cluster kills the servers and removes it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use pier_monitor::Monitor;

const CLIENT_BASE: u16 = 15322;
const CLUSTER_BASE: u16 = 17322;
const MONITOR_BASE: u16 = 19322;
const READY_TIMEOUT: Duration = Duration::from_secs(30);

static PORTS: Mutex<()> = Mutex::new(());

/// Holds the reserved ports for the lifetime of one test (a panicking test does not poison
/// the next one).
pub fn serial() -> MutexGuard<'static, ()> {
    PORTS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The nats-server under test: `PIER_NATS_SERVER_2_15`, else /usr/lib/pier/nats-server.
pub fn nats_server() -> PathBuf {
    let path = std::env::var_os("PIER_NATS_SERVER_2_15")
        .map_or_else(|| PathBuf::from("/usr/lib/pier/nats-server"), PathBuf::from);
    assert!(
        path.is_file(),
        "nats-server 2.15 not found at {}: .ci/run installs it",
        path.display()
    );
    path
}

pub struct BenchCluster {
    servers: Vec<Child>,
    nodes: u16,
    /// Whether the servers tell clients their peers' URLs (`connect_urls`).
    advertise: bool,
    _dir: tempfile::TempDir,
}

impl BenchCluster {
    /// Starts `nodes` (1..=3) JetStream servers, clustered when more than one, and waits
    /// until every node is healthy and knows every other node's client URL, and the
    /// JetStream meta leader sees every peer current (else R3 placement fails with "no
    /// suitable peers").
    pub fn start(nodes: u16) -> BenchCluster {
        Self::start_with(nodes, true)
    }

    /// As [`BenchCluster::start`], but the servers send clients no `connect_urls`
    /// (`cluster { no_advertise: true }`), as the lab's pier cluster does not: a client knows
    /// only the URLs it was given.
    pub fn start_unadvertised(nodes: u16) -> BenchCluster {
        Self::start_with(nodes, false)
    }

    fn start_with(nodes: u16, advertise: bool) -> BenchCluster {
        assert!((1..=3).contains(&nodes));
        let dir = tempfile::tempdir().expect("tempdir");
        let routes: Vec<String> = (0..nodes)
            .map(|i| format!("nats-route://127.0.0.1:{}", CLUSTER_BASE + i))
            .collect();
        let mut servers = Vec::new();
        for i in 0..nodes {
            let node = dir.path().join(format!("node-{i}"));
            std::fs::create_dir_all(node.join("store")).expect("store dir");
            let mut conf = format!(
                "server_name: bench-test-{i}\nlisten: 127.0.0.1:{}\nhttp: 127.0.0.1:{}\n\
                 jetstream {{ store_dir: \"{}\", max_file_store: 1GB, max_memory_store: 64MB }}\n",
                CLIENT_BASE + i,
                MONITOR_BASE + i,
                node.join("store").display()
            );
            if nodes > 1 {
                conf.push_str(&format!(
                    "cluster {{ name: pier-bench-test, listen: 127.0.0.1:{}, routes: [{}], \
                     no_advertise: {} }}\n",
                    CLUSTER_BASE + i,
                    routes.join(", "),
                    !advertise
                ));
            }
            std::fs::write(node.join("nats.conf"), conf).expect("write nats.conf");
            servers.push(spawn_node(&node));
        }
        let cluster = BenchCluster {
            servers,
            nodes,
            advertise,
            _dir: dir,
        };
        cluster.wait_ready();
        cluster
    }

    /// Client URLs, one per node.
    pub fn urls(&self) -> Vec<String> {
        (0..self.nodes)
            .map(|i| format!("nats://127.0.0.1:{}", CLIENT_BASE + i))
            .collect()
    }

    /// A monitoring endpoint's JSON from node `i`, e.g. `/jsz?streams=true`.
    pub fn monitor(&self, i: u16, path: &str) -> serde_json::Value {
        monitor(i).json(path).expect("monitor endpoint answers")
    }

    /// Kills node `i` with SIGKILL: no lame duck, no flush, the store as the crash left it.
    pub fn kill(&mut self, i: u16) {
        let server = &mut self.servers[usize::from(i)];
        server.kill().expect("kill -9 nats-server");
        server.wait().expect("reap nats-server");
    }

    /// Sends `signal` to node `i` (SIGSTOP freezes it the way a stalled host would).
    pub fn signal(&self, i: u16, signal: nix::sys::signal::Signal) {
        let pid = nix::unistd::Pid::from_raw(self.servers[usize::from(i)].id() as i32);
        nix::sys::signal::kill(pid, signal).expect("signal nats-server");
    }

    /// Starts node `i` again on its config and store, and waits until it is healthy and the
    /// cluster has a meta leader that sees every peer current.
    pub fn restart(&mut self, i: u16) {
        let node = self._dir.path().join(format!("node-{i}"));
        self.servers[usize::from(i)] = spawn_node(&node);
        self.wait_ready();
    }

    /// The node that leads stream `name`'s replicas, as node 0 sees it; None while it has
    /// no leader or node 0 does not answer.
    pub fn stream_leader(&self, name: &str) -> Option<u16> {
        let jsz = monitor(0).json("/jsz?streams=true").ok()?;
        let leader = jsz["account_details"]
            .as_array()?
            .iter()
            .flat_map(|account| {
                account["stream_detail"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            })
            .find(|stream| stream["name"] == name)?["cluster"]["leader"]
            .as_str()?
            .strip_prefix("bench-test-")?
            .parse()
            .ok()?;
        Some(leader)
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + READY_TIMEOUT;
        for i in 0..self.nodes {
            wait_until(deadline, &format!("nats-server node {i} ready"), || {
                self.node_ready(i)
            });
        }
        if self.nodes > 1 {
            wait_until(deadline, "JetStream meta leader sees every peer", || {
                (0..self.nodes).any(|i| self.leads_all_peers(i))
            });
        }
    }

    /// Node `i` is the meta leader and every other node is a current replica.
    fn leads_all_peers(&self, i: u16) -> bool {
        let Ok(jsz) = monitor(i).json("/jsz") else {
            return false;
        };
        let meta = &jsz["meta_cluster"];
        let current = meta["replicas"]
            .as_array()
            .map(|peers| peers.iter().filter(|p| p["current"] == true).count())
            .unwrap_or(0);
        meta["leader"] == format!("bench-test-{i}").as_str()
            && current == usize::from(self.nodes - 1)
    }

    fn node_ready(&self, i: u16) -> bool {
        let monitor = monitor(i);
        let healthy = monitor.full_health().is_ok_and(|health| health.is_ok());
        let peers = monitor
            .json("/varz")
            .ok()
            .and_then(|varz| varz["connect_urls"].as_array().map(Vec::len))
            .unwrap_or(0);
        // Unadvertised, the meta leader seeing every peer current shows the routes are up.
        healthy && (self.nodes == 1 || !self.advertise || peers == usize::from(self.nodes))
    }
}

impl Drop for BenchCluster {
    fn drop(&mut self) {
        for server in &mut self.servers {
            let _ = server.kill();
            let _ = server.wait();
        }
    }
}

fn spawn_node(node: &Path) -> Child {
    Command::new(nats_server())
        .arg("-c")
        .arg(node.join("nats.conf"))
        .arg("-l")
        .arg(node.join("nats.log"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start nats-server")
}

fn wait_until(deadline: Instant, what: &str, ready: impl FnMut() -> bool) {
    assert!(
        poll_until(deadline, ready),
        "{what}: not within {READY_TIMEOUT:?}"
    );
}

/// Asks `ready` every 20 ms until it holds (true) or `deadline` passes (false): short enough
/// that a test acting on a condition (a fault once bench publishes) acts soon after it holds.
pub fn poll_until(deadline: Instant, mut ready: impl FnMut() -> bool) -> bool {
    while !ready() {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

/// The monitoring client of node `i`.
fn monitor(i: u16) -> Monitor {
    Monitor::new(
        SocketAddr::from(([127, 0, 0, 1], MONITOR_BASE + i)),
        Duration::from_secs(5),
    )
}
