//! The store data of one guest instance, and the host side of each WIT import.

mod actors;
mod platform;
mod state;
mod workflow;

use std::time::Instant;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::limits::MemoryLimiter;
use super::stdio::GuestOutput;
use warren_core::runtime::{Runtime, TurnState};

/// What a turn's guest can reach through its imports.
pub struct TurnHost {
    pub state: TurnState,
    pub runtime: Runtime,
    /// The call chain of the turn, passed on with the calls it makes.
    pub reentrancy_id: Option<String>,
    pub deadline: Instant,
    /// The turn's trace headers, passed on with the calls and casts it makes.
    pub trace: Vec<(String, String)>,
}

/// Data of one wasmtime store: one guest instance for one turn (or one `describe`).
pub struct HostState {
    pub wasi: WasiCtx,
    pub table: ResourceTable,
    pub limiter: MemoryLimiter,
    /// `None` while describing a component: no actor, no state.
    pub turn: Option<TurnHost>,
    /// The current turn's deadline, read by the epoch callback.
    pub deadline: Instant,
    /// Handle to the guest's stdout (and stderr), to relabel a reused instance.
    pub output: GuestOutput,
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl super::bindings::types::Host for HostState {}

impl HostState {
    /// The turn this instance runs, or a trap for a guest that uses actor imports
    /// inside `describe`.
    fn turn(&mut self) -> wasmtime::Result<&mut TurnHost> {
        self.turn
            .as_mut()
            .ok_or_else(|| wasmtime::Error::msg("actor imports are not available in `describe`"))
    }
}
