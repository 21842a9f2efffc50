//! Host side of `warren:actor/state`: the turn's staged view of its actor's state.

use super::StagedView;
use crate::bindings::warren::actor::state::Host;
use warren_core::runtime::is_host_key;

/// A store failure is not the guest's to handle: it traps the turn, which drops its writes.
fn trap(e: warren_core::types::StoreError) -> wasmtime::Error {
    wasmtime::Error::msg(format!("state store failed: {e}"))
}

/// Keys starting with U+0001 hold the host's own bookkeeping; a guest touching one is a bug
/// in the guest, stopped before it can corrupt that bookkeeping.
fn guest_key(key: &str) -> wasmtime::Result<()> {
    if is_host_key(key) {
        return Err(wasmtime::Error::msg(
            warren_core::runtime::StateError::ReservedKey(key.to_string()).to_string(),
        ));
    }
    Ok(())
}

impl Host for StagedView<'_> {
    async fn get(&mut self, key: String) -> wasmtime::Result<Option<Vec<u8>>> {
        guest_key(&key)?;
        self.staged()?.get(&key).map_err(trap)
    }

    async fn set(&mut self, key: String, value: Vec<u8>) -> wasmtime::Result<()> {
        guest_key(&key)?;
        self.staged()?.set(key, value);
        Ok(())
    }

    async fn delete(&mut self, key: String) -> wasmtime::Result<()> {
        guest_key(&key)?;
        self.staged()?.delete(key);
        Ok(())
    }

    async fn keys(&mut self, prefix: String) -> wasmtime::Result<Vec<String>> {
        self.staged()?.keys(&prefix).map_err(trap)
    }
}
