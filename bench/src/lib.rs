//! pier-bench: pier's load generator and its demo, in their own crate so that the service
//! binary systemd runs (pier-broker) does not link them.
//!
//! The crate root is the load generator (`pier-bench bench`, also reached as
//! `pier-broker bench`): it drives a running nats-server (or cluster) with core-NATS
//! queue-group traffic (push), JetStream pull-consumer traffic (pull), or both at once (mixed),
//! and reports throughput, end-to-end latency percentiles and a proof that every message
//! arrived. [`demo`] runs it against nodes supervised by `pier-broker run`.
//!
//! Every client runs in this process, so one `Instant` (the run's [`Clock`]) stamps sends and
//! receipts. Each client gets its own connection; each role is spread round-robin over the
//! server URLs (see `clients`).

pub mod cli;
pub mod demo;

mod acks;
mod clients;
mod cpu;
mod gap;
mod payload;
mod progress;
mod pull;
mod push;
mod report;
mod schedule;
mod stats;
mod wait;

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

pub use acks::AckVerdict;
pub use clients::Auth;
pub use cpu::ClientCpu;
pub use gap::Gap;
pub use payload::{Stamp, STAMP_LEN};
pub use report::{write_text, PullReport, Report, ReportOptions, WorkloadReport, SCHEMA_VERSION};
pub use stats::{Check, ErrorLog, Latency, Throughput};

/// Which traffic to drive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Core NATS: publishers on a subject, subscribers in one queue group.
    Push,
    /// JetStream: async publishers into a stream, workers fetching from a durable pull consumer.
    Pull,
    /// Push and pull at the same time, each with its own publishers and subscribers.
    Mixed,
}

impl Mode {
    pub fn runs_push(self) -> bool {
        matches!(self, Mode::Push | Mode::Mixed)
    }
    pub fn runs_pull(self) -> bool {
        matches!(self, Mode::Pull | Mode::Mixed)
    }
}

/// How pull workers ask for messages; both request batches of `batch` messages that wait at
/// most `fetch_wait` on the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PullStyle {
    /// One request at a time (`consumer.batch()`): fetch, process, fetch again.
    Fetch,
    /// Pipelined requests on one subscription (`consumer.stream()`): the next batch is asked
    /// for before the current one is done.
    Consume,
}

/// How long each workload publishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Amount {
    /// This many messages per workload, shared out among its publishers.
    Messages(u64),
    /// Publish for this long.
    Duration(Duration),
}

/// Everything a run needs; [`Options::default`] mirrors the CLI defaults.
#[derive(Debug, Clone)]
pub struct Options {
    /// Client URLs, e.g. `nats://127.0.0.1:4222`; connections are assigned round-robin.
    pub servers: Vec<String>,
    pub auth: clients::Auth,
    pub mode: Mode,
    pub amount: Amount,
    /// Offered load in messages per second per workload (shared out among its publishers);
    /// None publishes as fast as the client allows.
    pub rate: Option<u64>,
    /// Payload bytes per message, at least [`STAMP_LEN`].
    pub size: usize,
    /// Publishers per workload.
    pub publishers: usize,
    /// Queue subscribers (push) and pull workers (pull) per workload.
    pub subscribers: usize,
    /// Messages asked for by each pull request.
    pub batch: usize,
    /// How long a pull request may wait on the server for its batch to fill.
    pub fetch_wait: Duration,
    pub pull_style: PullStyle,
    /// Subject of push traffic.
    pub push_subject: String,
    pub queue_group: String,
    /// Stream used by pull traffic; created (and deleted afterwards) when missing.
    pub stream: String,
    /// Subjects of the stream when bench creates it.
    pub stream_subjects: Vec<String>,
    /// Subject pull traffic is published on; must be covered by the stream's subjects.
    pub pull_subject: String,
    /// Durable pull consumer; created (and deleted afterwards) when missing.
    pub consumer: String,
    /// Replicas of a stream bench creates; None: 3 when the cluster has three or more nodes,
    /// else 1.
    pub replicas: Option<usize>,
    /// Outstanding JetStream publish acks allowed per publisher.
    pub ack_window: usize,
    /// Once publishing is over, how long to wait for a missing message before giving up
    /// (unless `drain_timeout` applies).
    pub idle_timeout: Duration,
    /// Re-send a pull publish whose ack failed or timed out, under the same `Nats-Msg-Id`,
    /// until this long after its first attempt; None: never (no message id is sent).
    pub retry_publish: Option<Duration>,
    /// Once publishing is over, wait until every acknowledged pull message is consumed, at
    /// most this long; None: [`DEFAULT_DRAIN_TIMEOUT`] with `retry_publish`, else the idle
    /// timeout applies.
    pub drain_timeout: Option<Duration>,
    /// Print a progress line on stderr every second.
    pub progress: bool,
    /// Threads of the runtime [`run_blocking`] builds for the clients.
    pub threads: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            servers: vec!["nats://127.0.0.1:4222".to_owned()],
            auth: clients::Auth::default(),
            mode: Mode::Push,
            amount: Amount::Messages(1_000_000),
            rate: None,
            size: 128,
            publishers: 1,
            subscribers: 4,
            batch: 128,
            fetch_wait: Duration::from_millis(500),
            pull_style: PullStyle::Fetch,
            push_subject: "jobs.process".to_owned(),
            queue_group: "worker-group".to_owned(),
            stream: "LOGS".to_owned(),
            stream_subjects: vec!["logs.>".to_owned()],
            pull_subject: "logs.bench".to_owned(),
            consumer: "pull-worker".to_owned(),
            replicas: None,
            ack_window: 4096,
            idle_timeout: Duration::from_secs(5),
            retry_publish: None,
            drain_timeout: None,
            progress: false,
            threads: DEFAULT_THREADS,
        }
    }
}

