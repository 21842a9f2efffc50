#!/usr/bin/env bash
# A local Warren cluster: a throwaway PostgreSQL server and three hosts on loopback, the
# example actors deployed. Ctrl-C stops everything. Host N (0, 1, 2) listens on
#   HTTP (Dapr + admin) 127.0.0.1:350N   gRPC 127.0.0.1:5000N   OPACA 127.0.0.1:810N
# and on 127.0.0.1:380N for the other hosts, which speak mutual TLS with certificates
# from a cluster CA made for this run (in DIR/ca). Any host serves any actor.
#   scripts/cluster.sh [DIR]   DIR keeps the database and the hosts' data (default: a temp dir)
# `kill -USR1 <this script's pid>` restarts the hosts one after the other, each with
# SIGTERM (it hands its partitions over before it stops listening): a rolling restart.
set -euo pipefail
cd "$(dirname "$0")/.."

dir="${1:-$(mktemp -d -t warren-cluster.XXXXXX)}"
mkdir -p "$dir"
scripts/build-guests.sh
cargo build --release -p warren-host --bin warren
target="${CARGO_TARGET_DIR:-target}"
guests="$target/wasm32-wasip2/release"

pids=()
stop() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    scripts/postgres.sh stop "$dir/postgres"
}
trap stop EXIT INT TERM

url="$(scripts/postgres.sh start "$dir/postgres")"
echo "database: $url (state is queryable in the view warren_actor_state)"
# A fresh cluster CA, and a certificate for each host (kept when DIR is reused).
if [ ! -f "$dir/ca/ca.pem" ]; then
    "$target/release/warren" cluster ca init --dir "$dir/ca" >/dev/null
    for n in 0 1 2; do
        "$target/release/warren" cluster cert "host-$n" --ca-dir "$dir/ca" --address 127.0.0.1 >/dev/null
    done
fi

# Start host $1 (again), appending to its log.
start_host() {
    local n="$1"
    "$target/release/warren" serve \
        --cluster "$url" \
        --cluster-ca "$dir/ca/ca.pem" \
        --cluster-cert "$dir/ca/host-$n.pem" --cluster-key "$dir/ca/host-$n-key.pem" \
        --data-dir "$dir/host-$n" \
        --http "127.0.0.1:350$n" --grpc "127.0.0.1:5000$n" --opaca "127.0.0.1:810$n" \
        --cluster-listen "127.0.0.1:380$n" \
        --deploy "$guests/counter.wasm" --deploy "$guests/bank.wasm" \
        --deploy "$guests/newsroom.wasm" --deploy "$guests/calculator.wasm" \
        --deploy "$guests/assistant.wasm" \
        >>"$dir/host-$n.log" 2>&1 &
    pids[n]="$!"
}

# Stop each host cleanly and start it again, one at a time.
roll() {
    for n in 0 1 2; do
        echo "rolling restart: host $n"
        kill -TERM "${pids[n]}" 2>/dev/null || true
        wait "${pids[n]}" 2>/dev/null || true
        start_host "$n"
        until curl -sf "http://127.0.0.1:350$n/v1.0/healthz" >/dev/null; do sleep 0.2; done
        # Its share of the partitions comes back within a few heartbeats.
        sleep 3
    done
    echo "rolling restart: done"
}
trap roll USR1

for n in 0 1 2; do
    start_host "$n"
    echo "host $n: http://127.0.0.1:350$n (log: $dir/host-$n.log)"
done
echo "try: curl -X POST http://127.0.0.1:3501/v1.0/actors/counter/c1/method/add -d 5"
echo "rolling restart: kill -USR1 $$"
while true; do
    wait -n "${pids[@]}" || true
    # The rolling restart's signal wakes the wait too: go on while every host runs.
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null || break 2; done
done
echo "a host exited; stopping the cluster" >&2
