#!/usr/bin/env bash
# Reproduce the figures of docs/benchmarks.md: on a loopback cluster (three nodes; NODES="1 3"
# adds a single node), RUNS alternating runs of `pier-bench bench` (`pier-broker bench` runs
# it) and of the reference Go client (docs/bench/goref, nats.go), push then pull, then one
# mixed run at the seed's offered load; prints the medians.
#   cargo build --release -p pier-bench -p pier-broker
#   apt-get install golang-go golang-github-nats-io-go-nats-dev    # the Go client, no download
#   RUNS=5 docs/bench/measure.sh docs/bench/results
# Both clients report their own CPU time (getrusage) per consumed message in their JSON.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/results}
RUNS=${RUNS:-5}
NODES=${NODES:-3}
PUSH_MSGS=${PUSH_MSGS:-1000000}
PULL_MSGS=${PULL_MSGS:-200000}
target=${CARGO_TARGET_DIR:-$here/../../target}
bench=$target/release/pier-bench
goref=$out/goref
mkdir -p "$out"
rm -f "$out"/*.json
# Debian's nats.go in GOPATH mode: nothing is downloaded.
GO111MODULE=off GOPATH=/usr/share/gocode go build -o "$goref" "$here/goref/main.go"
trap '"$here/local-cluster.sh" stop; rm -f "$goref"' EXIT

for nodes in $NODES; do
    "$here/local-cluster.sh" start "$nodes"
    servers=$(seq -s, -f "nats://127.0.0.1:%g" 14222 $((14221 + nodes)))
    for run in $(seq 1 "$RUNS"); do
        echo "nodes $nodes run $run, load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
        "$bench" bench --servers "$servers" --mode push --msgs "$PUSH_MSGS" --format json \
            >"$out/push-n$nodes-r$run.json" || true
        "$goref" push "$servers" "$PUSH_MSGS" 4 >"$out/go-push-n$nodes-r$run.json" || true
        "$bench" bench --servers "$servers" --mode pull --msgs "$PULL_MSGS" --format json \
            >"$out/pull-n$nodes-r$run.json" || true
        "$goref" pull "$servers" "$PULL_MSGS" 4 >"$out/go-pull-n$nodes-r$run.json" || true
    done
    # Latency under the seed's offered load: 20 000 msg/s per workload, both at once.
    "$bench" bench --servers "$servers" --mode mixed --rate 20000 --duration 10s --format json \
        >"$out/mixed-rate20k-n$nodes.json" || true
done
python3 "$here/../bench_chart.py" --table "$out"
