//! Warren's end-to-end tests: each starts real hosts on free ports with temp data dirs.
//! One binary for all of them (see shared/STYLE.md).

mod bank;
mod cli;
mod counter;
mod dapr_state;
mod deploy;
mod sandbox;
mod support;
