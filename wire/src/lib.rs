//! Warren's wire formats and the decoders of everything that reads outside input: the
//! plain types every layer shares, the protocols' protobuf messages (Dapr, Spawn), Dapr's
//! time formats and bodies, timer and reminder records, OPACA's models, argument validator
//! and tokens, and the encoding of actor records in the store. Nothing here runs actors,
//! so this crate builds without wasmtime: the fuzz targets of `fuzz/wire` link it alone
//! (`scripts/fuzz-smoke.sh`).

#![warn(missing_docs)]

pub mod dapr_bodies;
pub mod dapr_grpc;
pub mod dapr_proto;
pub mod durations;
pub mod jobs;
pub mod opaca;
pub mod record;
pub mod spawn;
pub mod spawn_registration;
pub mod streams;
pub mod tokens;
pub mod types;
