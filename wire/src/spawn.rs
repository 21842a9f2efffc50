//! Spawn's wire format: the messages compiled from `proto/spawn.proto`, and the
//! conversions the Spawn adapter and the Spawn SDK backend share.
//!
//! Payload convention: inside Warren a payload is bytes. A Spawn `JSONType` travels as its
//! JSON text (so a Wasm actor reads plain JSON), Noop as no bytes, and any other `Any` as
//! its own encoding, untouched, so its `type_url` reaches the other side as it was sent.

use prost::Message;
use prost_types::Any;

use crate::types::ActorId;
use crate::types::manifest::ChannelSpec;
use crate::types::workflow::{Address, Effect, Publish, Route, RouteKind, Workflow};

/// The generated messages of `proto/spawn.proto`.
// Generated code: prost and tonic emit items without doc comments.
#[allow(missing_docs, clippy::all)]
pub mod pb {
    tonic::include_proto!("spawn");
}

/// The `type_url` Warren gives JSON it wraps, as every external SDK names `JSONType`.
pub const JSON_TYPE_URL: &str = "type.googleapis.com/eigr.functions.protocol.JSONType";
/// The `type_url` of raw bytes that are neither JSON text nor an `Any`.
const BYTES_TYPE_URL: &str = "type.googleapis.com/google.protobuf.BytesValue";

/// Whether `type_url` names Spawn's `JSONType`, in the old package or the new one.
pub fn is_json_type(type_url: &str) -> bool {
    type_url
        .rsplit('/')
        .next()
        .is_some_and(|name| name == "JSONType" || name.ends_with(".JSONType"))
}

/// The bytes of a Spawn payload (see the module's convention).
pub fn payload_bytes(any: Option<&Any>) -> Vec<u8> {
    match any {
        None => Vec::new(),
        Some(any) if is_json_type(&any.type_url) => match pb::JsonType::decode(&any.value[..]) {
            Ok(json) => json.content.into_bytes(),
            Err(_) => any.encode_to_vec(),
        },
        Some(any) => any.encode_to_vec(),
    }
}

/// The Spawn payload of `bytes`: none for no bytes, the `Any` they encode, or else the
/// bytes wrapped as JSON (when UTF-8) or as `BytesValue`.
pub fn payload_any(bytes: &[u8], json_type_url: &str) -> Option<Any> {
    if bytes.is_empty() {
        return None;
    }
    if let Ok(any) = Any::decode(bytes)
        && any.type_url.contains('/')
        && any.encoded_len() == bytes.len()
    {
        return Some(any);
    }
    Some(match std::str::from_utf8(bytes) {
        Ok(text) => Any {
            type_url: json_type_url.to_string(),
            value: pb::JsonType {
                content: text.to_string(),
            }
            .encode_to_vec(),
        },
        Err(_) => Any {
            type_url: BYTES_TYPE_URL.to_string(),
            value: bytes.to_vec().encode_to_vec(),
        },
    })
}

/// The `type_url` to wrap a JSON reply in: the one the request's JSON came with, if any.
pub fn json_type_url_of(any: Option<&Any>) -> &str {
    match any {
        Some(any) if is_json_type(&any.type_url) => &any.type_url,
        _ => JSON_TYPE_URL,
    }
}

/// The channels of `Metadata.channel_group`. Newer SDKs send `Channel` messages, older
/// ones a topic string; a `Channel` begins with the tag of field 1 or 2 and decodes, while
/// a topic is readable text.
pub fn channels(metadata: Option<&pb::Metadata>) -> Vec<ChannelSpec> {
    let Some(metadata) = metadata else {
        return Vec::new();
    };
    metadata
        .channel_group
        .iter()
        .filter_map(|raw| {
            let tagged = matches!(raw.first(), Some(0x0a | 0x12));
            if tagged && let Ok(channel) = pb::Channel::decode(&raw[..]) {
                return Some(ChannelSpec::new(&channel.topic, &channel.action));
            }
            let topic = std::str::from_utf8(raw).ok()?;
            (!topic.is_empty()).then(|| ChannelSpec::new(topic, ""))
        })
        .collect()
}

