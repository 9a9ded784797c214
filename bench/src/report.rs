//! The outcome of a run: a serialisable [`Report`] whose JSON keys are stable (documented in
//! docs/benchmarks.md; bump [`SCHEMA_VERSION`] on any incompatible change) and its text form.

use std::io::{self, Write};

use serde::{Deserialize, Serialize};

use super::acks::AckVerdict;
use super::cpu::ClientCpu;
use super::gap::Gap;
use super::stats::{Check, ErrorLog, Latency, Recorder, Throughput};
use super::{Amount, Mode, Options};

pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub schema_version: u32,
    pub mode: Mode,
    pub servers: Vec<String>,
    /// Nodes the servers announced (see `Pool::cluster_size`).
    pub cluster_size: usize,
    pub options: ReportOptions,
    /// One entry per workload run: `push`, `pull`, or both in that order.
    pub workloads: Vec<WorkloadReport>,
    /// Client events that signal trouble (slow consumer, disconnect, server error).
    pub client_events: ErrorLog,
    /// CPU time of this process over the run and per consumed message; null only if the
    /// system would not tell.
    pub client_cpu: Option<ClientCpu>,
    /// True when every workload is complete and error free and no client event occurred.
    pub ok: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportOptions {
    /// Messages per workload, null for duration runs.
    pub messages: Option<u64>,
    /// Seconds of publishing, null for fixed-count runs.
    pub duration_s: Option<f64>,
    /// Offered msg/s per workload, null when unpaced.
    pub rate: Option<u64>,
    pub size: usize,
    pub publishers: usize,
    pub subscribers: usize,
    pub batch: usize,
    /// `--retry-publish` in seconds, null when off.
    pub retry_publish_s: Option<f64>,
    /// How long the pull workload drained at most, in seconds; null: until idle.
    pub drain_timeout_s: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkloadReport {
    /// `push` or `pull`.
    pub kind: String,
    pub subject: String,
    /// From the first publish to the last publish flushed (push) or acknowledged (pull).
    pub published: Throughput,
    /// From the first publish to the last message received.
    pub consumed: Throughput,
    /// End-to-end latency in microseconds from (scheduled) send to receipt.
    pub latency_us: Latency,
    pub errors: ErrorLog,
    /// Deliveries JetStream marked as redeliveries (always 0 for push).
    pub redeliveries: u64,
    pub check: Check,
    /// Pull only: stream and consumer facts; null for push.
    pub pull: Option<PullReport>,
    /// Pull only: acknowledged messages against consumed ones; null for push.
    pub accounting: Option<AckVerdict>,
    /// Push only: the longest time without a delivery; null for pull.
    pub gap: Option<Gap>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PullReport {
    pub stream: String,
    pub replicas: usize,
    /// Bench created the stream and deleted it afterwards.
    pub stream_created: bool,
    pub consumer: String,
    pub consumer_created: bool,
    /// Publish acknowledgements received from the stream.
    pub publish_acks: u64,
    /// Message acknowledgements sent by the workers.
    pub acked: u64,
    /// The consumer's unacknowledged messages once the run was over (should be 0).
    pub ack_pending: u64,
    /// Messages left undelivered in the consumer once the run was over (should be 0).
    pub num_pending: u64,
}

/// One workload's raw results, as its publishers and subscribers left them.
pub(super) struct Measured<'a> {
    pub kind: &'a str,
    pub subject: &'a str,
    pub size: usize,
    /// Clock reading when the first publisher started.
    pub start_ns: u64,
    /// Messages sent by each publisher.
    pub sent: Vec<u64>,
    /// Clock reading when the last publisher finished.
    pub published_end_ns: u64,
    pub recorder: Recorder,
    pub errors: ErrorLog,
}

impl WorkloadReport {
    /// Throughputs, latency and the received-once check of a workload.
    pub(super) fn from_measured(measured: Measured, pull: Option<PullReport>) -> WorkloadReport {
        let Measured {
            kind,
            subject,
            size,
            start_ns,
            sent,
            published_end_ns,
            recorder,
            mut errors,
        } = measured;
        if recorder.unstamped > 0 {
            errors.push(format!(
                "{} messages without a bench stamp",
                recorder.unstamped
            ));
        }
        let expected: u64 = sent.iter().sum();
        let seconds = |end_ns: u64| end_ns.saturating_sub(start_ns) as f64 / 1e9;
        WorkloadReport {
            kind: kind.to_owned(),
            subject: subject.to_owned(),
            published: Throughput::new(expected, expected * size as u64, seconds(published_end_ns)),
            consumed: Throughput::new(recorder.messages, recorder.bytes, seconds(recorder.last_ns)),
            latency_us: Latency::from_histogram(&recorder.latency),
            errors,
            redeliveries: recorder.redeliveries,
            check: recorder.seen.check(&sent),
            pull,
            accounting: None,
            gap: None,
        }
    }

    pub fn complete(&self) -> bool {
        let acks_settled = self
            .pull
            .as_ref()
            .map_or(true, |pull| pull.ack_pending == 0 && pull.num_pending == 0);
        self.check.complete && self.errors.count == 0 && acks_settled && self.lost() == 0
    }

    /// Acknowledged pull messages never consumed.
    pub fn lost(&self) -> u64 {
        self.accounting.map_or(0, |a| a.lost)
    }
}

impl Report {
    pub fn new(
        options: &Options,
        cluster_size: usize,
        workloads: Vec<WorkloadReport>,
        client_events: ErrorLog,
        client_cpu: Option<ClientCpu>,
    ) -> Report {
        let (messages, duration_s) = match options.amount {
            Amount::Messages(n) => (Some(n), None),
            Amount::Duration(d) => (None, Some(d.as_secs_f64())),
        };
        // Under --retry-publish a fault is expected to cause errors, client events and missed
        // push messages; what must hold then is that no acknowledged message was lost.
        let ok = if options.retry_publish.is_some() {
            workloads.iter().all(|w| w.lost() == 0)
        } else {
            client_events.count == 0 && workloads.iter().all(WorkloadReport::complete)
        };
        Report {
            schema_version: SCHEMA_VERSION,
            mode: options.mode,
            servers: options.servers.clone(),
            cluster_size,
            options: ReportOptions {
                messages,
                duration_s,
                rate: options.rate,
                size: options.size,
                publishers: options.publishers,
                subscribers: options.subscribers,
                batch: options.batch,
                retry_publish_s: options.retry_publish.map(|d| d.as_secs_f64()),
                drain_timeout_s: options.drain_timeout().map(|d| d.as_secs_f64()),
            },
            workloads,
            client_events,
            client_cpu,
            ok,
        }
    }
}

/// Human-readable report, one block per workload.
pub fn write_text(out: &mut impl Write, report: &Report) -> io::Result<()> {
    let o = &report.options;
    let amount = match (o.messages, o.duration_s) {
        (Some(n), _) => format!("{n} msgs"),
        (_, Some(s)) => format!("{s}s"),
        _ => String::new(),
    };
    let rate = o.rate.map(|r| format!(" at {r} msg/s")).unwrap_or_default();
    writeln!(
        out,
        "bench {:?} on {} node(s) via {}: {amount}{rate}, {} B, {} pub / {} sub, batch {}",
        report.mode,
        report.cluster_size,
        report.servers.join(","),
        o.size,
        o.publishers,
        o.subscribers,
        o.batch
    )?;
    for w in &report.workloads {
        writeln!(out, "\n[{}] {}", w.kind, w.subject)?;
        for (label, t) in [("published", &w.published), ("consumed", &w.consumed)] {
            writeln!(
                out,
                "  {label:<10} {:>10} msgs in {:>7.3}s  {:>12.0} msg/s  {:>8.2} MB/s",
                t.messages,
                t.seconds,
                t.msgs_per_sec,
                t.bytes_per_sec / 1e6
            )?;
        }
        let l = &w.latency_us;
        writeln!(
            out,
            "  latency    p50 {:.0} µs  p90 {:.0} µs  p99 {:.0} µs  p99.9 {:.0} µs  max {:.0} µs",
            l.p50, l.p90, l.p99, l.p99_9, l.max
        )?;
        let c = &w.check;
        writeln!(
            out,
            "  check      {} of {} received once; missing {}, duplicates {}, unexpected {}, redeliveries {}",
            c.unique, c.expected, c.missing, c.duplicates, c.unexpected, w.redeliveries
        )?;
        if let Some(p) = &w.pull {
            writeln!(
                out,
                "  stream     {} R{}{}, consumer {}{}: {} publish acks, {} acked, {} ack pending, {} pending",
                p.stream,
                p.replicas,
                if p.stream_created { " (created)" } else { "" },
                p.consumer,
                if p.consumer_created { " (created)" } else { "" },
                p.publish_acks,
                p.acked,
                p.ack_pending,
                p.num_pending
            )?;
        }
        if let Some(a) = &w.accounting {
            writeln!(
                out,
                "  accounting {} acknowledged, {} consumed: lost {}, duplicates {}, unacknowledged {} \
                 ({} of them stored), retried {}, redeliveries {}, drained in {:.3}s",
                a.acknowledged,
                a.consumed,
                a.lost,
                a.duplicates,
                a.unacknowledged,
                a.stored_unacknowledged,
                a.retried,
                a.redeliveries,
                a.drain_s
            )?;
            if a.lost > 0 {
                writeln!(
                    out,
                    "  LOST       {} messages JetStream acknowledged were never consumed",
                    a.lost
                )?;
            }
        }
        if let Some(g) = &w.gap {
            writeln!(
                out,
                "  gap        longest {:.0} ms without a delivery, at {:.3}s, {} msgs published during it",
                g.longest_ms, g.at_s, g.published_during
            )?;
        }
        writeln!(out, "  errors     {}", w.errors.count)?;
        for sample in &w.errors.samples {
            writeln!(out, "    {sample}")?;
        }
        writeln!(
            out,
            "  result     {}",
            if w.complete() {
                "complete"
            } else {
                "INCOMPLETE"
            }
        )?;
    }
    if let Some(cpu) = &report.client_cpu {
        writeln!(
            out,
            "\nclient CPU  {:.3} µs/msg  ({:.2}s user, {:.2}s system, every client of this process)",
            cpu.us_per_msg, cpu.user_s, cpu.system_s
        )?;
    }
    if report.client_events.count > 0 {
        writeln!(out, "\nclient events: {}", report.client_events.count)?;
        for sample in &report.client_events.samples {
            writeln!(out, "  {sample}")?;
        }
    }
    Ok(())
}
