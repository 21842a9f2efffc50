//! Warren: a host for virtual actors written as WebAssembly components.
//!
//! The crate mirrors the design: [`runtime`] is the core every protocol calls, [`wasm`]
//! runs components, [`store`] keeps state, and [`api`] holds the protocol adapters.

pub mod api;
pub mod backends;
pub mod cluster;
pub mod otlp;
pub mod runtime;
pub mod store;
pub mod types;
pub mod wasm;
pub mod wire;

#[cfg(test)]
mod layering;
