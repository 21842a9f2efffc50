//! The shared suite of Warren's stores: every implementation of the core's `StateStore`
//! (memory, sled in both durability modes, PostgreSQL) runs the same checks, so a new
//! backend proves itself by joining the list in `suite.rs`. The crate holds tests only.
// Every public item says what it is (checked by clippy in CI).
#![warn(missing_docs)]

#[cfg(test)]
mod suite;
