#!/usr/bin/env bash
# Where pier-bench's client CPU goes: perf samples (cpu-clock, DWARF call stacks) of one push
# run on the three-node loopback cluster, folded, drawn as a flame graph, and summed under
# pier's publisher, pier's subscriber and async-nats' connection task.
#   apt-get install linux-perf && cargo install inferno --locked
#   docs/bench/local-cluster.sh start 3
#   docs/bench/profile.sh docs/bench/profile/push     # writes push.folded, push.svg, push.txt
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/profile/push}
bench=${BENCH:-${CARGO_TARGET_DIR:-$here/../../target}/release/pier-bench}
data=$(mktemp)
folded=$(mktemp)
trap 'rm -f "$data" "$folded"' EXIT
# cpu-clock: this virtual machine has no hardware counters.
perf record -q -e cpu-clock -F 3999 --call-graph dwarf,16384 -o "$data" -- \
    "$bench" bench --servers nats://127.0.0.1:14222,nats://127.0.0.1:14223,nats://127.0.0.1:14224 \
    --mode push --msgs "${MSGS:-1000000}" --format json >/dev/null
perf script -i "$data" 2>/dev/null | inferno-collapse-perf >"$folded"
# Stacks under 0.25 % of the samples are left out of the committed files to keep them small.
awk '{ n[NR] = $0; c[NR] = $NF; t += $NF } END { for (i = 1; i <= NR; i++) if (c[i] * 400 >= t) print n[i] }' \
    "$folded" >"$out.folded"
inferno-flamegraph --title "pier-bench bench --mode push: client CPU" --width 1200 \
    <"$out.folded" >"$out.svg"
for f in 'pier_bench::push::Publisher::run::{{closure}}' \
    'pier_bench::push::spawn_subscriber::{{closure}}::{{closure}}' \
    '<async_nats::ConnectionHandler::process::{{closure}}::ProcessFut as core::future::future::Future>::poll'; do
    python3 "$here/under.py" "$f" "$folded"
done >"$out.txt"
cat "$out.txt"