impl Options {
    /// Rejects options that cannot make a meaningful run.
    pub fn validate(&self) -> Result<(), BenchError> {
        let bad = |what: &str| Err(BenchError::Options(what.to_owned()));
        if self.servers.is_empty() {
            return bad("--servers needs at least one URL");
        }
        if self.size < STAMP_LEN {
            return Err(BenchError::Options(format!(
                "--size must be at least {STAMP_LEN} bytes (the send-time and sequence stamp)"
            )));
        }
        if self.publishers == 0 || self.publishers > stats::MAX_PUBLISHERS {
            return Err(BenchError::Options(format!(
                "--publishers must be between 1 and {}",
                stats::MAX_PUBLISHERS
            )));
        }
        if self.subscribers == 0 {
            return bad("--subscribers must be at least 1");
        }
        if self.batch == 0 {
            return bad("--batch must be at least 1");
        }
        if self.threads == 0 {
            return bad("--threads must be at least 1");
        }
        if self.ack_window == 0 {
            return bad("the ack window must be at least 1");
        }
        // Only pull traffic is accounted: on a push-only run these would make a fault run's
        // verdict (nothing acknowledged lost) hold whatever happened.
        if !self.mode.runs_pull() && (self.retry_publish.is_some() || self.drain_timeout.is_some())
        {
            return bad(
                "--retry-publish and --drain-timeout apply to pull traffic (--mode pull or mixed)",
            );
        }
        if self.retry_publish.is_some_and(|d| d.is_zero()) {
            return bad("--retry-publish must be above zero");
        }
        if self.drain_timeout.is_some_and(|d| d.is_zero()) {
            return bad("--drain-timeout must be above zero");
        }
        if self.rate == Some(0) {
            return bad("--rate must be at least 1 message per second");
        }
        match self.amount {
            Amount::Messages(0) => bad("--msgs must be at least 1"),
            Amount::Duration(d) if d.is_zero() => bad("--duration must be above zero"),
            _ => Ok(()),
        }
    }

    /// How long the pull workload drains once publishing is over; None: until nothing has
    /// arrived for `idle_timeout`.
    fn drain_timeout(&self) -> Option<Duration> {
        self.drain_timeout
            .or(self.retry_publish.map(|_| DEFAULT_DRAIN_TIMEOUT))
    }

    /// Messages publisher `index` of `publishers` sends in a fixed-count run.
    fn share(&self, index: usize) -> Option<u64> {
        match self.amount {
            Amount::Messages(total) => {
                let n = self.publishers as u64;
                let index = index as u64;
                Some(total / n + u64::from(index < total % n))
            }
            Amount::Duration(_) => None,
        }
    }
}

/// Why a run could not be carried out (as opposed to a run that found missing messages,
/// which is a [`Report`] whose checks say so).
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("invalid options: {0}")]
    Options(String),
    #[error("cannot connect to {url}: {source}")]
    Connect {
        url: String,
        #[source]
        source: async_nats::ConnectError,
    },
    #[error("{what}: {source}")]
    Nats {
        what: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("{0}")]
    Refused(String),
    #[error("latency histogram: {0}")]
    Histogram(#[from] hdrhistogram::CreationError),
    #[error("a benchmark task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

impl BenchError {
    fn nats(
        what: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        BenchError::Nats {
            what: what.into(),
            source: Box::new(source),
        }
    }
}

/// The time base shared by every client of a run.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    start: Instant,
}

