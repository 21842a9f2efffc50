//! Retries of a user function that answers nothing usable.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use prost::Message;

use super::host_with;
use crate::spawn_harness::*;

/// Like Spawn, Warren counts a user-function answer with an empty body as a failure and
/// calls again, whatever the HTTP status: two empty answers (HTTP 503, then 200) and then a
/// proper one make one successful invoke with the proper payload. The user function saw the
/// same invocation three times.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_answers_are_retried_until_a_proper_one() {
    let answered = Arc::new(AtomicUsize::new(0));
    let user_function = UserFunction::start_raw({
        let answered = answered.clone();
        move |call: &ActorInvocation| match answered.fetch_add(1, Ordering::SeqCst) {
            0 => (503u16, Vec::new()),
            1 => (200, Vec::new()),
            _ => (
                200,
                reply(call)
                    .with_value(json_any("\"finally\""))
                    .encode_to_vec(),
            ),
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let host = host_with(dir.path(), &user_function, &[]);
    register(&host, "retry", vec![Actor::named("flaky", &["work"])]).await;

    let response = invoke_ok(
        &host,
        &request("retry", "flaky", "work").with_value(json_any("\"job\"")),
    )
    .await;
    assert_eq!(
        response.value,
        Some(json_any("\"finally\"")),
        "{response:?}"
    );
    let calls = user_function.calls_to("flaky", "work");
    assert_eq!(calls.len(), 3, "{:?}", user_function.summary());
    assert!(
        calls.iter().all(|c| *c == calls[0]),
        "a retry changed the invocation: {calls:?}"
    );
    assert_eq!(calls[0].value, Some(json_any("\"job\"")), "{:?}", calls[0]);
}

/// A user function that only ever answers bytes that are not an `ActorInvocationResponse`
/// is retried until the call's `request-timeout` metadata (400 ms) runs out, and then the
/// invoke fails with HTTP 500 and an ERROR status that says why, well within 5 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_answers_fail_when_the_request_timeout_runs_out() {
    let user_function = UserFunction::start_raw(|_: &ActorInvocation| (200, b"\xff\xff".to_vec()));
    let dir = tempfile::tempdir().unwrap();
    let host = host_with(dir.path(), &user_function, &[]);
    register(&host, "retry", vec![Actor::named("broken", &["work"])]).await;

    let started = Instant::now();
    let (status, response) = invoke(
        &host,
        &request("retry", "broken", "work").with_metadata(&[("request-timeout", "400")]),
    )
    .await;
    let took = started.elapsed();
    assert_eq!(status, 500, "{response:?}");
    let error = response.status.expect("no status");
    assert_eq!(error.status, ERROR, "{error:?}");
    assert!(!error.message.is_empty(), "{error:?}");
    assert!(took < Duration::from_secs(5), "the invoke took {took:?}");
    // Backoff 50 + 100 + 200 ms fits in 400 ms, so Warren retried for most of it.
    assert!(
        took >= Duration::from_millis(250),
        "gave up after {took:?}, before the request timeout"
    );
    assert!(
        user_function.count("broken", "work") >= 1,
        "{:?}",
        user_function.summary()
    );
}
