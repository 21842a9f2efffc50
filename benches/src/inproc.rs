//! The in-process setup shared by the figures and the criterion benches: a runtime core on
//! a fresh sled store with guests deployed, calls to send it, and an empty state for floors.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use warren_host::runtime::{
    ActorId, DeployOptions, HeldRecord, Invocation, Runtime, RuntimeConfig,
};
use warren_host::store::{ActorRecord, Durability, SledStore, StateStore};
use warren_host::wasm::{WasmConfig, WasmEngine};

use crate::procs::guest;

/// An in-process runtime on a fresh store with the named guests deployed.
pub async fn runtime(
    dir: &Path,
    durability: Durability,
    guests: &[&str],
) -> anyhow::Result<(Runtime, Arc<WasmEngine>)> {
    runtime_with(dir, durability, guests, WasmConfig::default()).await
}

/// [`runtime`] with a Wasm engine configuration.
pub async fn runtime_with(
    dir: &Path,
    durability: Durability,
    guests: &[&str],
    config: WasmConfig,
) -> anyhow::Result<(Runtime, Arc<WasmEngine>)> {
    runtime_configured(dir, durability, guests, config, RuntimeConfig::default()).await
}

/// [`runtime_with`] with a runtime configuration.
pub async fn runtime_configured(
    dir: &Path,
    durability: Durability,
    guests: &[&str],
    config: WasmConfig,
    runtime_config: RuntimeConfig,
) -> anyhow::Result<(Runtime, Arc<WasmEngine>)> {
    let store = SledStore::open(&dir.join("store"), durability)?;
    let wasm = WasmEngine::new(config, &dir.join("artifacts"))?;
    let runtime = Runtime::new(runtime_config, store as Arc<dyn StateStore>, wasm.clone());
    runtime.load_tenants().await?;
    for g in guests {
        runtime
            .deploy(
                "default",
                None,
                std::fs::read(guest(g))?,
                DeployOptions::default(),
            )
            .await?;
    }
    Ok((runtime, wasm))
}

/// A call of `action` on `actor`, due within 30 s.
pub fn call(actor: ActorId, action: &str, payload: &[u8]) -> Invocation {
    Invocation::call(
        actor,
        action,
        payload.to_vec(),
        Instant::now() + Duration::from_secs(30),
    )
}

/// An actor's state with nothing in it, so the floor measures the instance and not the
/// store.
pub fn empty_state() -> Arc<HeldRecord> {
    HeldRecord::loaded(ActorRecord::default())
}