impl Clock {
    pub fn start() -> Self {
        Clock {
            start: Instant::now(),
        }
    }
    /// Nanoseconds since the run started.
    pub fn now_ns(&self) -> u64 {
        self.start.elapsed().as_nanos() as u64
    }
    pub fn instant_at(&self, ns: u64) -> Instant {
        self.start + Duration::from_nanos(ns)
    }
}

/// Runs the benchmark described by `options` on the current tokio runtime, of one thread or
/// more (see [`DEFAULT_THREADS`]).
pub async fn run(options: &Options) -> Result<Report, BenchError> {
    options.validate()?;
    let cpu_start = cpu::CpuTime::now();
    let clock = Clock::start();
    let fault_timeouts = options.retry_publish.map(|_| clients::FAULT_TIMEOUTS);
    let pool = clients::Pool::new(
        options.servers.clone(),
        options.auth.clone(),
        fault_timeouts,
    );
    let cluster_size = pool.cluster_size().await?;
    let pull_target = if options.mode.runs_pull() {
        Some(pull::set_up(options, &pool, cluster_size).await?)
    } else {
        None
    };
    let progress = progress::Progress::default();
    let ticker = options
        .progress
        .then(|| progress::spawn_ticker(progress.clone(), clock));
    let push = options.mode.runs_push().then(|| {
        let options = options.clone();
        let pool = pool.clone();
        let progress = progress.push.clone();
        tokio::spawn(async move { push::run(&options, &pool, clock, &progress).await })
    });
    let pull = pull_target.map(|target| {
        let options = options.clone();
        let pool = pool.clone();
        let progress = progress.pull.clone();
        tokio::spawn(async move { pull::run(&options, &pool, clock, target, &progress).await })
    });
    let mut workloads = Vec::new();
    let mut failure = None;
    // Every task is awaited before any error returns: the pull task removes what it created.
    for handle in [push, pull].into_iter().flatten() {
        match handle.await {
            Ok(Ok(workload)) => workloads.push(workload),
            Ok(Err(e)) => failure = failure.or(Some(e)),
            Err(e) => failure = failure.or(Some(BenchError::Task(e))),
        }
    }
    if let Some(ticker) = ticker {
        ticker.abort();
        progress::clear_line();
    }
    if let Some(e) = failure {
        return Err(e);
    }
    let consumed = workloads.iter().map(|w| w.consumed.messages).sum();
    let client_cpu = cpu_start
        .zip(cpu::CpuTime::now())
        .map(|(start, end)| end.since(&start, consumed));
    Ok(Report::new(
        options,
        cluster_size,
        workloads,
        pool.take_events(),
        client_cpu,
    ))
}

/// Client threads by default. On one thread, every client and its connection's task wake
/// each other without crossing cores, and no reference count bounces between caches: measured
/// beside two threads on a three-node cluster, push took 0.77 instead of 0.84 µs of client
/// CPU per message and pull 4.2 instead of 4.7, at the same throughput (docs/benchmarks.md).
pub const DEFAULT_THREADS: usize = 1;

/// How long the pull workload drains by default under `retry_publish`: a node that died
/// during the run has rejoined and caught up well within it on the lab's hosts.
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(60);

/// [`run`] on a fresh runtime of `options.threads` threads, for callers without one.
pub fn run_blocking(options: &Options) -> Result<Report, BenchError> {
    let mut builder = if options.threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder.worker_threads(options.threads);
        builder
    };
    let runtime = builder
        .enable_all()
        .build()
        .map_err(|e| BenchError::nats("cannot start the async runtime", e))?;
    runtime.block_on(run(options))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_add_up_to_the_total() {
        let options = Options {
            amount: Amount::Messages(10),
            publishers: 3,
            ..Options::default()
        };
        let shares: Vec<u64> = (0..3).filter_map(|i| options.share(i)).collect();
        assert_eq!(shares, vec![4, 3, 3]);
    }

    #[test]
    fn validation_names_the_option() {
        let refusal = |options: Options| options.validate().unwrap_err().to_string();
        assert!(refusal(Options {
            size: 8,
            ..Options::default()
        })
        .contains("--size"));
        assert!(refusal(Options {
            servers: vec![],
            ..Options::default()
        })
        .contains("--servers"));
        // Publisher 1024 and above would stamp messages the accounting cannot track.
        assert!(refusal(Options {
            publishers: stats::MAX_PUBLISHERS + 1,
            ..Options::default()
        })
        .contains("between 1 and 1024"));
        // A push-only run has nothing acknowledged to account for.
        assert!(refusal(Options {
            retry_publish: Some(Duration::from_secs(30)),
            ..Options::default()
        })
        .contains("apply to pull traffic"));
        assert!(refusal(Options {
            threads: 0,
            ..Options::default()
        })
        .contains("--threads"));
        assert!(Options::default().validate().is_ok());
    }
}
