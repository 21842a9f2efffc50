//! `warren build`: build the actor project in a directory into `NAME.wasm` with its
//! language's tool: cargo for Rust, componentize-py for Python, componentize-js (after
//! an esbuild bundle) for JavaScript. The Python and JavaScript tools are found in
//! `WARREN_GUEST_TOOLS` (as scripts/guest-tools.sh installs them), else on the PATH or
//! in the project (`npm install`), else installed into the project (`.venv`), pinned.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

use super::new::Language;

/// The componentize-py the templates are tested with.
const COMPONENTIZE_PY: &str = "componentize-py==0.25.1";

/// componentize-py's world and module names for a Python actor that sends HTTP requests:
/// both `types` interfaces would otherwise get qualified module names, and the SDK
/// imports Warren's as `types`.
const PYTHON_HTTP_ARGS: [&str; 6] = [
    "-w",
    "warren-http-actor",
    "--import-interface-name",
    "wasi:http/types@0.2.0=http_types",
    "--import-interface-name",
    "warren:actor/types@0.1.0=types",
];

/// Arguments of `warren build`.
#[derive(clap::Args)]
pub struct BuildArgs {
    /// The project directory (default: the current directory).
    #[arg(default_value = ".")]
    dir: PathBuf,
    /// Let the actor send HTTP requests: `fetch()` in JavaScript (the component then
    /// imports `wasi:http`, and starts a little slower), `warren_actor.http` in Python.
    /// Rust actors import `wasi:http` when they use `warren_guest::http`.
    #[arg(long)]
    http: bool,
}

/// The language of the project in `dir`, from the file its build starts at.
fn language(dir: &Path) -> anyhow::Result<Language> {
    let has = |file: &str| dir.join(file).is_file();
    Ok(if has("Cargo.toml") {
        Language::Rust
    } else if has("app.py") {
        Language::Python
    } else if has("package.json") {
        Language::Js
    } else {
        bail!(
            "{} holds no actor project (Cargo.toml, app.py or package.json); make one with `warren new`",
            dir.display()
        )
    })
}

/// Run `command`, failing with its name when it fails.
fn run(mut command: Command, what: &str) -> anyhow::Result<()> {
    let status = command
        .status()
        .with_context(|| format!("cannot run {what}"))?;
    if !status.success() {
        bail!("{what} failed ({status})");
    }
    Ok(())
}

/// Whether `program` runs (it is on the PATH).
fn runs(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn tools() -> Option<PathBuf> {
    std::env::var_os("WARREN_GUEST_TOOLS").map(PathBuf::from)
}

/// componentize-py: the guest tools', the PATH's, or one installed into the project.
fn componentize_py(dir: &Path) -> anyhow::Result<PathBuf> {
    if let Some(tools) = tools() {
        return Ok(tools.join("py/bin/componentize-py"));
    }
    if runs("componentize-py") {
        return Ok(PathBuf::from("componentize-py"));
    }
    let venv = dir.join(".venv");
    if !venv.join("bin/componentize-py").exists() {
        eprintln!("installing {COMPONENTIZE_PY} into {}", venv.display());
        let mut python = Command::new("python3");
        python.arg("-m").arg("venv").arg(&venv);
        run(python, "python3 -m venv")?;
        let mut pip = Command::new(venv.join("bin/pip"));
        pip.args(["install", "--quiet", COMPONENTIZE_PY]);
        run(pip, "pip install componentize-py")?;
    }
    Ok(venv.join("bin/componentize-py"))
}

/// Build the project in `dir`; returns the component's path.
pub fn build(dir: &Path, http: bool) -> anyhow::Result<PathBuf> {
    let dir = dir
        .canonicalize()
        .with_context(|| format!("no directory {}", dir.display()))?;
    let name = dir
        .file_name()
        .and_then(|n| n.to_str())
        .context("the project directory has no name")?
        .to_string();
    let out = dir.join(format!("{name}.wasm"));
    match language(&dir)? {
        Language::Rust => {
            let mut cargo = Command::new("cargo");
            cargo
                .args(["build", "--release", "--target", "wasm32-wasip2"])
                .current_dir(&dir);
            run(cargo, "cargo build --target wasm32-wasip2")?;
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| dir.join("target"));
            let built = target
                .join("wasm32-wasip2/release")
                .join(format!("{}.wasm", name.replace('-', "_")));
            std::fs::copy(&built, &out)
                .with_context(|| format!("cannot copy {}", built.display()))?;
        }
        Language::Python => {
            let mut componentize = Command::new(componentize_py(&dir)?);
            match http {
                true => componentize.args(["-d", "wit"]).args(PYTHON_HTTP_ARGS),
                false => componentize.args(["-d", "wit", "-w", "warren-actor"]),
            };
            componentize
                .args(["componentize", "app"])
                .args(["-p", ".", "-o"])
                .arg(&out)
                .current_dir(&dir);
            run(componentize, "componentize-py")?;
        }
        Language::Js => {
            let script = match tools() {
                Some(tools) => tools.join("node/componentize-js.mjs"),
                None => {
                    if !dir.join("node_modules").exists() {
                        let mut npm = Command::new("npm");
                        npm.args(["install", "--no-audit", "--no-fund"])
                            .current_dir(&dir);
                        run(npm, "npm install")?;
                    }
                    dir.join("build.mjs")
                }
            };
            let mut node = Command::new("node");
            node.arg(script)
                .args(["actor.js", "wit"])
                .arg(&out)
                .args(["--sdk", "warren-actor"])
                .args(http.then_some("--http"))
                .current_dir(&dir);
            run(node, "componentize-js")?;
        }
    }
    Ok(out)
}

/// `warren build`.
pub fn run_build(args: BuildArgs) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let out = build(&args.dir, args.http)?;
    let size = std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0);
    eprintln!(
        "built {} ({size} bytes) in {:.1} s; deploy it with `warren deploy {}`",
        out.display(),
        started.elapsed().as_secs_f64(),
        out.display()
    );
    Ok(())
}
