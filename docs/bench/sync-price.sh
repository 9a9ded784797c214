#!/usr/bin/env bash
# What durability costs: the same loopback cluster (three nodes, R3 stream) under pier's shipped
# fsync policy, `always`, and under nats-server's own 2-minute default, in alternating runs of one
# session, so that both see the same machine. Each run: R3 pull throughput (`--mode pull`), then
# push and pull latency at the seed's offered load (`--mode mixed --rate 20000`). Prints medians.
#   cargo build --release -p pier-bench
#   RUNS=5 docs/bench/sync-price.sh /tmp/sync-price
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-/tmp/pier-sync-price}
RUNS=${RUNS:-5}
PULL_MSGS=${PULL_MSGS:-200000}
target=${CARGO_TARGET_DIR:-$here/../../target}
bench=$target/release/pier-bench
servers=nats://127.0.0.1:14222,nats://127.0.0.1:14223,nats://127.0.0.1:14224
mkdir -p "$out"
rm -f "$out"/*.json
trap '"$here/local-cluster.sh" stop' EXIT

for run in $(seq 1 "$RUNS"); do
    for sync in always server-default; do
        SYNC=$sync "$here/local-cluster.sh" start 3
        echo "run $run sync $sync, load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
        "$bench" bench --servers "$servers" --mode pull --msgs "$PULL_MSGS" --format json \
            >"$out/pull-$sync-r$run.json" || true
        "$bench" bench --servers "$servers" --mode mixed --rate 20000 --duration 10s \
            --format json >"$out/mixed-$sync-r$run.json" || true
        "$here/local-cluster.sh" stop
    done
done

python3 - "$out" "$RUNS" <<'EOF'
import json, statistics, sys
out, runs = sys.argv[1], int(sys.argv[2])

def load(name):
    try:
        with open(f"{out}/{name}") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None

def workload(report, kind):
    return next(w for w in report["workloads"] if w["kind"] == kind)

print("| sync | R3 pull msg/s | push p99 µs at 20k | pull p99 µs at 20k | pull p50 µs at 20k | complete | runs |")
print("|---|---|---|---|---|---|---|")
for sync in ["always", "server-default"]:
    pulls = [load(f"pull-{sync}-r{r}.json") for r in range(1, runs + 1)]
    mixeds = [load(f"mixed-{sync}-r{r}.json") for r in range(1, runs + 1)]
    reports = [r for r in pulls + mixeds if r is not None]
    complete = len(reports) == 2 * runs and all(r["ok"] for r in reports)
    tput = [workload(p, "pull")["consumed"]["msgs_per_sec"] for p in pulls if p]
    push99 = [workload(m, "push")["latency_us"]["p99"] for m in mixeds if m]
    pull99 = [workload(m, "pull")["latency_us"]["p99"] for m in mixeds if m]
    pull50 = [workload(m, "pull")["latency_us"]["p50"] for m in mixeds if m]
    med = lambda xs: f"{statistics.median(xs):,.0f}" if xs else "–"
    each = ", ".join(f"{t / 1000:.0f}K" for t in tput)
    print(f"| `{sync}` | {med(tput)} | {med(push99)} | {med(pull99)} | {med(pull50)} | "
          f"{'yes' if complete else 'no'} | {each} |")
EOF
