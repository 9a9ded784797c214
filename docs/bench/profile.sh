#!/usr/bin/env bash
# Where pier-bench's client CPU goes: perf samples (cpu-clock, DWARF call stacks) of one push
# run on the three-node loopback cluster, folded, and a summary of pier's own frames.
#   apt-get install linux-perf
#   docs/bench/local-cluster.sh start 3
#   docs/bench/profile.sh docs/bench/profile/push          # writes push.folded, push.txt
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/profile/push}
bench=${BENCH:-${CARGO_TARGET_DIR:-$here/../../target}/release/pier-bench}
data=$(mktemp)
folded=$(mktemp)
trap 'rm -f "$data" "$folded"' EXIT
perf record -q -e cpu-clock -F 3999 --call-graph dwarf,16384 -o "$data" -- \
    "$bench" bench --servers nats://127.0.0.1:14222,nats://127.0.0.1:14223,nats://127.0.0.1:14224 \
    --mode push --msgs "${MSGS:-500000}" --format json >/dev/null
perf script -i "$data" 2>/dev/null | python3 "$here/fold.py" >"$folded"
# Stacks under 0.25 % of the samples are left out of the committed file to keep it small.
awk '{ n[NR] = $0; c[NR] = $NF; t += $NF } END { for (i = 1; i <= NR; i++) if (c[i] * 400 >= t) print n[i] }' \
    "$folded" >"$out.folded"
for f in 'pier_bench::push::Publisher::run::{{closure}}' \
    'pier_bench::push::spawn_subscriber::{{closure}}::{{closure}}' \
    '<async_nats::ConnectionHandler::process::{{closure}}::ProcessFut as core::future::future::Future>::poll'; do
    python3 "$here/fold.py" --under "$f" "$folded"
done >"$out.txt"
cat "$out.txt"
