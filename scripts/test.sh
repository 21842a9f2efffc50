#!/usr/bin/env bash
# Run every check and test Warren has. This is what CI runs (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
# A run from a clean clone builds everything once: incremental caches would only cost disk
# (gigabytes across clippy and the test build) and time, and CI's disk is not ours alone.
export CARGO_INCREMENTAL=0

scripts/build-guests.sh
scripts/conformance-deps.sh
cargo fmt --all --check
cargo fmt --check --manifest-path fuzz/wire/Cargo.toml
cargo clippy --workspace --all-targets -- -D warnings

log="$(mktemp)"
# One PostgreSQL server for the whole run: the stores' shared suite runs against it too.
pg_dir="$(mktemp -d -t warren-pg.XXXXXX)"
trap 'scripts/postgres.sh stop "$pg_dir"; rm -rf "$pg_dir" "$log"' EXIT
WARREN_TEST_DATABASE_URL="$(scripts/postgres.sh start "$pg_dir")"
export WARREN_TEST_DATABASE_URL
cargo test --workspace 2>&1 | tee "$log"
# One closing line for the whole run (cargo prints one per test binary).
awk '/^test result:/ { p += $4; f += $6 } END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
# Every decoder of outside input, fuzzed for 30 s each (fuzz/wire; no wasmtime in it).
scripts/fuzz-smoke.sh 30
