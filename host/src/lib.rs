//! Warren: a host for virtual actors written as WebAssembly components.
//!
//! The crate mirrors the design: [`runtime`] is the core every protocol calls, [`wasm`]
//! runs components, [`store`] keeps state, and [`api`] holds the protocol adapters; the
//! wire formats and decoders of outside input are in the `warren-wire` crate.

pub mod api;
pub mod backends;
pub mod cluster;
pub mod otlp;
/// The runtime core (`warren-core`): every actor rule, once.
pub use warren_core::runtime;
pub mod store;
pub mod wasm;

/// Wire formats and decoders of outside input, apart from the runtime (`warren-wire`).
pub use warren_wire as wire;
/// The plain types every layer shares (in `warren-wire`, with the other decoders).
pub use warren_wire::types;

#[cfg(test)]
mod layering;
