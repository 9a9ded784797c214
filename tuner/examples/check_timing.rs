#![allow(clippy::print_stdout)] // An example whose job is to print its figures.
//! How long a full `check` takes: reads every host fact and runs every check (offline) many
//! times, against the live host and each captured fixture, and prints the distribution.
//!
//! cargo run --release -p pier-tuner --example check_timing [-- ITERATIONS]
//!
//! The live-host figure excludes asking nats-server its version (a process spawn, about 10 ms);
//! `pier-tuner check --timings` prints that part separately.

use std::path::Path;
use std::time::{Duration, Instant};

use pier_config::Source;
use pier_tuner::checks::{self, Context};
use pier_tuner::host::Host;

fn main() -> anyhow::Result<()> {
    let iterations: usize = std::env::args()
        .nth(1)
        .map(|n| n.parse())
        .transpose()?
        .unwrap_or(200);
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let config = Source::read(&fixtures.join("tuned/pier.toml"))?
        .parse()
        .map_err(|d| anyhow::anyhow!("{d}"))?;
    let mut targets = vec![("live /".to_owned(), Host::new("/"))];
    for host in ["tuned", "seed", "rotational", "nfs", "irq-noisy"] {
        targets.push((format!("fixture {host}"), Host::new(fixtures.join(host))));
    }
    println!("{iterations} runs each of a full offline check (facts + every check)");
    println!(
        "{:<22} {:>6} {:>10} {:>10} {:>10} {:>10}",
        "host", "checks", "mean", "p50", "p99", "max"
    );
    for (name, host) in &targets {
        let mut times = Vec::with_capacity(iterations);
        let mut count = 0;
        for _ in 0..iterations {
            let start = Instant::now();
            let ctx = Context::read(&config, host, true, None);
            let (checks, _) = checks::run(&ctx);
            times.push(start.elapsed());
            count = checks.len();
        }
        times.sort_unstable();
        let mean = times.iter().sum::<Duration>() / iterations as u32;
        let at = |q: f64| times[((times.len() - 1) as f64 * q) as usize];
        let ms = |d: Duration| format!("{:.3} ms", d.as_secs_f64() * 1e3);
        println!(
            "{name:<22} {count:>6} {:>10} {:>10} {:>10} {:>10}",
            ms(mean),
            ms(at(0.5)),
            ms(at(0.99)),
            ms(times[times.len() - 1])
        );
    }
    Ok(())
}
