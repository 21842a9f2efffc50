//! Spawn semantics beyond the happy path, driven by the harness's own SDK (`spawn_harness`):
//! per-call metadata against per-actor tags, retries of a failing user function, deactivation
//! and re-activation, POOLED actors, lenient decoding of old and new SDKs' messages, instance
//! names, the route hop limit, scheduled side effects, refused registrations, and Warren's
//! tokens on the Spawn routes.

mod lenient_decoding;
mod lifecycle;
mod metadata_and_tags;
mod refused;
mod retries;
mod tokens;
mod workflows;

use std::path::Path;

use crate::spawn_harness::*;
use crate::support::Host;

/// A host whose Spawn actors are served by `user_function`, with extra `args`.
fn host_with(dir: &Path, user_function: &UserFunction, args: &[&str]) -> Host {
    let url = user_function.url();
    let mut all = vec!["--spawn-user-function", url.as_str()];
    all.extend_from_slice(args);
    Host::start(dir, &all)
}

/// The invoke route of `system`/`actor`.
fn invoke_path(system: &str, actor: &str) -> String {
    format!("/api/v1/system/{system}/actors/{actor}/invoke")
}

/// Asserts HTTP 500 with an ERROR status whose message mentions `word`.
fn assert_refused(what: &str, status: u16, error: Option<RequestStatus>, word: &str) {
    assert_eq!(status, 500, "{what}: {error:?}");
    let error = error.unwrap_or_else(|| panic!("{what}: no status"));
    assert_eq!(error.status, ERROR, "{what}: {error:?}");
    assert!(
        error.message.contains(word),
        "{what}: the message should mention {word:?}: {error:?}"
    );
}
