//! Local nats-server clusters for integration tests, started from pier configurations.
//!
//! Each node gets a pier.toml (node, cluster, jetstream sections; loopback ports derived from a
//! per-test base), rendered with `pier_broker::render::render` exactly as `run` would, and the
//! real nats-server is started on it. Nodes are killed when the cluster is dropped; clusters
//! shared by a whole test binary ([`LocalCluster::shared`]) are killed by the kernel when the
//! test process exits (parent-death signal), since statics are never dropped.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use pier_broker::render::{render, Redacted};
use pier_config::{server_binary, ServerVersion, Source};

/// nats-server 2.15.1 as pier ships it.
pub const NATS_SERVER_2_15: &str = "/usr/lib/pier/nats-server";
/// Debian's nats-server 2.9.10.
pub const NATS_SERVER_2_9: &str = "/usr/sbin/nats-server";

/// First ports of a cluster; node `i` (0-based) listens on `base + i`. Give every test binary
/// (and every cluster within one) its own range: cargo runs test binaries' tests in parallel.
#[derive(Debug, Clone, Copy)]
pub struct Ports {
    pub client: u16,
    pub cluster: u16,
    pub monitor: u16,
}

/// One running nats-server of a [`LocalCluster`].
#[derive(Debug)]
pub struct LocalNode {
    pub name: String,
    pub client_port: u16,
    pub monitor_port: u16,
    /// The node's pier.toml without streams; [`LocalCluster::pier_toml`] appends to it.
    pub base_toml: String,
    pub log: PathBuf,
}

#[derive(Debug)]
pub struct LocalCluster {
    pub binary: PathBuf,
    pub version: ServerVersion,
    pub dir: PathBuf,
    pub nodes: Vec<LocalNode>,
    children: Mutex<Vec<Child>>,
    _tempdir: Option<tempfile::TempDir>,
}

static FILES: AtomicUsize = AtomicUsize::new(0);

impl LocalCluster {
    /// Starts `size` nodes of `binary` in a fresh temporary directory and waits until JetStream
    /// is ready (a meta leader elected, when clustered).
    pub fn start(binary: &str, ports: Ports, size: usize) -> LocalCluster {
        Self::start_with(binary, ports, size, "")
    }

    /// Like [`LocalCluster::start`], with `extra` pier.toml sections in every node's file (e.g.
    /// `[[client.users]]`). Secrets render as `REDACTED`, so a password file holding that word
    /// lets a client in.
    pub fn start_with(binary: &str, ports: Ports, size: usize, extra: &str) -> LocalCluster {
        let tempdir = tempfile::Builder::new()
            .prefix("pier-cluster-")
            .tempdir()
            .expect("temporary directory");
        let dir = tempdir.path().to_owned();
        let mut cluster = Self::spawn_with(binary, ports, size, dir, extra);
        cluster._tempdir = Some(tempdir);
        cluster.wait_until_ready(Duration::from_secs(30));
        cluster
    }

    /// Starts `size` nodes and returns as soon as every client port accepts connections, before
    /// JetStream has a meta leader: what a node's own provisioning meets at boot.
    pub fn start_cold(binary: &str, ports: Ports, size: usize) -> LocalCluster {
        let tempdir = tempfile::Builder::new()
            .prefix("pier-cluster-")
            .tempdir()
            .expect("temporary directory");
        let dir = tempdir.path().to_owned();
        let mut cluster = Self::spawn(binary, ports, size, dir);
        cluster._tempdir = Some(tempdir);
        cluster.wait_for_client_ports(Duration::from_secs(10));
        cluster
    }

