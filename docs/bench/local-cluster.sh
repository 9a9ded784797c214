#!/usr/bin/env bash
# Start or stop a loopback nats-server cluster for `pier-bench bench` measurements.
#   docs/bench/local-cluster.sh start 3   # three nodes: client 14222-14224, cluster 16222-16224
#   docs/bench/local-cluster.sh start 1   # one node on 14222
#   docs/bench/local-cluster.sh stop
# Stores and logs live under ${PIER_BENCH_DIR:-/tmp/pier-bench}; `stop` removes them.
# SYNC is the store's fsync policy, as pier ships it by default: `always` (fsync every write before
# acknowledging it); `SYNC=server-default` leaves nats-server's own (every 2 minutes), and a Go
# duration such as `SYNC=10s` sets that interval.
set -euo pipefail
NATS_SERVER=${NATS_SERVER:-/usr/lib/pier/nats-server}
DIR=${PIER_BENCH_DIR:-/tmp/pier-bench}
SYNC=${SYNC:-always}
cmd=${1:?usage: local-cluster.sh start N | stop}

stop() {
    for pidfile in "$DIR"/node-*/pid; do
        [ -f "$pidfile" ] || continue
        kill "$(cat "$pidfile")" 2>/dev/null || true
    done
    sleep 1
    rm -rf "$DIR"
}

case "$cmd" in
stop) stop ;;
start)
    nodes=${2:-3}
    stop
    routes=""
    for i in $(seq 1 "$nodes"); do routes="$routes nats-route://127.0.0.1:$((16221 + i))"; done
    for i in $(seq 1 "$nodes"); do
        node="$DIR/node-$i"
        mkdir -p "$node/store"
        {
            echo "server_name: bench-$i"
            echo "listen: 127.0.0.1:$((14221 + i))"
            echo "http: 127.0.0.1:$((18221 + i))"
            sync=""
            [ "$SYNC" = server-default ] || sync=", sync_interval: $SYNC"
            echo "jetstream { store_dir: \"$node/store\", max_file_store: 8GB, max_memory_store: 256MB$sync }"
            if [ "$nodes" -gt 1 ]; then
                echo "cluster { name: pier-bench, listen: 127.0.0.1:$((16221 + i)), routes: [$(echo $routes | sed 's/ /, /g')] }"
            fi
        } >"$node/nats.conf"
        "$NATS_SERVER" -c "$node/nats.conf" -l "$node/nats.log" -P "$node/pid" &
    done
    # Ready when every node answers /healthz (JetStream meta leader elected included).
    for i in $(seq 1 "$nodes"); do
        for _ in $(seq 1 100); do
            if curl -fs "http://127.0.0.1:$((18221 + i))/healthz" >/dev/null; then break; fi
            sleep 0.2
        done
    done
    ;;
*) echo "usage: local-cluster.sh start N | stop" >&2; exit 2 ;;
esac
