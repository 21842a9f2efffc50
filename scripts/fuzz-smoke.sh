#!/usr/bin/env bash
# Build the fuzz targets of Warren's decoders (fuzz/wire: warren-wire without wasmtime)
# with libFuzzer's coverage instrumentation on the stable toolchain, and run each for a
# bounded time (default 30 s), printing its exec count. Inputs that crash a target are
# kept under fuzz/wire/artifacts/TARGET/ and fail the run.
#   scripts/fuzz-smoke.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-30}"
shift || true
targets=("$@")
if [ "${#targets[@]}" -eq 0 ]; then
    targets=(durations dapr_bodies dapr_grpc_messages spawn_messages stream_sequences opaca_bodies tokens records)
fi

# What cargo-fuzz passes, without its sanitizer (which needs a nightly toolchain).
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks"
target_dir="$PWD/target/fuzz-wire"
triple="$(rustc -vV | sed -n 's/^host: //p')"
cargo build --release --locked --manifest-path fuzz/wire/Cargo.toml --target "$triple" \
    --target-dir "$target_dir" --bins
bin_dir="$target_dir/$triple/release"

for target in "${targets[@]}"; do
    corpus="fuzz/wire/corpus/$target"
    artifacts="fuzz/wire/artifacts/$target"
    mkdir -p "$corpus" "$artifacts"
    log="$(mktemp)"
    # The corpus grows in a scratch copy: the committed seeds stay as they are.
    work="$(mktemp -d)"
    cp -r "$corpus/." "$work/" 2>/dev/null || true
    if ! "$bin_dir/$target" "$work" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 \
        -print_final_stats=1 -artifact_prefix="$artifacts/" >"$log" 2>&1; then
        tail -n 40 "$log"
        echo "fuzz $target FAILED; the input is in $artifacts/"
        exit 1
    fi
    execs="$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -Eo '[0-9]+$' | tail -n 1 || true)"
    echo "fuzz $target: ${execs:-?} executions in ${seconds}s, no crash"
    rm -rf "$log" "$work"
done
