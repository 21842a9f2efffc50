#!/usr/bin/env bash
# Install the real client libraries the conformance tests drive (Dapr's Python and JS SDKs,
# OPACA's Python package, Playwright with Debian's Chromium for the console) into
# target/conformance, once. Pinned versions; re-run is a
# no-op.
set -euo pipefail
cd "$(dirname "$0")/.."

dir="${WARREN_CONFORMANCE_DIR:-${CARGO_TARGET_DIR:-target}/conformance}"
mkdir -p "$dir"
py_reqs="dapr==1.18.3 dapr-ext-fastapi==1.18.3 uvicorn==0.34.0"
js_reqs="@dapr/dapr@3.18.0"
# OPACA's package, with the libraries it builds agent containers on pinned as tested.
opaca_reqs="opaca==0.0.9 fastapi==0.165.0 starlette==1.10.0 pydantic==2.14.3 uvicorn==0.54.0 httpx==0.28.1"

if [ "$(cat "$dir/python.stamp" 2>/dev/null)" != "$py_reqs" ]; then
    python3 -m venv "$dir/venv"
    # shellcheck disable=SC2086
    "$dir/venv/bin/pip" install --quiet --disable-pip-version-check $py_reqs
    echo "$py_reqs" > "$dir/python.stamp"
fi

if [ "$(cat "$dir/js.stamp" 2>/dev/null)" != "$js_reqs" ]; then
    mkdir -p "$dir/node"
    (cd "$dir/node" && [ -f package.json ] || echo '{"name":"warren-conformance","private":true}' > package.json)
    (cd "$dir/node" && npm install --silent --no-audit --no-fund "$js_reqs" >/dev/null)
    echo "$js_reqs" > "$dir/js.stamp"
fi

# A venv of its own: its FastAPI and pydantic needs differ from the Dapr SDK's.
if [ "$(cat "$dir/opaca.stamp" 2>/dev/null)" != "$opaca_reqs" ]; then
    python3 -m venv "$dir/opaca-venv"
    # shellcheck disable=SC2086
    "$dir/opaca-venv/bin/pip" install --quiet --disable-pip-version-check $opaca_reqs
    echo "$opaca_reqs" > "$dir/opaca.stamp"
fi
# The console test drives Debian's Chromium through Playwright (never `playwright install`:
# its own browser download does not work offline).
console_reqs="playwright==1.65.2"
if ! command -v chromium >/dev/null; then
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
    else
        sudo apt-get update -qq
        sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
    fi
fi
if [ "$(cat "$dir/console.stamp" 2>/dev/null)" != "$console_reqs" ]; then
    python3 -m venv "$dir/console-venv"
    # shellcheck disable=SC2086
    "$dir/console-venv/bin/pip" install --quiet --disable-pip-version-check $console_reqs
    echo "$console_reqs" > "$dir/console.stamp"
fi
echo "conformance clients ready in $dir"
