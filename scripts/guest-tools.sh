#!/usr/bin/env bash
# Install the toolchains that build Python and JavaScript actors, pinned, once per target
# dir: componentize-py in a venv, componentize-js and esbuild with npm. Prints the
# directory holding them (what `warren build` takes as WARREN_GUEST_TOOLS).
set -euo pipefail
cd "$(dirname "$0")/.."

dir="${WARREN_GUEST_TOOLS:-${CARGO_TARGET_DIR:-target}/guest-tools}"
mkdir -p "$dir"
py_reqs="componentize-py==0.25.1"
js_reqs="@bytecodealliance/componentize-js@0.23.0 esbuild@0.25.12"

if [ "$(cat "$dir/py.stamp" 2>/dev/null)" != "$py_reqs" ]; then
    python3 -m venv "$dir/py"
    # shellcheck disable=SC2086
    "$dir/py/bin/pip" install --quiet --disable-pip-version-check $py_reqs >&2
    echo "$py_reqs" > "$dir/py.stamp"
fi
if [ "$(cat "$dir/js.stamp" 2>/dev/null)" != "$js_reqs" ]; then
    mkdir -p "$dir/node"
    [ -f "$dir/node/package.json" ] || echo '{"name":"warren-guest-tools","private":true,"type":"module"}' > "$dir/node/package.json"
    # shellcheck disable=SC2086
    (cd "$dir/node" && npm install --silent --no-audit --no-fund $js_reqs >/dev/null)
    echo "$js_reqs" > "$dir/js.stamp"
fi
# Next to its node_modules, so its imports resolve.
cp scripts/componentize-js.mjs "$dir/node/componentize-js.mjs"
cd "$dir" && pwd
