#!/usr/bin/env bash
# Reproduce the figures of docs/benchmarks.md: for one node and for a three-node loopback
# cluster, RUNS alternating runs of `pier-bench bench` (JSON; `pier-broker bench` runs it) and of
# the independent async-nats loop (bench/examples/nats_loop.rs), push then pull, plus one mixed
# run at the seed's offered load.
#   cargo build --release -p pier-bench --bin pier-bench --example nats_loop
#   RUNS=5 docs/bench/measure.sh docs/bench/results
# Each client's CPU time is recorded beside its output (client-cpu lines from GNU time).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/results}
RUNS=${RUNS:-5}
PUSH_MSGS=${PUSH_MSGS:-1000000}
PULL_MSGS=${PULL_MSGS:-200000}
target=${CARGO_TARGET_DIR:-$here/../../target}
bench=$target/release/pier-bench
loop=$target/release/examples/nats_loop
mkdir -p "$out"
trap '"$here/local-cluster.sh" stop' EXIT

timed() { # timed FILE CMD... : stdout to FILE, client CPU appended
    /usr/bin/time -f "client-cpu user %U sys %S wall %e" -a -o "$1.cpu" "${@:2}" >"$1"
}

for nodes in 1 3; do
    "$here/local-cluster.sh" start "$nodes"
    servers=$(seq -s, -f "nats://127.0.0.1:%g" 14222 $((14221 + nodes)))
    for run in $(seq 1 "$RUNS"); do
        timed "$out/push-n$nodes-r$run.json" "$bench" bench --servers "$servers" --mode push \
            --msgs "$PUSH_MSGS" --format json || true
        timed "$out/loop-push-n$nodes-r$run.txt" "$loop" push "$servers" "$PUSH_MSGS" 4 || true
        timed "$out/pull-n$nodes-r$run.json" "$bench" bench --servers "$servers" --mode pull \
            --msgs "$PULL_MSGS" --format json || true
        timed "$out/loop-pull-n$nodes-r$run.txt" "$loop" pull "$servers" "$PULL_MSGS" 4 || true
    done
    # Latency under the seed's offered load: 20 000 msg/s per workload, both at once.
    timed "$out/mixed-rate20k-n$nodes.json" "$bench" bench --servers "$servers" --mode mixed \
        --rate 20000 --duration 10s --format json || true
done
