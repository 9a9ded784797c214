//! The demo's result: pier's figures beside the seed write-up's, as a table or as JSON.

use std::io::{self, Write};

use serde::Serialize;

use crate::{Report, WorkloadReport};

/// The seed write-up's figures in msg/s: (single node, three-node cluster).
pub const SEED_PUSH: (f64, f64) = (12_000.0, 28_000.0);
pub const SEED_PULL: (f64, f64) = (8_000.0, 25_000.0);

/// The seed's offered load, msg/s per workload, at which latency is measured.
pub const SEED_RATE: u64 = 20_000;

/// pier's measurement of one workload on one topology: medians over the runs.
#[derive(Debug, Clone, Serialize)]
pub struct Measured {
    pub runs: usize,
    /// Median of the consumed (end-to-end) rate, publishing as fast as the client can.
    pub msgs_per_sec: f64,
    /// Median latencies in microseconds at the seed's offered load (push and pull at once).
    pub p50_us_at_seed_load: f64,
    pub p99_us_at_seed_load: f64,
    /// Every run received (and, for pull, acknowledged) every message, without errors.
    pub complete: bool,
}

impl Measured {
    /// Summarises one workload (`push` or `pull`): its peak runs and its runs at the seed's load.
    pub fn from_reports(peak: &[Report], loaded: &[Report], kind: &str) -> Measured {
        let of = |reports: &[Report]| -> Vec<WorkloadReport> {
            reports
                .iter()
                .flat_map(|r| r.workloads.iter().filter(|w| w.kind == kind).cloned())
                .collect()
        };
        let (peak_runs, loaded_runs) = (of(peak), of(loaded));
        Measured {
            runs: peak_runs.len(),
            msgs_per_sec: median(peak_runs.iter().map(|w| w.consumed.msgs_per_sec).collect()),
            p50_us_at_seed_load: median(loaded_runs.iter().map(|w| w.latency_us.p50).collect()),
            p99_us_at_seed_load: median(loaded_runs.iter().map(|w| w.latency_us.p99).collect()),
            complete: !peak_runs.is_empty()
                && !loaded_runs.is_empty()
                && peak_runs
                    .iter()
                    .chain(&loaded_runs)
                    .all(WorkloadReport::complete),
        }
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// `push` (queue group) or `pull` (JetStream pull consumer).
    pub workload: String,
    pub seed_single: f64,
    pub seed_cluster: f64,
    pub pier_single: Measured,
    pub pier_cluster: Measured,
}

#[derive(Debug, Clone, Serialize)]
pub struct DemoReport {
    pub nats_server_version: String,
    pub message_size: usize,
    pub cpus: usize,
    pub rows: Vec<Row>,
    /// Every benchmark run, as `pier-bench bench --format json` prints it: the peak runs, then
    /// the mixed runs at the seed's load.
    pub single_reports: Vec<Report>,
    pub cluster_reports: Vec<Report>,
}

impl DemoReport {
    pub fn complete(&self) -> bool {
        self.rows
            .iter()
            .all(|r| r.pier_single.complete && r.pier_cluster.complete)
    }

    pub fn write_text(&self, out: &mut impl Write) -> io::Result<()> {
        writeln!(
            out,
            "\npier demo: nats-server {} on loopback, {}-byte messages, {} CPU{} shared by every node and client\n",
            self.nats_server_version,
            self.message_size,
            self.cpus,
            if self.cpus == 1 { "" } else { "s" }
        )?;
        writeln!(
            out,
            "{:<28}{:>24}{:>30}",
            "", "single node", "three-node cluster"
        )?;
        writeln!(
            out,
            "{:<28}{:>12}{:>12}{:>15}{:>15}",
            "msg/s consumed", "seed", "pier", "seed", "pier"
        )?;
        for row in &self.rows {
            let label = match row.workload.as_str() {
                "push" => "push: queue group",
                _ => "pull: JetStream, explicit ack",
            };
            writeln!(
                out,
                "{:<28}{:>12}{:>12}{:>15}{:>15}",
                label,
                rate(row.seed_single),
                rate(row.pier_single.msgs_per_sec),
                rate(row.seed_cluster),
                rate(row.pier_cluster.msgs_per_sec),
            )?;
        }
        writeln!(out)?;
        writeln!(
            out,
            "latency at the seed's load ({SEED_RATE} msg/s push and {SEED_RATE} msg/s pull at once), p50 / p99:"
        )?;
        for row in &self.rows {
            writeln!(
                out,
                "  {:<6}{:>8.2} / {:.2} ms single node{:>10.2} / {:.2} ms cluster",
                row.workload,
                row.pier_single.p50_us_at_seed_load / 1000.0,
                row.pier_single.p99_us_at_seed_load / 1000.0,
                row.pier_cluster.p50_us_at_seed_load / 1000.0,
                row.pier_cluster.p99_us_at_seed_load / 1000.0
            )?;
        }
        writeln!(
            out,
            "every message received and acknowledged: {}",
            if self.complete() {
                "yes"
            } else {
                "NO (see the JSON report)"
            }
        )?;
        writeln!(
            out,
            "\nThe seed's figures measured its clients, not nats-server. Here one machine's cores carry\n\
             all three nodes and the clients, so the cluster cannot outrun the single node; on three\n\
             hosts each node has its own. The pull stream of the cluster keeps 3 replicas on disk."
        )
    }
}

/// "12.0K/s", "1.52M/s".
fn rate(per_sec: f64) -> String {
    if per_sec >= 1_000_000.0 {
        format!("{:.2}M/s", per_sec / 1_000_000.0)
    } else if per_sec >= 1_000.0 {
        format!("{:.1}K/s", per_sec / 1_000.0)
    } else {
        format!("{per_sec:.0}/s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_rates() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(vec![]), 0.0);
        assert_eq!(rate(12_000.0), "12.0K/s");
        assert_eq!(rate(1_523_000.0), "1.52M/s");
    }
}
