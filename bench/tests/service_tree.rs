// Test code: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

//! The service systemd runs does not link the benchmark: pier-broker's normal dependency tree
//! holds neither pier-bench nor the benchmark's own dependency. And the monitoring client links
//! nothing of the supervisor: whoever reads a monitoring port (the demo, a metrics task) does
//! not pull in pier-broker, its NATS client or its systemd notify.

use std::collections::BTreeSet;
use std::process::Command;

/// Package names in `cargo tree -p PACKAGE -e normal`.
fn normal_dependencies(package: &str) -> BTreeSet<String> {
    let output = Command::new(env!("CARGO"))
        .args(["tree", "--offline", "-e", "normal", "--prefix", "none"])
        .args(["--format", "{p}", "-p", package])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run cargo tree");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "cargo tree -p {package}: {}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

/// The benchmark, and what it links for itself alone (its HDR latency histograms).
const BENCHMARK_ONLY: &[&str] = &["pier-bench", "hdrhistogram"];

#[test]
fn pier_broker_does_not_link_the_benchmark() {
    let bench = normal_dependencies("pier-bench");
    let broker = normal_dependencies("pier-broker");
    // The same query sees the benchmark where it is, and the service's own dependencies.
    for name in BENCHMARK_ONLY {
        assert!(
            bench.contains(*name),
            "pier-bench's tree lacks {name}: {bench:?}"
        );
    }
    assert!(broker.contains("async-nats"), "{broker:?}");
    for name in BENCHMARK_ONLY {
        assert!(
            !broker.contains(*name),
            "pier-broker links {name}: {broker:?}"
        );
    }
}

#[test]
fn pier_monitor_links_neither_the_supervisor_nor_provisioning() {
    let monitor = normal_dependencies("pier-monitor");
    assert!(monitor.contains("ureq"), "{monitor:?}");
    for name in ["pier-broker", "async-nats", "sd-notify", "tokio"] {
        assert!(
            !monitor.contains(name),
            "pier-monitor links {name}: {monitor:?}"
        );
    }
}
