//! The crate graph keeps its layers: what each workspace crate builds must not reach the
//! crates its layer has no business with. Read from `cargo tree`, which resolves a
//! crate's dependencies and features as `cargo build -p CRATE` would, so a dependency that
//! crosses a layer fails here however it got in (directly or through another crate).

use std::collections::BTreeSet;
use std::process::Command;

/// Crates a workspace crate must not build, directly or through another crate.
const FORBIDDEN: &[(&str, &[&str])] = &[
    // The CLI is a pure HTTP client: no Wasm engine, no database, no host.
    (
        "warren-cli",
        &[
            "wasmtime",
            "wasmtime-wasi",
            "cranelift-codegen",
            "sled",
            "tokio-postgres",
            "warren-core",
            "warren-host",
        ],
    ),
    // The core names no engine and no database; backends and stores implement its ports.
    (
        "warren-core",
        &[
            "wasmtime",
            "wasmtime-wasi",
            "cranelift-codegen",
            "sled",
            "tokio-postgres",
            "deadpool-postgres",
            "warren-wasm",
            "warren-cluster",
            "warren-protocol",
            "warren-host",
            "warren-cli",
        ],
    ),
    // The Wasm backend runs components behind the core's ports: no store, no host.
    ("warren-wasm", &["sled", "tokio-postgres", "warren-host"]),
    // Cluster mode places and forwards turns on the store's membership port: it runs no
    // component and knows no database.
    (
        "warren-cluster",
        &[
            "wasmtime",
            "sled",
            "tokio-postgres",
            "deadpool-postgres",
            "warren-store-postgres",
            "warren-wasm",
            "warren-host",
        ],
    ),
    // The storage port knows actors by their ids only: no runtime, no engine, no database.
    (
        "warren-store",
        &[
            "wasmtime",
            "sled",
            "tokio-postgres",
            "warren-core",
            "warren-host",
        ],
    ),
    // A store implements the port, and knows no runtime, no engine, no other store, no
    // host.
    (
        "warren-store-sled",
        &["wasmtime", "tokio-postgres", "warren-core", "warren-host"],
    ),
    (
        "warren-store-postgres",
        &["wasmtime", "sled", "warren-core", "warren-host"],
    ),
    // The protocol seam: what the protocols share, on the core alone.
    (
        "warren-protocol",
        &[
            "wasmtime",
            "sled",
            "tokio-postgres",
            "warren-wasm",
            "warren-cluster",
            "warren-dapr",
            "warren-spawn",
            "warren-opaca",
            "warren-host",
        ],
    ),
    // A protocol translates into the core's calls: no engine, no store, no cluster, no
    // other protocol, no host.
    (
        "warren-dapr",
        &[
            "wasmtime",
            "sled",
            "tokio-postgres",
            "warren-wasm",
            "warren-cluster",
            "warren-spawn",
            "warren-opaca",
            "warren-host",
        ],
    ),
    (
        "warren-spawn",
        &[
            "wasmtime",
            "sled",
            "tokio-postgres",
            "warren-wasm",
            "warren-cluster",
            "warren-dapr",
            "warren-opaca",
            "warren-host",
        ],
    ),
    (
        "warren-opaca",
        &[
            "wasmtime",
            "sled",
            "tokio-postgres",
            "warren-wasm",
            "warren-cluster",
            "warren-dapr",
            "warren-spawn",
            "warren-host",
        ],
    ),
    // TLS knows certificates and sockets: no runtime, no engine, no database, no protocol.
    (
        "warren-tls",
        &[
            "wasmtime",
            "sled",
            "tokio-postgres",
            "warren-core",
            "warren-protocol",
            "warren-cluster",
            "warren-host",
        ],
    ),
    // The wire formats: decoders of outside input, which the fuzzers build on their own.
    (
        "warren-wire",
        &["wasmtime", "tokio-postgres", "warren-core", "warren-host"],
    ),
];

/// The names of every crate `krate` builds with (normal and build dependencies, for this
/// machine's platform; dev-dependencies build only its tests), itself included.
fn builds(krate: &str) -> BTreeSet<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .args(["tree", "--offline", "-p", krate, "-e", "normal,build"])
        .args(["--prefix", "none", "--format", "{p}"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo tree runs");
    assert!(
        output.status.success(),
        "cargo tree -p {krate} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

#[test]
fn no_crate_builds_what_its_layer_forbids() {
    let mut crossings = Vec::new();
    for (krate, forbidden) in FORBIDDEN {
        let built = builds(krate);
        assert!(built.contains(*krate), "cargo tree did not list {krate}");
        for name in *forbidden {
            if built.contains(*name) {
                crossings.push(format!("{krate} builds {name}"));
            }
        }
    }
    assert!(crossings.is_empty(), "layers crossed: {crossings:?}");
    // The check sees the graph: the host does build what the core and the CLI must not.
    let host = builds("warren-host");
    assert!(host.contains("wasmtime") && host.contains("warren-core"));
}
