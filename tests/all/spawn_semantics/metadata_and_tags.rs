//! Per-call metadata against per-actor tags.

use super::host_with;
use crate::spawn_harness::*;

/// `look` changes nothing (its reply has no `updated_context`); `promote` makes the payload
/// the state, replaces the tags with `{"tier": "gold"}` and asks for a checkpoint.
fn badge(call: &ActorInvocation) -> ActorInvocationResponse {
    match call.action_name.as_str() {
        "promote" => reply(call)
            .with_state(call.value.clone().unwrap_or_default())
            .with_tags(&[("tier", "gold")])
            .checkpointed(),
        _ => reply(call),
    }
}

/// Per-call metadata and per-actor tags are different things. `InvocationRequest.metadata`
/// reaches `current_context.metadata` of that call only: the next call without metadata sees
/// none. The tags registered in `ActorState.tags` reach `current_context.tags`; a reply
/// without `updated_context` leaves them alone, and one with `updated_context.tags` replaces
/// them entirely (a key it omits is gone). With a checkpoint, the tags and the state survive
/// a restart and re-registration, even though the registration names other initial tags.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_is_per_call_and_tags_stay_with_the_actor() {
    let user_function = UserFunction::start(badge);
    let dir = tempfile::tempdir().unwrap();
    let mut host = host_with(dir.path(), &user_function, &[]);
    let actors = || {
        vec![
            Actor::named("badge", &["look", "promote"])
                .stateful(60_000)
                .with_tags(&[("tier", "silver"), ("since", "2024")]),
        ]
    };
    register(&host, "tags", actors()).await;
    let look = || request("tags", "badge", "look");
    let silver = string_map(&[("tier", "silver"), ("since", "2024")]);
    let gold = string_map(&[("tier", "gold")]);

    invoke_ok(&host, &look().with_metadata(&[("trace", "abc")])).await;
    invoke_ok(&host, &look()).await;
    let looks = user_function.calls_to("badge", "look");
    assert_eq!(looks.len(), 2, "{:?}", user_function.summary());
    assert_eq!(
        looks[0].metadata(),
        string_map(&[("trace", "abc")]),
        "{:?}",
        looks[0]
    );
    assert!(
        looks[1].metadata().is_empty(),
        "a call's metadata leaked into the next call: {:?}",
        looks[1]
    );
    assert_eq!(looks[0].tags(), silver, "{:?}", looks[0]);
    assert_eq!(
        looks[1].tags(),
        silver,
        "a reply without updated_context changed the tags: {:?}",
        looks[1]
    );

    let card = json_any("\"gold card\"");
    invoke_ok(
        &host,
        &request("tags", "badge", "promote").with_value(card.clone()),
    )
    .await;
    invoke_ok(&host, &look()).await;
    let after = user_function.calls_to("badge", "look").pop().unwrap();
    assert_eq!(
        after.tags(),
        gold,
        "updated_context.tags must replace the tags: {after:?}"
    );
    assert_eq!(after.state(), Some(&card), "{after:?}");

    // The user function keeps running; the SDK registers again, as at any start.
    host.restart();
    register(&host, "tags", actors()).await;
    invoke_ok(&host, &look()).await;
    let restarted = user_function.calls_to("badge", "look").pop().unwrap();
    assert_eq!(
        restarted.tags(),
        gold,
        "the checkpointed tags were lost in the restart: {restarted:?}"
    );
    assert_eq!(restarted.state(), Some(&card), "{restarted:?}");
}
