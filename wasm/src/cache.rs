//! Compiled components cached on disk, so a restart serves without recompiling.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use wasmtime::Engine;
use wasmtime::component::Component;

/// Counts of what the cache did, for the admin API and tests.
#[derive(Default)]
pub struct CacheStats {
    pub compiles: AtomicU64,
    pub hits: AtomicU64,
}

/// A directory of `.cwasm` files keyed by the `.wasm` hash and the engine's compatibility
/// hash: a new wasmtime or a changed engine setting never loads a stale artifact.
pub struct ArtifactCache {
    dir: PathBuf,
    engine_key: String,
    pub stats: CacheStats,
}

impl ArtifactCache {
    /// A cache in `dir` for artifacts compiled by `engine`.
    pub fn new(dir: &Path, engine: &Engine) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        Ok(ArtifactCache {
            dir: dir.to_path_buf(),
            engine_key: format!("{:016x}", hasher.finish()),
            stats: CacheStats::default(),
        })
    }

    /// Where the artifact of the `.wasm` with hash `sha256` is kept.
    pub fn path(&self, sha256: &str) -> PathBuf {
        self.dir.join(format!("{sha256}-{}.cwasm", self.engine_key))
    }

    /// The cached artifact of `sha256`, if there is a usable one.
    pub fn load(&self, engine: &Engine, sha256: &str) -> Option<Component> {
        let path = self.path(sha256);
        if !path.exists() {
            return None;
        }
        // SAFETY: the file was written by `Component::serialize` or
        // `Engine::precompile_component` of an engine with the same compatibility hash, into
        // the host's own data dir; `deserialize_file` still checks the header and rejects
        // an incompatible artifact.
        match unsafe { Component::deserialize_file(engine, &path) } {
            Ok(component) => {
                self.stats.hits.fetch_add(1, Ordering::Relaxed);
                Some(component)
            }
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "discarding unreadable artifact");
                None
            }
        }
    }

    /// Compile `wasm` in this process and cache its artifact (the caller found none).
    /// Compilation errors are the caller's to report: the bytes are bad.
    pub fn compile_here(
        &self,
        engine: &Engine,
        wasm: &[u8],
        sha256: &str,
    ) -> wasmtime::Result<Component> {
        let component = Component::new(engine, wasm)?;
        self.stats.compiles.fetch_add(1, Ordering::Relaxed);
        let path = self.path(sha256);
        // Written whole then renamed, so a crash never leaves half an artifact.
        let scratch = self.scratch_path(sha256);
        let stored = component
            .serialize()
            .and_then(|bytes| Ok(std::fs::write(&scratch, bytes)?))
            .and_then(|()| Ok(std::fs::rename(&scratch, &path)?));
        if let Err(e) = stored {
            let _ = std::fs::remove_file(&scratch);
            tracing::warn!(path = %path.display(), error = %e, "cannot cache compiled artifact");
        }
        Ok(component)
    }

    /// Take the artifact a compiler child wrote to `written` as `sha256`'s, and load it.
    pub fn adopt(
        &self,
        engine: &Engine,
        written: &Path,
        sha256: &str,
    ) -> wasmtime::Result<Component> {
        let path = self.path(sha256);
        std::fs::rename(written, &path)?;
        self.stats.compiles.fetch_add(1, Ordering::Relaxed);
        // SAFETY: as in `load`: written by a child of this host with the same settings.
        unsafe { Component::deserialize_file(engine, &path) }
    }

    /// A fresh temporary path in the cache's directory, to write an artifact to before it
    /// is renamed into place.
    pub fn scratch_path(&self, sha256: &str) -> PathBuf {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        self.dir
            .join(format!("{sha256}.tmp{}-{n}", std::process::id()))
    }
}
