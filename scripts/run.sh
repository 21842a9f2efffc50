#!/usr/bin/env bash
# Build everything and start the host with the example actors deployed, on the embedded
# sled store in ./warren-data. Extra arguments go to `warren serve`.
#
# The price-cache example fetches prices over HTTP: the script also serves a small price
# API on 127.0.0.1:8089 (examples/price-cache/api, with python3's http.server), lets the
# default tenant reach it (allowed_outbound_hosts) and points the component at it
# (`warren config set price-cache api_url ...`) once the host answers.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/build-guests.sh
cargo build --release -p warren-host --bin warren
target="${CARGO_TARGET_DIR:-target}"
guests="$target/wasm32-wasip2/release"
warren="$target/release/warren"
api="http://127.0.0.1:8089"

python3 -m http.server 8089 --bind 127.0.0.1 --directory examples/price-cache/api \
    >/dev/null 2>&1 &
children=($!)
trap 'kill "${children[@]}" 2>/dev/null || true' EXIT INT TERM

"$warren" serve \
    --deploy "$guests/counter.wasm" \
    --deploy "$guests/bank.wasm" \
    --deploy "$guests/newsroom.wasm" \
    --deploy "$guests/calculator.wasm" \
    --deploy "$guests/assistant.wasm" \
    --deploy "$guests/price_cache.wasm" \
    "$@" &
host=$!
children+=("$host")

export WARREN_URL="${WARREN_URL:-http://127.0.0.1:3500}"
for _ in $(seq 1 100); do
    curl -sf "$WARREN_URL/v1.0/healthz" >/dev/null 2>&1 && break
    kill -0 "$host" 2>/dev/null || exit 1
    sleep 0.1
done
"$warren" tenant update default "{\"allowed_outbound_hosts\": [\"$api\"]}" >/dev/null \
    && "$warren" config set price-cache api_url "$api" >/dev/null \
    && echo "price-cache: fetching from $api (try: curl -X POST $WARREN_URL/v1.0/actors/price/BTC/method/get)" >&2 \
    || echo "price-cache: could not set its policy and api_url (admin token? WARREN_TOKEN)" >&2
wait "$host"
