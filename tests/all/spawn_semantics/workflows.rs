//! Workflows that route back on themselves, and side effects scheduled for later.

use std::time::{Duration, Instant};

use super::{assert_refused, host_with};
use crate::spawn_harness::*;

/// A workflow that routes back on itself ends: `echo.again` pipes to `echo.again` forever.
/// After 32 routes the invoke fails with HTTP 500 and an ERROR status naming the limit, in
/// well under 5 s; the user function saw the first call and the 32 routed ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipe_back_to_itself_stops_after_32_hops() {
    let user_function = UserFunction::start(|call: &ActorInvocation| {
        reply(call)
            .with_value(json_any("1"))
            .with_workflow(Workflow::pipe("echo", "again"))
    });
    let dir = tempfile::tempdir().unwrap();
    let host = host_with(dir.path(), &user_function, &[]);
    register(&host, "loop", vec![Actor::named("echo", &["again"])]).await;

    let started = Instant::now();
    let (status, response) = invoke(&host, &request("loop", "echo", "again")).await;
    let took = started.elapsed();
    assert_refused("a pipe to itself", status, response.status, "32");
    assert!(took < Duration::from_secs(5), "the invoke took {took:?}");
    assert_eq!(
        user_function.count("echo", "again"),
        33,
        "{:?}",
        user_function.summary()
    );
}

/// A side effect with `scheduled_to` is a scheduled call: `front.later` asks for
/// `back.note` 1.5 s ahead. The invoke answers at once; the note has not arrived 700 ms
/// later, and arrives after that with its payload.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_side_effect_with_scheduled_to_is_delivered_at_its_time() {
    let user_function = UserFunction::start(|call: &ActorInvocation| {
        if call.action_name == "later" {
            reply(call).with_workflow(Workflow::effects(vec![
                request("sched", "back", "note")
                    .with_value(json_any("\"wake up\""))
                    .scheduled_at(now_ms() + 1500),
            ]))
        } else {
            reply(call)
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let host = host_with(dir.path(), &user_function, &[]);
    register(
        &host,
        "sched",
        vec![
            Actor::named("front", &["later"]),
            Actor::named("back", &["note"]),
        ],
    )
    .await;

    let started = tokio::time::Instant::now();
    invoke_ok(&host, &request("sched", "front", "later")).await;
    tokio::time::sleep_until(started + Duration::from_millis(700)).await;
    assert_eq!(
        user_function.count("back", "note"),
        0,
        "delivered early: {:?}",
        user_function.summary()
    );
    let delivered = user_function
        .wait_for("back", "note", 1, Duration::from_secs(10))
        .await;
    assert_eq!(delivered[0].value, Some(json_any("\"wake up\"")));
    assert!(
        started.elapsed() >= Duration::from_millis(1400),
        "delivered after {:?}",
        started.elapsed()
    );
}
