//! The store data of one guest instance, and the host side of each WIT import.

mod actors;
mod platform;
mod state;
mod workflow;

use std::sync::Arc;
use std::time::Instant;

use wasmtime::component::{HasData, Linker, ResourceTable};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_config::{WasiConfig, WasiConfigVariables};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use super::egress::{EgressHooks, TurnEgress};
use super::limits::MemoryLimiter;
use super::stdio::GuestOutput;
use warren_core::runtime::config::ComponentConfig;
use warren_core::runtime::egress::TenantEgress;
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
    /// The configuration values of the actor's component, if it has any.
    pub config: Option<Arc<ComponentConfig>>,
    /// What the turn may send out.
    pub egress: TenantEgress,
    /// The actor, as logs name it.
    pub label: String,
}

impl TurnHost {
    /// What the turn's outbound requests go out under.
    pub fn egress(&self) -> TurnEgress {
        TurnEgress {
            egress: self.egress.clone(),
            runtime: self.runtime.clone(),
            actor: self.label.clone(),
            trace: self.trace.clone(),
            deadline: self.deadline,
            refusals_logged: Default::default(),
        }
    }
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
    /// What the guest reads through `wasi:config/store`: the values of the turn's
    /// component (none in `describe`).
    pub config: WasiConfigVariables,
    /// The state of `wasi:http` (its field size limit).
    pub http: WasiHttpCtx,
    /// How the guest's outbound requests go out: under the turn's egress policy.
    pub egress: EgressHooks,
}

/// The `wasi:config` values of a component's turn.
pub fn config_variables(config: Option<&ComponentConfig>) -> WasiConfigVariables {
    config
        .map(|c| {
            c.values
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect()
        })
        .unwrap_or_default()
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for HostState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            hooks: &mut self.egress,
            table: &mut self.table,
            ctx: &mut self.http,
        }
    }
}

/// A guest that uses actor imports inside `describe`, where there is no turn.
fn no_turn() -> wasmtime::Error {
    wasmtime::Error::msg("actor imports are not available in `describe`")
}

/// What the host sides of `actors` and `platform` see of an instance's data: the turn it
/// runs (none in `describe`), and nothing of WASI, the resource table or the limiter.
pub struct TurnView<'a>(Option<&'a mut TurnHost>);

impl TurnView<'_> {
    /// The turn, or a trap in `describe`.
    fn turn(&mut self) -> wasmtime::Result<&mut TurnHost> {
        self.0.as_deref_mut().ok_or_else(no_turn)
    }
}

/// What the host sides of `state` and `workflow` see: only the turn's staged state.
pub struct StagedView<'a>(Option<&'a mut TurnState>);

impl StagedView<'_> {
    /// The turn's staged state, or a trap in `describe`.
    fn staged(&mut self) -> wasmtime::Result<&mut TurnState> {
        self.0.as_deref_mut().ok_or_else(no_turn)
    }
}

impl super::bindings::types::Host for TurnView<'_> {}

/// The interfaces whose host sides see a [`TurnView`].
struct TurnImports;

impl HasData for TurnImports {
    type Data<'a> = TurnView<'a>;
}

/// The interfaces whose host sides see a [`StagedView`].
struct StagedImports;

impl HasData for StagedImports {
    type Data<'a> = StagedView<'a>;
}

fn turn_view(data: &mut HostState) -> TurnView<'_> {
    TurnView(data.turn.as_mut())
}

fn staged_view(data: &mut HostState) -> StagedView<'_> {
    StagedView(data.turn.as_mut().map(|turn| &mut turn.state))
}

/// Link Warren's interfaces, each on the narrowest view of an instance's data that its
/// host side needs (as wasmtime-wasi gives each of its interfaces a view of its own).
pub fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    use crate::bindings::warren::actor::{actors, platform, state, types, workflow};
    types::add_to_linker::<HostState, TurnImports>(linker, turn_view)?;
    state::add_to_linker::<HostState, StagedImports>(linker, staged_view)?;
    workflow::add_to_linker::<HostState, StagedImports>(linker, staged_view)?;
    actors::add_to_linker::<HostState, TurnImports>(linker, turn_view)?;
    platform::add_to_linker::<HostState, TurnImports>(linker, turn_view)?;
    wasmtime_wasi_config::add_to_linker(linker, config_view)?;
    Ok(())
}

/// What the host side of `wasi:config/store` sees: the turn's values only.
fn config_view(state: &mut HostState) -> WasiConfig<'_> {
    WasiConfig::new(&state.config)
}
