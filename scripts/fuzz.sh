#!/usr/bin/env bash
# The long fuzz run: every decoder target of fuzz/wire (scripts/fuzz-smoke.sh, stable
# toolchain), then the component upload target of fuzz/, which instruments wasmtime
# (a build of ~15 minutes) and needs what it installs: the nightly toolchain (rustup) and
# cargo-fuzz (crates.io). Each target runs SECONDS (default 60) and prints its exec count.
#   scripts/fuzz.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"

scripts/fuzz-smoke.sh "$seconds"

rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked

for target in component_upload; do
    log="$(mktemp)"
    # The component target compiles what it accepts: give it more memory and time per input.
    cargo +nightly fuzz run "$target" -- -max_total_time="$seconds" -rss_limit_mb=4096 -timeout=20 -print_final_stats=1 \
        >"$log" 2>&1 || { tail -n 40 "$log"; echo "fuzz target $target FAILED"; exit 1; }
    execs="$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -Eo '[0-9]+$' | tail -n 1 || true)"
    echo "fuzz $target: ${execs:-?} executions in ${seconds}s, no crash"
    rm -f "$log"
done
