//! The in-process setup shared by the figures and the criterion benches: a runtime core on
//! a fresh sled store with guests deployed, calls to send it, and an empty store for floors.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use warren_host::runtime::{ActorId, Invocation, Runtime, RuntimeConfig};
use warren_host::store::{Durability, SledStore, StateStore};
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
    let store = SledStore::open(&dir.join("store"), durability)?;
    let wasm = WasmEngine::new(config, &dir.join("artifacts"))?;
    let runtime = Runtime::new(
        RuntimeConfig::default(),
        store as Arc<dyn StateStore>,
        wasm.clone(),
    );
    runtime.load_tenants().await?;
    for g in guests {
        runtime
            .deploy("default", None, std::fs::read(guest(g))?)
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

/// A store with nothing in it, so the floor measures the instance and not sled.
pub struct NoStore;

impl StateStore for NoStore {
    fn get(&self, _: &ActorId, _: &str) -> Result<Option<Vec<u8>>, warren_host::store::StoreError> {
        Ok(None)
    }
    fn keys(&self, _: &ActorId, _: &str) -> Result<Vec<String>, warren_host::store::StoreError> {
        Ok(Vec::new())
    }
    fn commit(
        &self,
        _: &ActorId,
        _: Vec<warren_host::store::StateChange>,
    ) -> warren_host::store::StoreFuture<'_, ()> {
        Box::pin(async { Ok(()) })
    }
    fn put_component(
        &self,
        _: &warren_host::store::ComponentRecord,
        _: &[u8],
    ) -> warren_host::store::StoreFuture<'_, ()> {
        Box::pin(async { Ok(()) })
    }
    fn components(
        &self,
    ) -> Result<Vec<warren_host::store::ComponentRecord>, warren_host::store::StoreError> {
        Ok(Vec::new())
    }
    fn component_wasm(
        &self,
        _: &str,
        _: &str,
    ) -> Result<Option<Vec<u8>>, warren_host::store::StoreError> {
        Ok(None)
    }
    fn remove_component(&self, _: &str, _: &str) -> warren_host::store::StoreFuture<'_, bool> {
        Box::pin(async { Ok(false) })
    }
    fn put_reminder(
        &self,
        _: &ActorId,
        _: &str,
        _: Vec<u8>,
    ) -> warren_host::store::StoreFuture<'_, ()> {
        Box::pin(async { Ok(()) })
    }
    fn delete_reminder(&self, _: &ActorId, _: &str) -> warren_host::store::StoreFuture<'_, ()> {
        Box::pin(async { Ok(()) })
    }
    fn reminders(&self) -> Result<Vec<(ActorId, String, Vec<u8>)>, warren_host::store::StoreError> {
        Ok(Vec::new())
    }
    fn actor_state_size(&self, _: &ActorId) -> Result<u64, warren_host::store::StoreError> {
        Ok(0)
    }
    fn tenant_state_size(&self, _: &str) -> Result<u64, warren_host::store::StoreError> {
        Ok(0)
    }
    fn put_tenant(&self, _: &str, _: Vec<u8>) -> warren_host::store::StoreFuture<'_, ()> {
        Box::pin(async { Ok(()) })
    }
    fn tenants(&self) -> Result<Vec<Vec<u8>>, warren_host::store::StoreError> {
        Ok(Vec::new())
    }
    fn delete_tenant(&self, _: &str) -> warren_host::store::StoreFuture<'_, ()> {
        Box::pin(async { Ok(()) })
    }
    fn flush(&self) -> warren_host::store::StoreFuture<'_, ()> {
        Box::pin(async { Ok(()) })
    }
}