    /// One cluster for a whole test binary, started on first use: tests share it (and its two
    /// cores' worth of CPU) and keep apart by using their own stream names.
    pub fn shared(
        cell: &'static OnceLock<LocalCluster>,
        binary: &'static str,
        ports: Ports,
        size: usize,
    ) -> &'static LocalCluster {
        cell.get_or_init(|| {
            // The servers are children of a thread that lives as long as the process, so that
            // their parent-death signal fires when the test binary exits, not when a test ends.
            let (tx, rx) = mpsc::channel();
            std::thread::spawn(move || {
                let dir =
                    std::env::temp_dir().join(format!("pier-shared-cluster-{}", ports.client));
                let _ = std::fs::remove_dir_all(&dir);
                std::fs::create_dir_all(&dir).expect("shared cluster directory");
                let cluster = Self::spawn(binary, ports, size, dir);
                cluster.wait_until_ready(Duration::from_secs(30));
                tx.send(cluster).expect("test thread waits for the cluster");
                loop {
                    std::thread::park();
                }
            });
            rx.recv().expect("the cluster starts")
        })
    }

    fn spawn(binary: &str, ports: Ports, size: usize, dir: PathBuf) -> LocalCluster {
        Self::spawn_with(binary, ports, size, dir, "")
    }

    fn spawn_with(
        binary: &str,
        ports: Ports,
        size: usize,
        dir: PathBuf,
        extra: &str,
    ) -> LocalCluster {
        let binary = PathBuf::from(binary);
        let version = server_binary::version(&binary).expect("nats-server reports its version");
        for i in 0..size as u16 {
            for port in [ports.client + i, ports.cluster + i, ports.monitor + i] {
                assert_port_free(port);
            }
        }
        let mut nodes = Vec::new();
        let mut children = Vec::new();
        for i in 0..size {
            let name = format!("node-{}", i + 1);
            let base_toml = format!("{}{extra}\n", node_toml(&binary, &dir, ports, size, i));
            let config = Source::from_text(dir.join(format!("{name}.toml")), base_toml.clone())
                .parse()
                .unwrap_or_else(|d| panic!("test pier.toml does not parse: {d}"));
            let conf = render(&config, version, &Redacted).expect("renders");
            let conf_path = dir.join(format!("{name}.conf"));
            std::fs::write(&conf_path, conf).expect("write nats-server config");
            let log = dir.join(format!("{name}.log"));
            let log_file = std::fs::File::create(&log).expect("log file");
            let mut command = Command::new(&binary);
            command
                .arg("-c")
                .arg(&conf_path)
                .stdin(Stdio::null())
                .stdout(log_file.try_clone().expect("log file"))
                .stderr(log_file);
            // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
            unsafe {
                command.pre_exec(|| {
                    nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
                        .map_err(std::io::Error::from)
                });
            }
            children.push(command.spawn().expect("start nats-server"));
            nodes.push(LocalNode {
                name,
                client_port: ports.client + i as u16,
                monitor_port: ports.monitor + i as u16,
                base_toml,
                log,
            });
        }
        LocalCluster {
            binary,
            version,
            dir,
            nodes,
            children: Mutex::new(children),
            _tempdir: None,
        }
    }

    fn wait_for_client_ports(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        for node in &self.nodes {
            while TcpStream::connect(("127.0.0.1", node.client_port)).is_err() {
                if Instant::now() > deadline {
                    panic!(
                        "{} does not accept clients after {timeout:?}; logs in {}",
                        node.name,
                        self.dir.display()
                    );
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    pub fn client_url(&self, node: usize) -> String {
        format!("nats://127.0.0.1:{}", self.nodes[node].client_port)
    }

    /// Writes node `node`'s pier.toml with `extra` (e.g. `[[streams]]` tables) appended, under a
    /// fresh name, and returns its path.
    pub fn pier_toml(&self, node: usize, extra: &str) -> PathBuf {
        let n = FILES.fetch_add(1, Ordering::Relaxed);
        let path = self
            .dir
            .join(format!("pier-{}-{n}.toml", self.nodes[node].name));
        let text = format!("{}\n{extra}", self.nodes[node].base_toml);
        std::fs::write(&path, text).expect("write pier.toml");
        path
    }

    /// Waits until every node's /jsz reports JetStream enabled and, for a cluster, the same meta
    /// leader.
    pub fn wait_until_ready(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let leaders: Vec<Option<String>> = self
                .nodes
                .iter()
                .map(|n| meta_leader(n.monitor_port, self.nodes.len() > 1))
                .collect();
            let first = leaders.first().cloned().flatten();
            if first.is_some() && leaders.iter().all(|l| *l == first) {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "no JetStream meta leader after {timeout:?} (saw {leaders:?}); logs in {}",
                    self.dir.display()
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The tail of every node's log, for failure messages.
    pub fn logs(&self) -> String {
        self.nodes
            .iter()
            .map(|n| {
                let text = std::fs::read_to_string(&n.log).unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(20).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                format!("--- {} ---\n{}", n.name, tail.join("\n"))
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        let children = match self.children.get_mut() {
            Ok(children) => children,
            Err(poisoned) => poisoned.into_inner(),
        };
        for child in children.iter_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The pier.toml sections of node `i`: loopback listeners, every node as a peer, a store dir
/// of its own.
fn node_toml(binary: &Path, dir: &Path, ports: Ports, size: usize, i: usize) -> String {
    let mut text = format!(
        "[node]\nname = \"node-{n}\"\nclient_listen = \"127.0.0.1:{client}\"\n\
         monitor_listen = \"127.0.0.1:{monitor}\"\ncluster_listen = \"127.0.0.1:{route}\"\n\
         nats_server = \"{binary}\"\n\n",
        n = i + 1,
        client = ports.client + i as u16,
        monitor = ports.monitor + i as u16,
        route = ports.cluster + i as u16,
        binary = binary.display(),
    );
    if size > 1 {
        text.push_str("[cluster]\nname = \"pier-test\"\n\n");
        for j in 0..size {
            text.push_str(&format!(
                "[[cluster.peers]]\nname = \"node-{}\"\naddress = \"127.0.0.1:{}\"\n\n",
                j + 1,
                ports.cluster + j as u16
            ));
        }
    }
    text.push_str(&format!(
        "[jetstream]\nstore_dir = \"{}\"\nmax_file_store = \"1GiB\"\nmax_memory_store = \"64MiB\"\n\n",
        dir.join(format!("node-{}", i + 1)).join("jetstream").display()
    ));
    text
}

fn assert_port_free(port: u16) {
    if let Err(e) = TcpListener::bind(("127.0.0.1", port)) {
        panic!("port {port} is in use ({e}); another test or process holds this test's range");
    }
}

/// The meta leader a node reports on /jsz; for a single node, its own name once JetStream runs.
fn meta_leader(monitor_port: u16, clustered: bool) -> Option<String> {
    let body = http_get(monitor_port, "/jsz")?;
    let jsz: serde_json::Value = serde_json::from_str(&body).ok()?;
    if jsz["disabled"].as_bool() == Some(true) {
        return None;
    }
    if !clustered {
        return jsz["server_id"].as_str().map(|_| "standalone".to_owned());
    }
    jsz["meta_cluster"]["leader"]
        .as_str()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
}

/// A plain HTTP/1.0 GET on loopback; the monitoring endpoint needs nothing more.
pub fn http_get(port: u16, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.")
        .then(|| head.contains(" 200 "))
        .filter(|ok| *ok)
        .map(|_| body.to_owned())
}
