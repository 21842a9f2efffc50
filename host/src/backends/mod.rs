//! Actor types implemented outside Warren: external apps that the runtime core calls for
//! each turn, as it calls a Wasm instance.

pub mod answer;
pub mod dapr_app;
pub mod opaca_process;
pub mod spawn_sdk;
pub mod stream;
