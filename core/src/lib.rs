//! Warren's runtime core: turn execution, scheduling, the registry of hosted types,
//! tenancy and observation ([`runtime`]), and the ports it is built around: what runs an
//! actor type's turns (`runtime::ActorBackend`), what compiles components
//! (`runtime::ComponentLoader`) and what keeps state ([`store::StateStore`]). It names no
//! Wasm engine, no database and no protocol; those implement its ports in other crates.

#![warn(missing_docs)]

pub mod runtime;

/// The storage port (`warren-store`): the store traits, records, fencing and the
/// memory store.
pub use warren_store as store;

/// Wire formats and decoders of outside input (`warren-wire`).
pub use warren_wire as wire;
/// The plain types every layer shares (in `warren-wire`).
pub use warren_wire::types;
