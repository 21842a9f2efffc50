//! Warren: a host for virtual actors written as WebAssembly components.
//!
//! This crate holds the host's own HTTP API ([`api`]: admin, inspection, the console)
//! and the trace exporter ([`otlp`]), and re-exports the crates it wires together, so that
//! one path names each part: the protocols are [`dapr`], [`spawn`] and [`opaca`] behind
//! the seam of [`protocol`]; [`runtime`] is the core every protocol calls (`warren-core`), [`wasm`]
//! runs components (`warren-wasm`), [`store`] keeps state (the core's port and the
//! `warren-store-*` crates), [`cluster`] is cluster mode (`warren-cluster`); the wire
//! formats and decoders of outside input are the `warren-wire` crate.

#![warn(missing_docs)]

pub mod api;
pub mod otlp;
pub mod store;

/// Cluster mode (`warren-cluster`): many hosts on one PostgreSQL database.
pub use warren_cluster as cluster;
/// The runtime core (`warren-core`): every actor rule, once.
pub use warren_core::runtime;
/// Dapr's actor protocol, HTTP and gRPC (`warren-dapr`).
pub use warren_dapr as dapr;
/// The OPACA runtime platform (`warren-opaca`).
pub use warren_opaca as opaca;
/// The protocol seam every protocol crate implements (`warren-protocol`).
pub use warren_protocol as protocol;
/// The Spawn proxy protocol (`warren-spawn`).
pub use warren_spawn as spawn;
/// The Wasm backend (`warren-wasm`): components run with wasmtime.
pub use warren_wasm as wasm;
/// Wire formats and decoders of outside input, apart from the runtime (`warren-wire`).
pub use warren_wire as wire;
/// The plain types every layer shares (in `warren-wire`, with the other decoders).
pub use warren_wire::types;
