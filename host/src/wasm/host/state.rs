//! Host side of `warren:actor/state`: the turn's staged view of its actor's state.

use super::HostState;
use crate::wasm::bindings::warren::actor::state::Host;

/// A store failure is not the guest's to handle: it traps the turn, which drops its writes.
fn trap(e: crate::types::StoreError) -> wasmtime::Error {
    wasmtime::Error::msg(format!("state store failed: {e}"))
}

impl Host for HostState {
    async fn get(&mut self, key: String) -> wasmtime::Result<Option<Vec<u8>>> {
        self.turn()?.state.get(&key).map_err(trap)
    }

    async fn set(&mut self, key: String, value: Vec<u8>) -> wasmtime::Result<()> {
        self.turn()?.state.set(key, value);
        Ok(())
    }

    async fn delete(&mut self, key: String) -> wasmtime::Result<()> {
        self.turn()?.state.delete(key);
        Ok(())
    }

    async fn keys(&mut self, prefix: String) -> wasmtime::Result<Vec<String>> {
        self.turn()?.state.keys(&prefix).map_err(trap)
    }
}
