#!/usr/bin/env bash
# Build everything and start the host with the example actors deployed, on the embedded
# sled store in ./warren-data. Extra arguments go to `warren serve`.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/build-guests.sh
target="${CARGO_TARGET_DIR:-target}"
exec cargo run --release -p warren-host --bin warren -- serve \
    --deploy "$target/wasm32-wasip2/release/counter.wasm" \
    --deploy "$target/wasm32-wasip2/release/bank.wasm" \
    --deploy "$target/wasm32-wasip2/release/newsroom.wasm" \
    --deploy "$target/wasm32-wasip2/release/calculator.wasm" \
    --deploy "$target/wasm32-wasip2/release/assistant.wasm" \
    "$@"
