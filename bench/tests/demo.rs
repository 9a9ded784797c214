// Test code: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

//! `pier-broker demo` as a new user runs it: pier-broker hands over to pier-bench, whose nodes
//! are real `pier-broker run` supervisors of real servers.

mod support {
    pub mod binaries;
}

use std::process::Command;

use support::binaries::{pier_broker, run};

#[test]
fn demo_runs_the_seed_workload_and_leaves_nothing_behind() {
    let tmp = tempfile::tempdir().unwrap();
    let (stdout, _) = run(
        Command::new(pier_broker())
            .args([
                "demo",
                "--push-msgs",
                "20000",
                "--pull-msgs",
                "5000",
                "--format",
                "json",
            ])
            .env("TMPDIR", tmp.path()),
        0,
    );

    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let rows = report["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["workload"], "push");
    assert_eq!(rows[0]["seed_single"], 12000.0);
    assert_eq!(rows[1]["workload"], "pull");
    assert_eq!(rows[1]["seed_cluster"], 25000.0);
    for row in rows {
        for topology in ["pier_single", "pier_cluster"] {
            let measured = &row[topology];
            assert_eq!(measured["complete"], true, "{row}");
            assert!(measured["msgs_per_sec"].as_f64().unwrap() > 0.0, "{row}");
            assert!(
                measured["p99_us_at_seed_load"].as_f64().unwrap() > 0.0,
                "{row}"
            );
        }
    }
    // The cluster's pull runs went through the 3-replica stream the supervisors provisioned.
    let cluster = report["cluster_reports"].as_array().unwrap();
    let pull = cluster
        .iter()
        .flat_map(|r| r["workloads"].as_array().unwrap())
        .find(|w| w["kind"] == "pull")
        .unwrap();
    assert_eq!(pull["pull"]["replicas"], 3, "{pull}");
    assert_eq!(
        pull["pull"]["stream_created"], false,
        "provisioned by pier, not by bench"
    );

    // Everything it wrote is gone, and so is every process it started.
    let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
    assert!(left.is_empty(), "left behind: {left:?}");
    let ps = Command::new("ps").args(["-eo", "args"]).output().unwrap();
    let ps = String::from_utf8_lossy(&ps.stdout);
    assert!(!ps.contains(&tmp.path().display().to_string()), "{ps}");
}
