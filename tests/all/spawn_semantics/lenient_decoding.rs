//! Lenient decoding of what old and new SDKs send: kind 0, unknown fields, and an old
//! broadcast's action name.

use std::time::Duration;

use prost::Message;

use super::{host_with, invoke_path};
use crate::spawn_harness::*;
use crate::support::Host;

/// Warren reads what SDKs send leniently. A registration with kind 0 (`UNKNOW_KIND`) is a
/// NAMED actor, invoked by its name. Fields Warren does not know are skipped: a registration
/// whose `ActorSettings` carries 2.0's `projection_settings` (#7) and `state_type` (#8) is
/// accepted, and so is an `InvocationRequest` with a field (#50) no version defines.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kind_zero_and_unknown_fields_are_accepted() {
    let user_function = UserFunction::start(reply);
    let dir = tempfile::tempdir().unwrap();
    let host = host_with(dir.path(), &user_function, &[]);

    register(
        &host,
        "zero",
        vec![Actor::named("plain", &["hello"]).with_kind(0)],
    )
    .await;
    invoke_ok(&host, &request("zero", "plain", "hello")).await;
    let hello = user_function.calls_to("plain", "hello").remove(0);
    assert_eq!(
        hello.actor,
        Some(ActorId::new("plain", "zero")),
        "{hello:?}"
    );

    let body = registration_with_settings_fields_7_and_8();
    let (status, bytes) = post_raw(&host, "/api/v1/system", "application/octet-stream", body).await;
    let response = RegistrationResponse::decode(bytes.as_slice()).expect("not protobuf");
    assert!(
        status == 200 && code(&response.status) == OK,
        "{status} {:?}",
        response.status
    );

    let (status, bytes) = invoke_with_field_50(&host).await;
    let response = InvocationResponse::decode(bytes.as_slice()).expect("not protobuf");
    assert!(
        status == 200 && code(&response.status) == OK,
        "{status} {:?}",
        response.status
    );
    assert_eq!(
        user_function.count("later", "hello"),
        1,
        "{:?}",
        user_function.summary()
    );
}

/// A registration of actor `later` in system `future` whose `ActorSettings` carries fields
/// 7 and 8, which Warren does not know.
fn registration_with_settings_fields_7_and_8() -> Vec<u8> {
    // RegistrationRequest{service_info, actor_system{name, registry{actors: {"later": actor}}}},
    // built by hand so the actor's settings can carry fields 7 and 8.
    let mut actor = Actor::named("later", &["hello"]);
    actor.id = Some(ActorId::new("later", "future"));
    let settings = actor.settings.take().expect("the harness gives settings");
    let settings = [
        settings.encode_to_vec(),
        length_delimited(7, &length_delimited(1, b"a projection")),
        length_delimited(8, b".example.State"),
    ]
    .concat();
    let actor = [actor.encode_to_vec(), length_delimited(3, &settings)].concat();
    let entry = [length_delimited(1, b"later"), length_delimited(2, &actor)].concat();
    let system = [
        length_delimited(1, b"future"),
        length_delimited(2, &length_delimited(1, &entry)),
    ]
    .concat();
    let body = [
        length_delimited(1, &service_info().encode_to_vec()),
        length_delimited(2, &system),
    ]
    .concat();
    // The hand-built bytes are the registration meant (the harness skips 7 and 8 too).
    let parsed = RegistrationRequest::decode(body.as_slice()).expect("malformed by hand");
    let registered = &parsed
        .actor_system
        .as_ref()
        .unwrap()
        .registry
        .as_ref()
        .unwrap()
        .actors;
    assert_eq!(
        registered["later"].settings.as_ref().map(|s| s.kind),
        Some(NAMED),
        "{parsed:?}"
    );
    body
}

/// Invoke `later` in `future` with a request that carries field 50, which no version
/// defines: the status and body.
async fn invoke_with_field_50(host: &Host) -> (u16, Vec<u8>) {
    // Field 50, wire type 2: key bytes 0x92 0x03.
    let unknown = length_delimited(50, b"from a newer SDK");
    assert_eq!(&unknown[..2], [0x92u8, 0x03].as_slice());
    let body = [request("future", "later", "hello").encode_to_vec(), unknown].concat();
    post_raw(
        host,
        &invoke_path("future", "later"),
        "application/octet-stream",
        body,
    )
    .await
}

/// Old SDKs put the subscribers' action in `Broadcast` field #2 (`action_name`, removed in
/// v1.0.0-rc.30). A workflow broadcast carrying it (`breaking`) runs that action on a
/// subscriber that named none (`reader`, subscribed with a plain topic string), instead of
/// `receive`, with the payload and the broadcaster as caller; a subscriber whose channel
/// names its own action (`clipper`, `clip`) keeps running that one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_old_broadcast_with_an_action_name_runs_that_action() {
    let user_function = UserFunction::start_raw(|call: &ActorInvocation| {
        let mut body = reply(call).encode_to_vec();
        if call.action_name == "announce" {
            // Workflow{broadcast (2): Broadcast{channel_group (1), action_name (2), value (3)}}
            // as ActorInvocationResponse field 5.
            let broadcast = [
                length_delimited(1, b"headlines"),
                length_delimited(2, b"breaking"),
                length_delimited(3, &json_any("\"extra!\"").encode_to_vec()),
            ]
            .concat();
            body.extend(length_delimited(5, &length_delimited(2, &broadcast)));
        }
        (200, body)
    });
    let dir = tempfile::tempdir().unwrap();
    let host = host_with(dir.path(), &user_function, &[]);
    register(
        &host,
        "news",
        vec![
            Actor::named("anchor", &["announce"]),
            Actor::named("reader", &["hello", "receive", "breaking"]).subscribe(&["headlines"]),
            Actor::named("clipper", &["hello", "clip", "breaking"])
                .subscribe_channels(&[("headlines", "clip")]),
        ],
    )
    .await;
    // Broadcasts reach active actors: activate the subscribers.
    for name in ["reader", "clipper"] {
        invoke_ok(&host, &request("news", name, "hello")).await;
    }

    invoke_ok(&host, &request("news", "anchor", "announce")).await;
    let got = user_function
        .wait_for("reader", "breaking", 1, Duration::from_secs(10))
        .await;
    assert_eq!(got[0].value, Some(json_any("\"extra!\"")), "{got:?}");
    assert_eq!(got[0].caller_name(), "anchor", "{got:?}");
    let clipped = user_function
        .wait_for("clipper", "clip", 1, Duration::from_secs(10))
        .await;
    assert_eq!(
        clipped[0].value,
        Some(json_any("\"extra!\"")),
        "{clipped:?}"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(user_function.count("reader", "receive"), 0);
    assert_eq!(user_function.count("clipper", "breaking"), 0);
}
