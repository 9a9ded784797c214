//! `pier-bench bench` (also reached as `pier-broker bench`): load a running cluster and report
//! throughput, latency and delivery.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use pier_cli::{exit, Format};
use pier_config::secret::{read_secret, SecretError};
use pier_config::units::Span;

use crate::{Amount, Auth, Mode, Options, PullStyle};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModeArg {
    /// Core NATS: publishers on jobs.process, subscribers in queue group worker-group.
    Push,
    /// JetStream: async publishers on logs.bench, workers on a durable pull consumer.
    Pull,
    /// Push and pull at the same time.
    Mixed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PullStyleArg {
    /// One pull request at a time: fetch a batch, process it, fetch again.
    Fetch,
    /// Pipelined pull requests: the next batch is requested while the current one arrives.
    Consume,
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Client URLs of the servers; each role's connections are spread round-robin over them.
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "URL[,URL...]",
        default_value = "nats://127.0.0.1:4222"
    )]
    pub servers: Vec<String>,
    /// Log in as this user (with --password-file).
    #[arg(long, value_name = "NAME", requires = "password_file")]
    pub user: Option<String>,
    /// The user's password, alone in a file (a trailing line break is ignored).
    #[arg(long, value_name = "FILE", requires = "user")]
    pub password_file: Option<PathBuf>,
    /// Require TLS and trust this CA certificate (PEM), e.g. the cluster's ca.pem.
    #[arg(long, value_name = "FILE")]
    pub tls_ca: Option<PathBuf>,
    /// Which traffic to drive.
    #[arg(long, value_enum, default_value = "push")]
    pub mode: ModeArg,
    /// Messages per workload, shared out among its publishers (default 1000000).
    #[arg(long, value_name = "N", conflicts_with = "duration")]
    pub msgs: Option<u64>,
    /// Publish for this long instead of a fixed count (e.g. 30s, 2m).
    #[arg(long, value_name = "D")]
    pub duration: Option<Span>,
    /// Offered load in msg/s per workload (latency under load); unset: as fast as possible.
    #[arg(long, value_name = "R")]
    pub rate: Option<u64>,
    /// Payload size in bytes (at least 16: send time and sequence stamp).
    #[arg(long, value_name = "BYTES", default_value_t = 128)]
    pub size: usize,
    /// Publishers per workload.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub publishers: usize,
    /// Queue subscribers (push) and pull workers (pull) per workload.
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub subscribers: usize,
    /// Messages per pull request (each waits at most 500 ms).
    #[arg(long, value_name = "N", default_value_t = 128)]
    pub batch: usize,
    /// How pull workers request batches: one fetch at a time, or pipelined (consume).
    #[arg(long, value_enum, default_value = "fetch")]
    pub pull_style: PullStyleArg,
    /// Subject of push traffic (keep bench off a live queue group with e.g. `bench.jobs`).
    #[arg(long, value_name = "SUBJECT", default_value = "jobs.process")]
    pub subject: String,
    /// Queue group of the push subscribers.
    #[arg(long, value_name = "NAME", default_value = "worker-group")]
    pub queue_group: String,
    /// Stream for pull traffic; created with subjects logs.> (file storage) and deleted
    /// afterwards when missing.
    #[arg(long, value_name = "NAME", default_value = "LOGS")]
    pub stream: String,
    /// Durable pull consumer; created and deleted afterwards when missing.
    #[arg(long, value_name = "NAME", default_value = "pull-worker")]
    pub consumer: String,
    /// Replicas of a stream bench creates (default: 3 on a cluster of three or more, else 1).
    #[arg(long, value_name = "N")]
    pub replicas: Option<usize>,
    /// Outstanding JetStream publish acks per publisher.
    #[arg(long, value_name = "N", default_value_t = 4096)]
    pub ack_window: usize,
    /// Pull: send each publish with a Nats-Msg-Id and re-send it under that id while its ack
    /// fails or times out, until this long after its first attempt (e.g. 30s); off by default.
    #[arg(long, value_name = "D")]
    pub retry_publish: Option<Span>,
    /// Pull: after publishing, wait at most this long for every acknowledged message to be
    /// consumed (default 60s with --retry-publish, else until nothing arrives for 5s).
    #[arg(long, value_name = "D")]
    pub drain_timeout: Option<Span>,
    /// Threads the clients run on (1: every client on one thread).
    #[arg(long, value_name = "N", default_value_t = crate::DEFAULT_THREADS)]
    pub threads: usize,
    /// Output format (JSON keys are documented in docs/benchmarks.md).
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

impl BenchArgs {
    pub fn options(&self) -> Result<Options, SecretError> {
        let defaults = Options::default();
        let amount = match (self.msgs, self.duration) {
            (_, Some(span)) => Amount::Duration(span.get()),
            (Some(n), None) => Amount::Messages(n),
            (None, None) => defaults.amount,
        };
        let user = match (&self.user, &self.password_file) {
            (Some(user), Some(file)) => Some((user.clone(), read_secret(file)?)),
            _ => None,
        };
        Ok(Options {
            servers: self.servers.clone(),
            auth: Auth {
                user,
                tls_ca: self.tls_ca.clone(),
            },
            mode: match self.mode {
                ModeArg::Push => Mode::Push,
                ModeArg::Pull => Mode::Pull,
                ModeArg::Mixed => Mode::Mixed,
            },
            amount,
            rate: self.rate,
            size: self.size,
            publishers: self.publishers,
            subscribers: self.subscribers,
            batch: self.batch,
            pull_style: match self.pull_style {
                PullStyleArg::Fetch => PullStyle::Fetch,
                PullStyleArg::Consume => PullStyle::Consume,
            },
            push_subject: self.subject.clone(),
            queue_group: self.queue_group.clone(),
            stream: self.stream.clone(),
            consumer: self.consumer.clone(),
            replicas: self.replicas,
            ack_window: self.ack_window,
            retry_publish: self.retry_publish.map(Span::get),
            drain_timeout: self.drain_timeout.map(Span::get),
            threads: self.threads,
            progress: std::io::stderr().is_terminal(),
            ..defaults
        })
    }
}

pub fn run(args: &BenchArgs) -> anyhow::Result<ExitCode> {
    let options = match args.options() {
        Ok(options) => options,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(exit::CANNOT_RUN));
        }
    };
    if let Err(e) = options.validate() {
        eprintln!("error: {e}");
        return Ok(ExitCode::from(exit::CANNOT_RUN));
    }
    let report = match crate::run_blocking(&options) {
        Ok(report) => report,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(exit::CANNOT_RUN));
        }
    };
    let mut stdout = std::io::stdout().lock();
    match args.format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut stdout, &report)?;
            writeln!(stdout)?;
        }
        Format::Text => crate::write_text(&mut stdout, &report)?,
    }
    Ok(ExitCode::from(if report.ok {
        exit::OK
    } else {
        exit::FAILED
    }))
}
