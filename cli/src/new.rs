//! `warren new rust|python|js NAME`: a ready-to-build actor project, from templates
//! embedded in the binary. Each project carries Warren's WIT and its language's guest
//! helper, so it builds offline of this repository.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

/// The languages an actor project can be written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Language {
    Rust,
    Python,
    Js,
}

/// Arguments of `warren new`.
#[derive(clap::Args)]
pub struct NewArgs {
    /// The project's language.
    language: Language,
    /// The project's name, which is also its actor type's: lower-case letters, digits
    /// and dashes, starting with a letter.
    name: String,
    /// Where to create the project directory (default: the current directory).
    #[arg(long, default_value = ".")]
    dir: PathBuf,
}

const WIT: &str = include_str!("../../wit/actor.wit");
/// `wasi:config/store`, which the actor world imports.
const WIT_CONFIG: &str = include_str!("../../wit/deps/config/store.wit");
/// `wasi:http` and what it names, which the `warren-http-actor` world imports.
const WIT_HTTP: [(&str, &str); 3] = [
    (
        "wit/deps/http/http.wit",
        include_str!("../../wit/deps/http/http.wit"),
    ),
    (
        "wit/deps/io/io.wit",
        include_str!("../../wit/deps/io/io.wit"),
    ),
    (
        "wit/deps/clocks/monotonic-clock.wit",
        include_str!("../../wit/deps/clocks/monotonic-clock.wit"),
    ),
];

/// The files of a project in `language`: path and text, with `{{name}}` standing for its
/// name. The actor itself is the language's counter example, whose quoted `counter` (its
/// type and component name) becomes the project's name.
fn files(language: Language) -> Vec<(&'static str, &'static str)> {
    let mut files = vec![
        ("wit/actor.wit", WIT),
        ("wit/deps/config/store.wit", WIT_CONFIG),
    ];
    files.extend(WIT_HTTP);
    files.extend(match language {
        Language::Rust => vec![
            ("Cargo.toml", include_str!("templates/rust/Cargo.toml")),
            (
                "src/lib.rs",
                include_str!("../../examples/counter/src/lib.rs"),
            ),
            (".gitignore", "/target\n/*.wasm\n"),
            (
                "warren-guest/Cargo.toml",
                include_str!("templates/rust/guest-Cargo.toml"),
            ),
            (
                "warren-guest/src/lib.rs",
                include_str!("../../guest-sdk/src/lib.rs"),
            ),
            (
                "warren-guest/src/manifest.rs",
                include_str!("../../guest-sdk/src/manifest.rs"),
            ),
            (
                "warren-guest/src/state.rs",
                include_str!("../../guest-sdk/src/state.rs"),
            ),
            (
                "warren-guest/src/config.rs",
                include_str!("../../guest-sdk/src/config.rs"),
            ),
            (
                "warren-guest/src/http.rs",
                include_str!("../../guest-sdk/src/http.rs"),
            ),
        ],
        Language::Python => vec![
            (
                "app.py",
                include_str!("../../examples/python-counter/app.py"),
            ),
            (".gitignore", "/.venv\n/*.wasm\n__pycache__/\n"),
            (
                "warren_actor/__init__.py",
                include_str!("../../guest-sdk/python/src/warren_actor/__init__.py"),
            ),
            (
                "warren_actor/http.py",
                include_str!("../../guest-sdk/python/src/warren_actor/http.py"),
            ),
        ],
        Language::Js => vec![
            ("package.json", include_str!("templates/js/package.json")),
            (
                "actor.js",
                include_str!("../../examples/js-counter/counter.js"),
            ),
            (".gitignore", "/node_modules\n/*.wasm\n"),
            (
                "build.mjs",
                include_str!("../../scripts/componentize-js.mjs"),
            ),
            (
                "warren-actor/package.json",
                include_str!("../../guest-sdk/js/package.json"),
            ),
            (
                "warren-actor/index.js",
                include_str!("../../guest-sdk/js/index.js"),
            ),
        ],
    });
    files
}

/// Whether `name` can name a project, a package of each language and an actor type.
fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.ends_with('-')
        && name.len() <= 64
}

/// Write the project; returns its directory.
pub fn create(args: &NewArgs) -> anyhow::Result<PathBuf> {
    if !valid_name(&args.name) {
        bail!(
            "{:?} cannot name a project: use lower-case letters, digits and dashes, starting with a letter",
            args.name
        );
    }
    let root = args.dir.join(&args.name);
    if root.exists() {
        bail!("{} exists already", root.display());
    }
    let quoted = |q: &str| (format!("{q}counter{q}"), format!("{q}{}{q}", args.name));
    let [(double, double_named), (single, single_named)] = [quoted("\""), quoted("'")];
    for (path, text) in files(args.language) {
        let text = text
            .replace("{{name}}", &args.name)
            .replace(&double, &double_named)
            .replace(&single, &single_named);
        write(&root.join(path), &text)?;
    }
    Ok(root)
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

/// `warren new`.
pub fn run(args: NewArgs) -> anyhow::Result<()> {
    let root = create(&args)?;
    eprintln!(
        "created {}: build it with `cd {} && warren build`, then `warren deploy {}.wasm`",
        root.display(),
        root.display(),
        args.name
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_suit_every_language_are_accepted() {
        for good in ["counter", "a", "my-actor2"] {
            assert!(valid_name(good), "{good}");
        }
        for bad in ["", "Counter", "2x", "my_actor", "a-", "a b", "../x"] {
            assert!(!valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn every_template_names_its_project() {
        for language in [Language::Rust, Language::Python, Language::Js] {
            let files = files(language);
            let named = |text: &str| {
                ["{{name}}", "\"counter\"", "'counter'"]
                    .iter()
                    .any(|n| text.contains(n))
            };
            assert!(files.iter().any(|(_, text)| named(text)), "{language:?}");
            assert!(files.iter().any(|(path, _)| *path == "wit/actor.wit"));
        }
        let dir = tempfile::tempdir().unwrap();
        let args = NewArgs {
            language: Language::Js,
            name: "tally".into(),
            dir: dir.path().to_path_buf(),
        };
        let root = create(&args).unwrap();
        let actor = std::fs::read_to_string(root.join("actor.js")).unwrap();
        assert!(actor.contains("name: 'tally'") && !actor.contains("'counter'"));
    }
}
