#!/usr/bin/env bash
# Build the example actors and the test guests as wasm32-wasip2 components.
# Installs the wasm32-wasip2 target with rustup if it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! rustup target list --installed | grep -qx wasm32-wasip2; then
    rustup target add wasm32-wasip2
fi

cargo build --release --target wasm32-wasip2 \
    -p counter -p bank -p newsroom -p calculator -p assistant -p tally -p tally-v2 \
    -p hostile -p not-an-actor -p legacy
