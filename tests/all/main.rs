//! Warren's end-to-end tests: each starts real hosts on free ports with temp data dirs.
//! One binary for all of them (see shared/STYLE.md).

mod app_callback;
mod bank;
mod callers;
mod cli;
mod cluster;
mod config;
mod console;
mod counter;
mod crash;
mod dapr_grpc;
mod dapr_sdk;
mod dapr_state;
mod dapr_turns;
mod deploy;
mod faults;
mod hostile;
mod hostile_apps;
mod layering;
mod metrics;
mod migration;
mod network;
mod opaca;
mod polyglot;
mod protocols;
mod reminders;
mod sandbox;
mod spawn;
mod spawn_harness;
mod spawn_semantics;
mod spawn_wasm;
mod support;
mod tenancy;
mod tls;
mod traces;
mod versions;
