//! Spawn calls in time: async calls answer before the user function does, scheduled
//! calls are delivered at their time, and timer actions fire while the actor is active.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use super::host_for;
use crate::spawn_harness::*;
use crate::support::eventually;

/// Holds calls in the user function until the test opens it (for at most 10 s).
#[derive(Clone, Default)]
struct Gate(Arc<(Mutex<bool>, Condvar)>);

impl Gate {
    fn open(&self) {
        *self.0.0.lock().unwrap() = true;
        self.0.1.notify_all();
    }

    fn wait(&self) {
        let (open, changed) = &*self.0;
        let guard = open.lock().unwrap();
        let _ = changed
            .wait_timeout_while(guard, Duration::from_secs(10), |open| !*open)
            .unwrap();
    }
}

/// `async = true` answers OK with no payload before the user function has finished (here,
/// while it is still held), and the call does reach it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_invocations_return_before_the_user_function_answers() {
    let gate = Gate::default();
    let finished = Arc::new(AtomicBool::new(false));
    let user_function = UserFunction::start({
        let (gate, finished) = (gate.clone(), finished.clone());
        move |call: &ActorInvocation| {
            gate.wait();
            finished.store(true, Ordering::SeqCst);
            reply(call).with_value(json_any("\"done\""))
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let host = host_for(dir.path(), &user_function);
    register(&host, "later", vec![Actor::named("inbox", &["slow"])]).await;

    let response = invoke_ok(&host, &request("later", "inbox", "slow").asynchronous()).await;
    assert!(response.value.is_none(), "{response:?}");
    assert!(
        !finished.load(Ordering::SeqCst),
        "the invoke waited for the user function"
    );

    user_function
        .wait_for("inbox", "slow", 1, Duration::from_secs(10))
        .await;
    gate.open();
    let done = eventually(Duration::from_secs(10), || async {
        finished.load(Ordering::SeqCst).then_some(())
    })
    .await;
    assert!(done.is_some(), "the user function never finished the call");
}

/// `scheduled_to` answers OK at once and delivers the call, with its payload, at that time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_invocations_are_delivered_at_their_time() {
    let user_function = UserFunction::start(reply);
    let dir = tempfile::tempdir().unwrap();
    let host = host_for(dir.path(), &user_function);
    register(&host, "later", vec![Actor::named("inbox", &["note"])]).await;

    let started = tokio::time::Instant::now();
    let note = request("later", "inbox", "note")
        .with_value(json_any("\"wake up\""))
        .scheduled_at(now_ms() + 1500);
    let response = invoke_ok(&host, &note).await;
    assert!(response.value.is_none(), "{response:?}");

    tokio::time::sleep_until(started + Duration::from_millis(700)).await;
    assert_eq!(user_function.count("inbox", "note"), 0, "delivered early");
    let delivered = user_function
        .wait_for("inbox", "note", 1, Duration::from_secs(10))
        .await;
    assert_eq!(delivered[0].value, Some(json_any("\"wake up\"")));
}

/// A timer action (declared only as a timer, as the SDKs do) fires every 200 ms while the
/// actor is active, with a Noop payload and the actor itself as caller.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timer_actions_fire_while_the_actor_is_active() {
    let user_function = UserFunction::start(reply);
    let dir = tempfile::tempdir().unwrap();
    let host = host_for(dir.path(), &user_function);
    let clock = Actor::named("clock", &["hello"])
        .stateful(1000)
        .every(200, "tick");
    register(&host, "tick", vec![clock]).await;
    invoke_ok(&host, &request("tick", "clock", "hello")).await;

    let ticks = user_function
        .wait_for("clock", "tick", 2, Duration::from_secs(3))
        .await;
    for tick in &ticks {
        assert!(tick.noop.is_some() && tick.value.is_none(), "{tick:?}");
        assert_eq!(tick.caller_name(), "clock", "{tick:?}");
    }
}
