//! Spawn's protobuf messages: any bytes decode as each message the proxy reads or are
//! refused; a registration is translated into a manifest or refused with a message, and
//! payloads and workflows are unpacked, whichever package name (`eigr.functions.protocol`
//! or `spawn.actors`) their JSON type carries. Never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use prost::Message;
use warren_wire::spawn::{is_json_type, payload_any, payload_bytes, pb, workflow_of};
use warren_wire::spawn_registration::system;

/// The two names of Spawn's JSON type.
const JSON_TYPES: [&str; 2] = [
    "type.googleapis.com/eigr.functions.protocol.JSONType",
    "type.googleapis.com/spawn.actors.JSONType",
];

fuzz_target!(|input: (u8, &[u8])| {
    let (pick, bytes) = input;
    if let Ok(request) = pb::RegistrationRequest::decode(bytes) {
        let registry = request.actor_system.and_then(|s| s.registry);
        let _ = system(registry, request.service_info.unwrap_or_default());
    }
    let _ = pb::SpawnRequest::decode(bytes);
    if let Ok(request) = pb::InvocationRequest::decode(bytes)
        && let Some(pb::invocation_request::Payload::Value(any)) = &request.payload
    {
        let _ = is_json_type(&any.type_url);
        let _ = payload_bytes(Some(any));
    }
    if let Ok(response) = pb::ActorInvocationResponse::decode(bytes) {
        if let Some(workflow) = response.workflow {
            let _ = workflow_of(workflow);
        }
        if let Some(pb::actor_invocation_response::Payload::Value(any)) = &response.payload {
            let _ = payload_bytes(Some(any));
        }
    }
    // Text that is not itself an encoded `Any` travels as JSON under either name: packed
    // and unpacked again, it comes back as it was.
    let type_url = JSON_TYPES[usize::from(pick) % 2];
    if std::str::from_utf8(bytes).is_ok()
        && let Some(any) = payload_any(bytes, type_url)
        && any.type_url == type_url
    {
        assert_eq!(payload_bytes(Some(&any)), bytes, "{type_url}");
    }
});