/// How Spawn names a Warren actor: the instance name, its system (the tenant) and, for an
/// instance of another type, that type as `parent`.
pub fn spawn_id(actor: &ActorId) -> pb::ActorId {
    pb::ActorId {
        name: actor.id.to_string(),
        system: actor.tenant.to_string(),
        parent: if actor.id == actor.actor_type {
            String::new()
        } else {
            actor.actor_type.to_string()
        },
    }
}

/// A Spawn workflow in the runtime's terms.
pub fn workflow_of(w: pb::Workflow) -> Workflow {
    let effects = w
        .effects
        .into_iter()
        .filter_map(|e| e.request)
        .map(|request| {
            let id = request.actor.and_then(|a| a.id).unwrap_or_default();
            let parent = Some(request.register_ref)
                .filter(|r| !r.is_empty())
                .or(Some(id.parent).filter(|p| !p.is_empty()));
            let payload = match request.payload {
                Some(pb::invocation_request::Payload::Value(any)) => payload_bytes(Some(&any)),
                _ => Vec::new(),
            };
            Effect {
                target: Address {
                    name: id.name,
                    parent,
                },
                action: request.action_name,
                payload,
                metadata: request.metadata.into_iter().collect(),
                at_ms: Some(request.scheduled_to).filter(|at| *at > 0),
            }
        })
        .collect();
    let broadcast = w.broadcast.map(|b| Publish {
        channel: b.channel_group,
        payload: match b.payload {
            Some(pb::broadcast::Payload::Value(any)) => payload_bytes(Some(&any)),
            _ => Vec::new(),
        },
        // Old SDKs name the subscribers' action in the broadcast itself.
        action: Some(b.action_name).filter(|a| !a.is_empty()),
    });
    let route = w.routing.map(|routing| {
        let (kind, actor, action, register_ref) = match routing {
            pb::workflow::Routing::Pipe(p) => {
                (RouteKind::Pipe, p.actor, p.action_name, p.register_ref)
            }
            pb::workflow::Routing::Forward(f) => {
                (RouteKind::Forward, f.actor, f.action_name, f.register_ref)
            }
        };
        Route {
            kind,
            target: Address {
                name: actor,
                parent: Some(register_ref).filter(|r| !r.is_empty()),
            },
            action,
        }
    });
    Workflow {
        effects,
        broadcast,
        route,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_payloads_travel_as_their_text_and_other_anys_untouched() {
        let json = Any {
            type_url: "type.googleapis.com/spawn.JSONType".into(),
            value: pb::JsonType {
                content: "{\"n\":1}".into(),
            }
            .encode_to_vec(),
        };
        assert_eq!(payload_bytes(Some(&json)), b"{\"n\":1}");
        let wrapped = payload_any(b"{\"n\":1}", json_type_url_of(Some(&json))).unwrap();
        assert_eq!(wrapped, json);

        let custom = Any {
            type_url: "type.googleapis.com/example.State".into(),
            value: vec![8, 1],
        };
        let bytes = payload_bytes(Some(&custom));
        assert_eq!(payload_any(&bytes, JSON_TYPE_URL), Some(custom));
        assert_eq!(payload_any(b"", JSON_TYPE_URL), None);
        assert_eq!(
            payload_any(b"5", JSON_TYPE_URL).unwrap().type_url,
            JSON_TYPE_URL
        );
    }

    #[test]
    fn channel_group_reads_strings_and_channel_messages() {
        let channel = pb::Channel {
            topic: "news".into(),
            action: "on_news".into(),
        };
        let metadata = pb::Metadata {
            channel_group: vec![b"alerts".to_vec(), channel.encode_to_vec()],
            tags: Default::default(),
        };
        let read = channels(Some(&metadata));
        assert_eq!(read[0].topic, "alerts");
        assert_eq!(read[0].action, "receive");
        assert_eq!(read[1].topic, "news");
        assert_eq!(read[1].action, "on_news");
    }
}
