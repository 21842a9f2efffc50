#!/usr/bin/env bash
# Build the example actors and the test guests as wasm32-wasip2 components: the Rust ones
# with cargo, the Python and JavaScript counters with componentize-py and componentize-js
# (installed by scripts/guest-tools.sh; rebuilt only when their sources change).
# Installs the wasm32-wasip2 target with rustup if it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! rustup target list --installed | grep -qx wasm32-wasip2; then
    rustup target add wasm32-wasip2
fi

cargo build --release --target wasm32-wasip2 \
    -p counter -p bank -p newsroom -p calculator -p assistant -p tally -p tally-v2 -p price-cache \
    -p hostile -p not-an-actor -p legacy -p appender -p configured -p fetcher

tools="$(scripts/guest-tools.sh)"
out="${CARGO_TARGET_DIR:-target}/wasm32-wasip2/release"
sdk_py=guest-sdk/python/src
sdk_js=guest-sdk/js

# Run the build command ($3...) for $1 unless the inputs ($2, space-separated files) are
# unchanged since it last built.
build_once() {
    local wasm="$out/$1.wasm" stamp="$out/$1.stamp" sum
    # shellcheck disable=SC2086
    sum="$(cat $2 | sha256sum)"
    if [ -f "$wasm" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$sum" ]; then
        return
    fi
    shift 2
    local started=$SECONDS
    "$@"
    echo "$sum" > "$stamp"
    echo "built $wasm in $((SECONDS - started)) s" >&2
}

py_inputs="wit/actor.wit $sdk_py/warren_actor/__init__.py examples/python-counter/app.py"
build_once counter_py "$py_inputs" \
    "$tools/py/bin/componentize-py" -d wit -w warren-actor componentize app \
    -p examples/python-counter -p "$sdk_py" -o "$out/counter_py.wasm"

# The Python fetcher sends HTTP requests: the warren-http-actor world, with the module
# names `warren build --http` gives (cli/src/build.rs).
fetcher_py_inputs="wit/actor.wit wit/deps/http/http.wit $sdk_py/warren_actor/__init__.py $sdk_py/warren_actor/http.py tests/guests/fetcher-py/app.py"
build_once fetcher_py "$fetcher_py_inputs" \
    "$tools/py/bin/componentize-py" -d wit -w warren-http-actor \
    --import-interface-name wasi:http/types@0.2.0=http_types \
    --import-interface-name warren:actor/types@0.1.0=types componentize app \
    -p tests/guests/fetcher-py -p "$sdk_py" -o "$out/fetcher_py.wasm"

js_inputs="wit/actor.wit $sdk_js/index.js examples/js-counter/counter.js scripts/componentize-js.mjs"
build_once counter_js "$js_inputs" \
    node "$tools/node/componentize-js.mjs" examples/js-counter/counter.js wit \
    "$out/counter_js.wasm" --sdk "$sdk_js"
# The same counter with StarlingMonkey's fetch() on: it imports wasi:http.
build_once counter_js_http "$js_inputs" \
    node "$tools/node/componentize-js.mjs" examples/js-counter/counter.js wit \
    "$out/counter_js_http.wasm" --sdk "$sdk_js" --http
fetcher_js_inputs="wit/actor.wit $sdk_js/index.js tests/guests/fetcher-js/fetcher.js scripts/componentize-js.mjs"
build_once fetcher_js "$fetcher_js_inputs" \
    node "$tools/node/componentize-js.mjs" tests/guests/fetcher-js/fetcher.js wit \
    "$out/fetcher_js.wasm" --sdk "$sdk_js" --http
