//! `pier-bench demo` (also reached as `pier-broker demo`): the whole appliance in one command.
//! It starts nats-server nodes on loopback under pier's own supervisor (`pier-broker run`,
//! found next to pier-bench, else on PATH), lets them provision the seed's stream and
//! consumer, runs the seed's workload against one node and against a three-node cluster, and
//! prints the figures beside the seed write-up's. Everything it started is stopped and
//! everything it wrote is removed, unless asked to keep it.

mod layout;
mod node_process;
mod table;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use pier_broker::companion::{self, CompanionError, PIER_BROKER};

use crate::{run_blocking, Amount, BenchError, Mode, Options, Report};
use layout::DemoNode;
use node_process::{NodeError, NodeProcess};
pub use table::{DemoReport, Measured, Row};

/// Seconds of traffic at the seed's offered load, for latency.
const LOADED_SECONDS: u64 = 3;
/// How long provisioning and cluster formation may take.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Where configs, stores and logs go, kept afterwards; a fresh temporary directory when None.
    pub dir: Option<PathBuf>,
    /// Keep the temporary directory (configs, stores, logs) afterwards.
    pub keep: bool,
    /// nats-server binary for every node; pier's usual lookup when None.
    pub nats_server: Option<PathBuf>,
    pub push_messages: u64,
    pub pull_messages: u64,
    pub size: usize,
    /// Benchmark runs per workload and topology; the table shows medians.
    pub runs: usize,
    /// Progress lines on stderr.
    pub verbose: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("demo directory {}: {source}", path.display())]
    Dir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Node(#[from] NodeError),
    #[error("{0}")]
    NotSettled(String),
    #[error(transparent)]
    Options(BenchError),
    #[error("benchmark against {topology}: {source}")]
    Bench {
        topology: &'static str,
        #[source]
        source: BenchError,
    },
    #[error(transparent)]
    ServerBinary(#[from] pier_config::server_binary::ServerBinaryError),
    #[error(transparent)]
    PierBroker(#[from] CompanionError),
}

pub fn run(options: &DemoOptions) -> Result<DemoReport, DemoError> {
    // Bad sizes or counts are refused before anything starts.
    for (mode, messages, rate) in workloads(options) {
        bench_options(
            options,
            vec!["nats://127.0.0.1:4222".into()],
            mode,
            messages,
            rate,
        )
        .validate()
        .map_err(DemoError::Options)?;
    }
    let binary = pier_config::server_binary::locate(options.nats_server.as_deref())?;
    let version = pier_config::server_binary::version(&binary)?;
    let pier_broker = companion::locate(PIER_BROKER)?;
    let workdir = WorkDir::new(options.dir.as_deref(), options.keep)?;
    let say = |text: &str| {
        if options.verbose {
            eprintln!("demo: {text}");
        }
    };
    say(&format!(
        "nats-server {version} ({}), supervised by {}, files in {}",
        binary.display(),
        pier_broker.display(),
        workdir.path.display()
    ));
    let io = |source| DemoError::Dir {
        path: workdir.path.clone(),
        source,
    };
    let single = layout::write_single(&workdir.path, options.nats_server.as_deref()).map_err(io)?;

    say("starting one node under pier-broker run");
    let single_runs = {
        let mut node = NodeProcess::start(&pier_broker, &single, &workdir.path)?;
        node.wait_ready()?;
        wait_for_seed_stream(&[&node], 1)?;
        say("benchmarking the single node");
        let reports = bench_topology(
            options,
            std::slice::from_ref(&single),
            "the single node",
            &say,
        )?;
        if !node.stop() {
            say("the single node did not stop cleanly (see single.log)");
        }
        reports
    };

    say("starting three nodes under pier-broker run");
    let cluster =
        layout::write_cluster(&workdir.path, options.nats_server.as_deref()).map_err(io)?;
    let cluster_runs = {
        let mut nodes = Vec::new();
        for member in &cluster {
            let mut node = NodeProcess::start(&pier_broker, member, &workdir.path)?;
            node.wait_ready()?;
            nodes.push(node);
        }
        let refs: Vec<&NodeProcess> = nodes.iter().collect();
        wait_for_seed_stream(&refs, 3)?;
        say("benchmarking the three-node cluster");
        let reports = bench_topology(options, &cluster, "the cluster", &say)?;
        for node in nodes {
            let name = node.node.name.clone();
            if !node.stop() {
                say(&format!("{name} did not stop cleanly (see {name}.log)"));
            }
        }
        reports
    };

    let rows = vec![
        Row {
            workload: "push".into(),
            seed_single: table::SEED_PUSH.0,
            seed_cluster: table::SEED_PUSH.1,
            pier_single: Measured::from_reports(&single_runs.peak, &single_runs.loaded, "push"),
            pier_cluster: Measured::from_reports(&cluster_runs.peak, &cluster_runs.loaded, "push"),
        },
        Row {
            workload: "pull".into(),
            seed_single: table::SEED_PULL.0,
            seed_cluster: table::SEED_PULL.1,
            pier_single: Measured::from_reports(&single_runs.peak, &single_runs.loaded, "pull"),
            pier_cluster: Measured::from_reports(&cluster_runs.peak, &cluster_runs.loaded, "pull"),
        },
    ];
    if options.keep {
        say(&format!("kept {}", workdir.path.display()));
    }
    Ok(DemoReport {
        nats_server_version: version.to_string(),
        message_size: options.size,
        cpus: std::thread::available_parallelism().map_or(1, usize::from),
        rows,
        single_reports: single_runs
            .peak
            .into_iter()
            .chain(single_runs.loaded)
            .collect(),
        cluster_reports: cluster_runs
            .peak
            .into_iter()
            .chain(cluster_runs.loaded)
            .collect(),
    })
}

/// Benchmark runs of one topology: peak push and pull runs, then mixed runs at the seed's load.
struct TopologyRuns {
    peak: Vec<Report>,
    loaded: Vec<Report>,
}

/// Push then pull as fast as they go, then both at the seed's offered load, `runs` times each,
/// against `nodes` (connections spread over them).
fn bench_topology(
    options: &DemoOptions,
    nodes: &[DemoNode],
    topology: &'static str,
    say: &dyn Fn(&str),
) -> Result<TopologyRuns, DemoError> {
    let servers: Vec<String> = nodes.iter().map(DemoNode::client_url).collect();
    let mut runs = TopologyRuns {
        peak: Vec::new(),
        loaded: Vec::new(),
    };
    for run in 1..=options.runs {
        for (mode, messages, rate) in workloads(options) {
            let bench_options = bench_options(options, servers.clone(), mode, messages, rate);
            let report = run_blocking(&bench_options)
                .map_err(|source| DemoError::Bench { topology, source })?;
            for w in &report.workloads {
                say(&format!(
                    "{topology}, {} {} run {run}: {:.0} msg/s, p50 {:.2} ms, p99 {:.2} ms{}",
                    w.kind,
                    if rate.is_some() {
                        "at the seed's load"
                    } else {
                        "peak"
                    },
                    w.consumed.msgs_per_sec,
                    w.latency_us.p50 / 1000.0,
                    w.latency_us.p99 / 1000.0,
                    if w.complete() { "" } else { ", INCOMPLETE" }
                ));
            }
            if rate.is_some() {
                runs.loaded.push(report);
            } else {
                runs.peak.push(report);
            }
        }
    }
    Ok(runs)
}

/// Push and pull as fast as they go, then both at once at the seed's offered load:
/// (mode, messages, rate).
fn workloads(options: &DemoOptions) -> [(Mode, u64, Option<u64>); 3] {
    [
        (Mode::Push, options.push_messages, None),
        (Mode::Pull, options.pull_messages, None),
        (
            Mode::Mixed,
            table::SEED_RATE * LOADED_SECONDS,
            Some(table::SEED_RATE),
        ),
    ]
}

fn bench_options(
    options: &DemoOptions,
    servers: Vec<String>,
    mode: Mode,
    messages: u64,
    rate: Option<u64>,
) -> Options {
    Options {
        servers,
        mode,
        amount: Amount::Messages(messages),
        rate,
        size: options.size,
        ..Options::default()
    }
}

/// Waits until every node's supervisor has provisioned `LOGS` with its `pull-worker` consumer.
fn wait_for_seed_stream(nodes: &[&NodeProcess], replicas: usize) -> Result<(), DemoError> {
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    let mut last = String::new();
    while Instant::now() < deadline {
        let ready = nodes.iter().all(|node| match node.monitor().jsz(true) {
            Ok(jsz) => jsz
                .account_details
                .iter()
                .flat_map(|a| &a.stream_detail)
                .any(|s| {
                    let copies = s.cluster.as_ref().map_or(1, |c| c.size(&node.node.name));
                    s.name == "LOGS"
                        && copies == replicas
                        && s.consumer_detail.iter().any(|c| c.name == "pull-worker")
                }),
            Err(e) => {
                last = e.to_string();
                false
            }
        });
        if ready {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Err(DemoError::NotSettled(format!(
        "stream LOGS ({replicas} replicas) and consumer pull-worker not provisioned within {}s {last}",
        SETTLE_TIMEOUT.as_secs()
    )))
}

/// The demo's directory: a temporary one is removed on drop unless kept; one the user named is
/// theirs and stays.
struct WorkDir {
    path: PathBuf,
    remove: bool,
}

impl WorkDir {
    fn new(dir: Option<&Path>, keep: bool) -> Result<Self, DemoError> {
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| DemoError::Dir { path, source }
        };
        match dir {
            Some(dir) => {
                std::fs::create_dir_all(dir).map_err(io(dir))?;
                Ok(WorkDir {
                    path: dir.to_owned(),
                    remove: false,
                })
            }
            None => {
                let temp = tempfile::Builder::new()
                    .prefix("pier-demo-")
                    .tempdir()
                    .map_err(io(&std::env::temp_dir()))?;
                Ok(WorkDir {
                    path: temp.keep(),
                    remove: !keep,
                })
            }
        }
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if self.remove {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}
