//! A small Spawn SDK written here from the protocol's field tables (shared/protocols/spawn.md),
//! independent of Warren's own .proto files: the messages in the old `eigr.functions.protocol`
//! flavour the external SDKs use, helpers for the proxy's routes, and a user-function server
//! that Warren calls back.

mod builders;
mod messages;
mod proxy;
mod user_function;

pub use builders::*;
pub use messages::*;
pub use proxy::*;
pub use user_function::*;

/// The type URL the SDKs give JSON payloads (old package name).
pub const JSON_TYPE_URL: &str = "type.googleapis.com/eigr.functions.protocol.JSONType";

/// `Kind`: a single instance whose name is fixed at registration.
pub const NAMED: i32 = 1;
/// `Kind`: a template whose instances are spawned by name.
pub const UNNAMED: i32 = 2;
/// `Kind`: stateless and pooled, invoked by the type's name with `pooled = true` (broken
/// upstream; Warren spreads the calls over up to `max_pool_size` instances).
pub const POOLED: i32 = 3;

/// `Status`: success.
pub const OK: i32 = 1;
/// `Status`: no such actor.
pub const ACTOR_NOT_FOUND: i32 = 2;
/// `Status`: failure, with a message.
pub const ERROR: i32 = 3;
