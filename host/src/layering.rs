//! The layering inside the host and core crates, checked: which top-level module may
//! import which. The picture is ARCHITECTURE.md's; this test reads every source file's
//! `crate::`, `super::` and `self::` paths (outside comments), resolves them to the
//! top-level module they reach, and fails on an arrow the picture forbids. Between
//! crates, the crate graph holds the layers (`tests/all/layering.rs`).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// What each layer may import besides itself. The binary's modules (`serve`, `main`)
/// wire everything together and may import anything.
const ALLOWED: &[(&str, &[&str])] = &[
    // The leaf: plain types every layer shares (`types` and `wire` are the crate
    // `warren-wire`, re-exported; what they import of each other is that crate's own).
    ("types", &[]),
    // Protocol wire formats shared by an adapter and its backend.
    ("wire", &["types"]),
    // Storage knows nothing of actors beyond their ids.
    ("store", &["types"]),
    // The core names no backend and no protocol.
    ("runtime", &["types", "store"]),
    // Backends implement the core's trait.
    ("wasm", &["types", "runtime"]),
    // The host's own API calls the core; it never touches storage or instances.
    ("api", &["types", "runtime", "wire"]),
    // Span export hands the core a tracer and knows nothing else.
    ("otlp", &["runtime"]),
];

/// Source files under `dir`, recursively.
fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module path of a source file relative to `src`: `api/opaca/mod.rs` is
/// `[api, opaca]`, `runtime/turn.rs` is `[runtime, turn]`, `lib.rs` is `[]`.
fn module_of(relative: &Path) -> Vec<String> {
    let mut parts: Vec<String> = relative
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    if let Some(last) = parts.pop() {
        let stem = last.trim_end_matches(".rs");
        if !matches!(stem, "mod" | "lib" | "main") {
            parts.push(stem.to_string());
        }
    }
    parts
}

/// The top-level modules that `source`, the text of module `module`, reaches by path.
fn reached(module: &[String], source: &str) -> BTreeSet<String> {
    let code: String = source
        .lines()
        .map(|line| line.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    let mut found = BTreeSet::new();
    let mut rest = code.as_str();
    while let Some(at) = find_path_start(rest) {
        let path: String = rest[at..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
            .collect();
        rest = &rest[at + path.len()..];
        match resolve(module, &path) {
            Some(top) => {
                found.insert(top);
            }
            // `crate::{a::X, b}` (or `super::{..}` at the top): each item names a module.
            None if rest.starts_with('{') => {
                let group = rest[1..].split('}').next().unwrap_or("");
                for item in group.split(',') {
                    let name: String = item
                        .trim()
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    if !name.is_empty() {
                        found.insert(name);
                    }
                }
            }
            None => {}
        }
    }
    found
}

/// Where the next `crate::`, `super::` or `self::` path starts in `text`, at a word
/// boundary.
fn find_path_start(text: &str) -> Option<usize> {
    let mut best: Option<usize> = None;
    for prefix in ["crate::", "super::", "self::"] {
        let mut from = 0;
        while let Some(i) = text[from..].find(prefix) {
            let at = from + i;
            let boundary = text[..at]
                .chars()
                .next_back()
                .is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
            if boundary {
                best = Some(best.map_or(at, |b| b.min(at)));
                break;
            }
            from = at + prefix.len();
        }
    }
    best
}

/// The top-level module a path written in `module` reaches, if it names one.
fn resolve(module: &[String], path: &str) -> Option<String> {
    let mut segments = path.split("::").filter(|s| !s.is_empty());
    let first = segments.next()?;
    let mut base: Vec<String> = match first {
        "crate" => Vec::new(),
        "self" => module.to_vec(),
        "super" => module[..module.len().saturating_sub(1)].to_vec(),
        _ => return None,
    };
    for segment in segments {
        match segment {
            "super" => {
                base.pop();
            }
            // `{` starts a group: the group's names are at `base`'s level.
            name => {
                base.push(name.to_string());
                break;
            }
        }
    }
    base.into_iter().next()
}

/// Every forbidden import of the crate, as `file: layer -> layer`.
fn violations(src: &Path) -> Vec<String> {
    let mut files = Vec::new();
    sources(src, &mut files);
    let mut wrong = Vec::new();
    for file in files {
        let Ok(relative) = file.strip_prefix(src) else {
            continue;
        };
        let module = module_of(relative);
        let Some(layer) = module.first() else {
            continue;
        };
        let Some((_, allowed)) = ALLOWED.iter().find(|(name, _)| name == layer) else {
            continue;
        };
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        for top in reached(&module, &text) {
            let known = ALLOWED.iter().any(|(name, _)| *name == top);
            if known && top != *layer && !allowed.contains(&top.as_str()) {
                wrong.push(format!("{}: {layer} -> {top}", relative.display()));
            }
        }
    }
    wrong
}

#[test]
fn every_layer_imports_only_what_it_may() {
    // The host's layers, and the core's two (`runtime` over `store`): the crate graph
    // already keeps the core from reaching the host's.
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut wrong = violations(&manifest.join("src"));
    wrong.extend(violations(&manifest.join("../core/src")));
    assert!(
        wrong.is_empty(),
        "forbidden imports (see ARCHITECTURE.md):\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_check_sees_each_forbidden_arrow() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cases = [
        ("api/x.rs", "use crate::store::StateStore;", "api -> store"),
        (
            "api/dapr/x.rs",
            "use crate::wasm::WasmEngine;",
            "api -> wasm",
        ),
        (
            "store/x.rs",
            "use crate::runtime::Runtime;",
            "store -> runtime",
        ),
        (
            "types/x.rs",
            "use crate::runtime::Runtime;",
            "types -> runtime",
        ),
        (
            "runtime/x.rs",
            "use crate::api::dapr_http;",
            "runtime -> api",
        ),
        (
            "runtime/x.rs",
            "use crate::wasm::WasmEngine;",
            "runtime -> wasm",
        ),
        (
            "runtime/a/b.rs",
            "use super::super::super::wasm::X;",
            "runtime -> wasm",
        ),
    ];
    for (file, line, arrow) in cases {
        let path = dir.path().join(file);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, format!("{line}\n// use crate::api::Ignored;\n")).expect("write");
        let wrong = violations(dir.path());
        assert!(
            wrong.iter().any(|w| w.ends_with(arrow)),
            "{line:?} in {file} not caught as {arrow}: {wrong:?}"
        );
        std::fs::remove_file(&path).expect("remove");
    }
    std::fs::write(dir.path().join("x.rs"), "use crate::types::ActorId;").expect("write");
    assert!(violations(dir.path()).is_empty());
}
