//! Wire formats of the protocols, shared by a protocol's adapter (in `api`) and its
//! backend (in `backends`): Spawn's protobuf messages and the conversions both sides use.
//! Imports nothing of Warren but the plain types.

pub mod spawn;
