//! The crate graph keeps its layers: what each workspace crate builds must not reach the
//! crates its layer has no business with. Read from `cargo metadata`, so a dependency that
//! crosses a layer fails here however it got in (directly or through another crate).

use std::collections::{BTreeSet, HashMap};
use std::process::Command;

use serde_json::Value;

/// Crates a workspace crate must not build, directly or through another crate. The CLI is
/// a pure HTTP client: no Wasm engine, no database, no host.
const FORBIDDEN: &[(&str, &[&str])] = &[
    (
        "warren-cli",
        &[
            "wasmtime",
            "wasmtime-wasi",
            "cranelift-codegen",
            "sled",
            "tokio-postgres",
            "warren-host",
        ],
    ),
    // The wire formats: decoders of outside input, which the fuzzers build on their own.
    (
        "warren-wire",
        &["wasmtime", "tokio-postgres", "warren-host"],
    ),
];

/// The workspace's resolved graph: each package's name and what it builds with (its
/// normal and build dependencies; dev-dependencies build only its tests).
fn crate_graph() -> (HashMap<String, String>, HashMap<String, Vec<String>>) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    // This machine's platform only: the others' crates were never downloaded, and
    // `--offline` cannot read them.
    let version = Command::new(&cargo)
        .arg("-vV")
        .output()
        .expect("cargo -vV runs");
    let version = String::from_utf8_lossy(&version.stdout);
    let host = version
        .lines()
        .find_map(|line| line.strip_prefix("host: "))
        .expect("cargo names its host platform");
    let output = Command::new(&cargo)
        .args(["metadata", "--format-version", "1", "--offline"])
        .args(["--filter-platform", host])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    assert!(
        output.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: Value = serde_json::from_slice(&output.stdout).expect("cargo metadata's JSON");
    let names: HashMap<String, String> = metadata["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .map(|p| {
            (
                p["id"].as_str().unwrap_or_default().to_string(),
                p["name"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let mut edges = HashMap::new();
    for node in metadata["resolve"]["nodes"]
        .as_array()
        .expect("the resolved graph")
    {
        let builds_with = node["deps"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|dep| {
                dep["dep_kinds"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|kind| kind["kind"].as_str() != Some("dev"))
            })
            .filter_map(|dep| dep["pkg"].as_str().map(str::to_string))
            .collect();
        edges.insert(
            node["id"].as_str().unwrap_or_default().to_string(),
            builds_with,
        );
    }
    (names, edges)
}

/// The names of every crate `root` builds with, itself excluded.
fn reached(
    root: &str,
    names: &HashMap<String, String>,
    edges: &HashMap<String, Vec<String>>,
) -> BTreeSet<String> {
    let start = names
        .iter()
        .find(|(_, name)| *name == root)
        .map(|(id, _)| id.clone())
        .unwrap_or_else(|| panic!("{root} is not in the workspace"));
    let mut seen = BTreeSet::new();
    let mut todo = vec![start];
    while let Some(id) = todo.pop() {
        for dep in edges.get(&id).into_iter().flatten() {
            if seen.insert(dep.clone()) {
                todo.push(dep.clone());
            }
        }
    }
    seen.iter()
        .filter_map(|id| names.get(id).cloned())
        .collect()
}

#[test]
fn no_crate_builds_what_its_layer_forbids() {
    let (names, edges) = crate_graph();
    let mut crossings = Vec::new();
    for (krate, forbidden) in FORBIDDEN {
        let builds = reached(krate, &names, &edges);
        for name in *forbidden {
            if builds.contains(*name) {
                crossings.push(format!("{krate} builds {name}"));
            }
        }
    }
    assert!(crossings.is_empty(), "layers crossed: {crossings:?}");
    // The check sees the graph: the host does build the engine the CLI must not.
    assert!(reached("warren-host", &names, &edges).contains("wasmtime"));
}
