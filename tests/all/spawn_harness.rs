//! A small Spawn SDK written here from the protocol's field tables (shared/protocols/spawn.md),
//! independent of Warren's own .proto files: the messages in the old `eigr.functions.protocol`
//! flavour the external SDKs use, helpers for the proxy's routes, and a user-function server
//! that Warren calls back.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use prost::Message;

use crate::support::{Host, eventually};

/// The type URL the SDKs give JSON payloads (old package name).
pub const JSON_TYPE_URL: &str = "type.googleapis.com/eigr.functions.protocol.JSONType";

/// `Kind`: a single instance whose name is fixed at registration.
pub const NAMED: i32 = 1;
/// `Kind`: a template whose instances are spawned by name.
pub const UNNAMED: i32 = 2;
/// `Kind`: stateless and pooled, invoked by the type's name with `pooled = true` (broken
/// upstream; Warren spreads the calls over up to `max_pool_size` instances).
pub const POOLED: i32 = 3;

/// `Status`: success.
pub const OK: i32 = 1;
/// `Status`: failure, with a message.
pub const ERROR: i32 = 3;

// ---- google.protobuf and payloads ----

/// `google.protobuf.Any`: opaque to the proxy, which must pass it through untouched.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Any {
    #[prost(string, tag = "1")]
    pub type_url: String,
    #[prost(bytes = "vec", tag = "2")]
    pub value: Vec<u8>,
}

/// The empty payload.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Noop {}

/// `JSONType`: how the SDKs wrap a JSON payload.
#[derive(Clone, PartialEq, prost::Message)]
pub struct JsonType {
    #[prost(string, tag = "1")]
    pub content: String,
}

// ---- actor.proto ----

#[derive(Clone, PartialEq, prost::Message)]
pub struct Registry {
    #[prost(map = "string, message", tag = "1")]
    pub actors: HashMap<String, Actor>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ActorSystem {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(message, optional, tag = "2")]
    pub registry: Option<Registry>,
}

/// Milliseconds.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TimeoutStrategy {
    #[prost(int64, tag = "1")]
    pub timeout: i64,
}

/// The oneof `strategy` with its only member `timeout`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ActorSnapshotStrategy {
    #[prost(message, optional, tag = "1")]
    pub timeout: Option<TimeoutStrategy>,
}

/// The oneof `strategy` with its only member `timeout`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ActorDeactivationStrategy {
    #[prost(message, optional, tag = "1")]
    pub timeout: Option<TimeoutStrategy>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Action {
    #[prost(string, tag = "1")]
    pub name: String,
}

/// `seconds` is milliseconds, as every SDK and the proxy treat it.
#[derive(Clone, PartialEq, prost::Message)]
pub struct FixedTimerAction {
    #[prost(int32, tag = "1")]
    pub seconds: i32,
    #[prost(message, optional, tag = "2")]
    pub action: Option<Action>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ActorState {
    #[prost(map = "string, string", tag = "1")]
    pub tags: HashMap<String, String>,
    #[prost(message, optional, tag = "2")]
    pub state: Option<Any>,
}

/// `Metadata` as the Python SDK sends it: each channel group a plain topic string.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Metadata {
    #[prost(string, repeated, tag = "1")]
    pub channel_group: Vec<String>,
    #[prost(map = "string, string", tag = "2")]
    pub tags: HashMap<String, String>,
}

/// A channel subscription of the v1.0+ protocol; an empty action means "receive".
#[derive(Clone, PartialEq, prost::Message)]
pub struct Channel {
    #[prost(string, tag = "1")]
    pub topic: String,
    #[prost(string, tag = "2")]
    pub action: String,
}

/// `Metadata` as v1.0+ SDKs send it: each channel group a `Channel` message.
#[derive(Clone, PartialEq, prost::Message)]
pub struct MetadataV2 {
    #[prost(message, repeated, tag = "1")]
    pub channel_group: Vec<Channel>,
    #[prost(map = "string, string", tag = "2")]
    pub tags: HashMap<String, String>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ActorSettings {
    /// A `Kind` value.
    #[prost(int32, tag = "1")]
    pub kind: i32,
    #[prost(bool, tag = "2")]
    pub stateful: bool,
    #[prost(message, optional, tag = "3")]
    pub snapshot_strategy: Option<ActorSnapshotStrategy>,
    #[prost(message, optional, tag = "4")]
    pub deactivation_strategy: Option<ActorDeactivationStrategy>,
    #[prost(int32, tag = "5")]
    pub min_pool_size: i32,
    #[prost(int32, tag = "6")]
    pub max_pool_size: i32,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ActorId {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub system: String,
    /// The UNNAMED template an instance was spawned from.
    #[prost(string, tag = "3")]
    pub parent: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Actor {
    #[prost(message, optional, tag = "1")]
    pub id: Option<ActorId>,
    #[prost(message, optional, tag = "2")]
    pub state: Option<ActorState>,
    #[prost(message, optional, tag = "3")]
    pub settings: Option<ActorSettings>,
    #[prost(message, repeated, tag = "4")]
    pub actions: Vec<Action>,
    #[prost(message, repeated, tag = "5")]
    pub timer_actions: Vec<FixedTimerAction>,
    /// An encoded `Metadata` or `MetadataV2`: the SDK generations disagree on its layout, so
    /// it is kept encoded here and each actor picks one (see `subscribe*`).
    #[prost(bytes = "vec", tag = "6")]
    pub metadata: Vec<u8>,
}

// ---- protocol.proto ----

#[derive(Clone, PartialEq, prost::Message)]
pub struct Context {
    #[prost(message, optional, tag = "1")]
    pub state: Option<Any>,
    #[prost(message, optional, tag = "2")]
    pub caller: Option<ActorId>,
    #[prost(message, optional, tag = "3")]
    pub self_: Option<ActorId>,
    #[prost(map = "string, string", tag = "4")]
    pub metadata: HashMap<String, String>,
    #[prost(map = "string, string", tag = "5")]
    pub tags: HashMap<String, String>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ServiceInfo {
    #[prost(string, tag = "1")]
    pub service_name: String,
    #[prost(string, tag = "2")]
    pub service_version: String,
    #[prost(string, tag = "3")]
    pub service_runtime: String,
    #[prost(string, tag = "4")]
    pub support_library_name: String,
    #[prost(string, tag = "5")]
    pub support_library_version: String,
    #[prost(int32, tag = "6")]
    pub protocol_major_version: i32,
    #[prost(int32, tag = "7")]
    pub protocol_minor_version: i32,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct RegistrationRequest {
    #[prost(message, optional, tag = "1")]
    pub service_info: Option<ServiceInfo>,
    #[prost(message, optional, tag = "2")]
    pub actor_system: Option<ActorSystem>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ProxyInfo {
    #[prost(int32, tag = "1")]
    pub protocol_major_version: i32,
    #[prost(int32, tag = "2")]
    pub protocol_minor_version: i32,
    #[prost(string, tag = "3")]
    pub proxy_name: String,
    #[prost(string, tag = "4")]
    pub proxy_version: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct RegistrationResponse {
    #[prost(message, optional, tag = "1")]
    pub status: Option<RequestStatus>,
    #[prost(message, optional, tag = "2")]
    pub proxy_info: Option<ProxyInfo>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct SpawnRequest {
    #[prost(message, repeated, tag = "1")]
    pub actors: Vec<ActorId>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct SpawnResponse {
    #[prost(message, optional, tag = "1")]
    pub status: Option<RequestStatus>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct RequestStatus {
    /// A `Status` value: `OK` or `ERROR`.
    #[prost(int32, tag = "1")]
    pub status: i32,
    #[prost(string, tag = "2")]
    pub message: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct SideEffect {
    #[prost(message, optional, tag = "1")]
    pub request: Option<InvocationRequest>,
}

/// The oneof `payload` is `value` (3) or `noop` (4).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Broadcast {
    /// The topic.
    #[prost(string, tag = "1")]
    pub channel_group: String,
    #[prost(message, optional, tag = "3")]
    pub value: Option<Any>,
    #[prost(message, optional, tag = "4")]
    pub noop: Option<Noop>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Pipe {
    #[prost(string, tag = "1")]
    pub actor: String,
    #[prost(string, tag = "2")]
    pub action_name: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Forward {
    #[prost(string, tag = "1")]
    pub actor: String,
    #[prost(string, tag = "2")]
    pub action_name: String,
}

/// The oneof `routing` is `pipe` (3) or `forward` (4).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Workflow {
    #[prost(message, repeated, tag = "1")]
    pub effects: Vec<SideEffect>,
    #[prost(message, optional, tag = "2")]
    pub broadcast: Option<Broadcast>,
    #[prost(message, optional, tag = "3")]
    pub pipe: Option<Pipe>,
    #[prost(message, optional, tag = "4")]
    pub forward: Option<Forward>,
}

/// The oneof `payload` is `value` (4) or `noop` (7).
#[derive(Clone, PartialEq, prost::Message)]
pub struct InvocationRequest {
    #[prost(message, optional, tag = "1")]
    pub system: Option<ActorSystem>,
    /// Only its `id` is used.
    #[prost(message, optional, tag = "2")]
    pub actor: Option<Actor>,
    #[prost(string, tag = "3")]
    pub action_name: String,
    #[prost(message, optional, tag = "4")]
    pub value: Option<Any>,
    /// `async` in the .proto.
    #[prost(bool, tag = "5")]
    pub async_: bool,
    #[prost(message, optional, tag = "6")]
    pub caller: Option<ActorId>,
    #[prost(message, optional, tag = "7")]
    pub noop: Option<Noop>,
    #[prost(map = "string, string", tag = "8")]
    pub metadata: HashMap<String, String>,
    /// Unix epoch milliseconds.
    #[prost(int64, tag = "9")]
    pub scheduled_to: i64,
    #[prost(bool, tag = "10")]
    pub pooled: bool,
    /// The UNNAMED template to spawn the actor from if it does not exist.
    #[prost(string, tag = "11")]
    pub register_ref: String,
}

/// What Warren sends the user function. The oneof `payload` is `value` (4) or `noop` (5).
#[derive(Clone, PartialEq, prost::Message)]
pub struct ActorInvocation {
    #[prost(message, optional, tag = "1")]
    pub actor: Option<ActorId>,
    #[prost(string, tag = "2")]
    pub action_name: String,
    #[prost(message, optional, tag = "3")]
    pub current_context: Option<Context>,
    #[prost(message, optional, tag = "4")]
    pub value: Option<Any>,
    #[prost(message, optional, tag = "5")]
    pub noop: Option<Noop>,
    #[prost(message, optional, tag = "6")]
    pub caller: Option<ActorId>,
}

/// What the user function answers. The oneof `payload` is `value` (4) or `noop` (6).
#[derive(Clone, PartialEq, prost::Message)]
pub struct ActorInvocationResponse {
    #[prost(string, tag = "1")]
    pub actor_name: String,
    #[prost(string, tag = "2")]
    pub actor_system: String,
    #[prost(message, optional, tag = "3")]
    pub updated_context: Option<Context>,
    #[prost(message, optional, tag = "4")]
    pub value: Option<Any>,
    #[prost(message, optional, tag = "5")]
    pub workflow: Option<Workflow>,
    #[prost(message, optional, tag = "6")]
    pub noop: Option<Noop>,
    #[prost(bool, tag = "7")]
    pub checkpoint: bool,
}

/// The oneof `payload` is `value` (4) or `noop` (5).
#[derive(Clone, PartialEq, prost::Message)]
pub struct InvocationResponse {
    #[prost(message, optional, tag = "1")]
    pub status: Option<RequestStatus>,
    #[prost(message, optional, tag = "2")]
    pub system: Option<ActorSystem>,
    #[prost(message, optional, tag = "3")]
    pub actor: Option<Actor>,
    #[prost(message, optional, tag = "4")]
    pub value: Option<Any>,
    #[prost(message, optional, tag = "5")]
    pub noop: Option<Noop>,
}

// ---- building messages ----

/// A JSONType payload holding `text`, as the SDKs pack JSON.
pub fn json_any(text: &str) -> Any {
    Any {
        type_url: JSON_TYPE_URL.to_string(),
        value: JsonType {
            content: text.to_string(),
        }
        .encode_to_vec(),
    }
}

/// The content of a JSONType payload.
pub fn json_text(any: &Any) -> String {
    JsonType::decode(any.value.as_slice())
        .unwrap_or_else(|e| panic!("{} is not a JSONType: {e}", any.type_url))
        .content
}

/// The JSON in a reply's JSONType payload.
pub fn reply_json(response: &InvocationResponse) -> serde_json::Value {
    let any = response.value.as_ref().expect("the reply has no value");
    let text = json_text(any);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{text:?} is not JSON: {e}"))
}

/// The status code of an optional `RequestStatus`; 0 (UNKNOWN) when it is absent.
pub fn code(status: &Option<RequestStatus>) -> i32 {
    status.as_ref().map_or(0, |s| s.status)
}

/// A `map<string, string>` from pairs, for tags and metadata.
pub fn string_map(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// One length-delimited protobuf field (wire type 2): its key, the length, then `bytes`. For
/// hand-building messages with fields the structs here do not have (unknown or removed ones);
/// an embedded message is such a field holding the message's encoding.
pub fn length_delimited(tag: u32, bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + 10);
    put_varint((u64::from(tag) << 3) | 2, &mut out);
    put_varint(bytes.len() as u64, &mut out);
    out.extend_from_slice(bytes);
    out
}

fn put_varint(mut n: u64, out: &mut Vec<u8>) {
    while n >= 0x80 {
        out.push(((n & 0x7f) as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// Milliseconds since the Unix epoch, for `scheduled_to`.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

impl ActorId {
    /// The id of a NAMED actor (or of an instance addressed by name alone).
    pub fn new(name: &str, system: &str) -> ActorId {
        ActorId {
            name: name.to_string(),
            system: system.to_string(),
            parent: String::new(),
        }
    }

    /// The id of an instance of the UNNAMED `template`.
    pub fn instance(name: &str, system: &str, template: &str) -> ActorId {
        ActorId {
            parent: template.to_string(),
            ..ActorId::new(name, system)
        }
    }
}

impl Actor {
    fn of_kind(kind: i32, name: &str, actions: &[&str]) -> Actor {
        Actor {
            id: Some(ActorId::new(name, "")),
            // SDKs always register an (empty) ActorState.
            state: Some(ActorState::default()),
            settings: Some(ActorSettings {
                kind,
                // Long enough that no test sees an actor deactivate and activate again.
                deactivation_strategy: Some(ActorDeactivationStrategy {
                    timeout: Some(TimeoutStrategy { timeout: 60_000 }),
                }),
                ..Default::default()
            }),
            actions: actions
                .iter()
                .map(|a| Action {
                    name: a.to_string(),
                })
                .collect(),
            ..Default::default()
        }
    }

    /// A stateless NAMED actor with these actions.
    pub fn named(name: &str, actions: &[&str]) -> Actor {
        Actor::of_kind(NAMED, name, actions)
    }

    /// An UNNAMED template with these actions.
    pub fn unnamed(name: &str, actions: &[&str]) -> Actor {
        Actor::of_kind(UNNAMED, name, actions)
    }

    /// A POOLED actor with these actions, served by up to `max_pool_size` instances.
    pub fn pooled(name: &str, actions: &[&str], max_pool_size: i32) -> Actor {
        let mut actor = Actor::of_kind(POOLED, name, actions);
        actor.settings_mut().max_pool_size = max_pool_size;
        actor
    }

    fn settings_mut(&mut self) -> &mut ActorSettings {
        self.settings.get_or_insert_with(Default::default)
    }

    /// Declare `kind` (any number, even one the protocol does not define).
    pub fn with_kind(mut self, kind: i32) -> Actor {
        self.settings_mut().kind = kind;
        self
    }

    /// Deactivate after `ms` milliseconds (instead of the harness's 60 s).
    pub fn deactivate_after(mut self, ms: i64) -> Actor {
        self.settings_mut().deactivation_strategy = Some(ActorDeactivationStrategy {
            timeout: Some(TimeoutStrategy { timeout: ms }),
        });
        self
    }

    /// The tags the actor starts with (`ActorState.tags`).
    pub fn with_tags(mut self, tags: &[(&str, &str)]) -> Actor {
        self.state.get_or_insert_with(Default::default).tags = string_map(tags);
        self
    }

    /// Stateful, with a write-behind snapshot every `snapshot_ms` milliseconds.
    pub fn stateful(mut self, snapshot_ms: i64) -> Actor {
        let settings = self.settings_mut();
        settings.stateful = true;
        settings.snapshot_strategy = Some(ActorSnapshotStrategy {
            timeout: Some(TimeoutStrategy {
                timeout: snapshot_ms,
            }),
        });
        self
    }

    /// A timer action: `action` every `ms` milliseconds.
    pub fn every(mut self, ms: i32, action: &str) -> Actor {
        self.timer_actions.push(FixedTimerAction {
            seconds: ms,
            action: Some(Action {
                name: action.to_string(),
            }),
        });
        self
    }

    /// The state the actor starts with.
    pub fn initial_state(mut self, state: Any) -> Actor {
        self.state.get_or_insert_with(Default::default).state = Some(state);
        self
    }

    /// Subscribe to `topics` the Python SDK's way: plain strings in `channel_group`.
    pub fn subscribe(mut self, topics: &[&str]) -> Actor {
        self.metadata = Metadata {
            channel_group: topics.iter().map(|t| t.to_string()).collect(),
            tags: HashMap::new(),
        }
        .encode_to_vec();
        self
    }

    /// Subscribe with `Channel` messages, as `(topic, action)`; an empty action means "receive".
    pub fn subscribe_channels(mut self, channels: &[(&str, &str)]) -> Actor {
        self.metadata = MetadataV2 {
            channel_group: channels
                .iter()
                .map(|(topic, action)| Channel {
                    topic: topic.to_string(),
                    action: action.to_string(),
                })
                .collect(),
            tags: HashMap::new(),
        }
        .encode_to_vec();
        self
    }
}

/// A request for `system`/`actor`.`action` with a Noop payload; refine it with the `with_*` methods.
pub fn request(system: &str, actor: &str, action: &str) -> InvocationRequest {
    InvocationRequest {
        system: Some(ActorSystem {
            name: system.to_string(),
            registry: None,
        }),
        actor: Some(Actor {
            id: Some(ActorId::new(actor, system)),
            ..Default::default()
        }),
        action_name: action.to_string(),
        noop: Some(Noop {}),
        ..Default::default()
    }
}

impl InvocationRequest {
    /// Send `value` instead of Noop.
    pub fn with_value(mut self, value: Any) -> Self {
        self.value = Some(value);
        self.noop = None;
        self
    }

    /// Spawn the actor from the UNNAMED `template` if it does not exist (`register_ref`).
    pub fn spawning(mut self, template: &str) -> Self {
        self.register_ref = template.to_string();
        self
    }

    /// Fire and forget (`async = true`).
    pub fn asynchronous(mut self) -> Self {
        self.async_ = true;
        self
    }

    /// Deliver at `epoch_ms` (`scheduled_to`).
    pub fn scheduled_at(mut self, epoch_ms: i64) -> Self {
        self.scheduled_to = epoch_ms;
        self
    }

    /// Send these per-call metadata (headers), e.g. `request-timeout`.
    pub fn with_metadata(mut self, pairs: &[(&str, &str)]) -> Self {
        self.metadata.extend(string_map(pairs));
        self
    }

    /// Address a POOLED actor (`pooled = true`).
    pub fn pooled(mut self) -> Self {
        self.pooled = true;
        self
    }

    fn target(&self) -> (&str, &str) {
        let system = self.system.as_ref().map_or("", |s| s.name.as_str());
        let actor = self
            .actor
            .as_ref()
            .and_then(|a| a.id.as_ref())
            .map_or("", |id| id.name.as_str());
        (system, actor)
    }
}

impl Workflow {
    /// Pipe the output payload to `actor`.`action`; the caller gets that reply.
    pub fn pipe(actor: &str, action: &str) -> Workflow {
        Workflow {
            pipe: Some(Pipe {
                actor: actor.to_string(),
                action_name: action.to_string(),
            }),
            ..Default::default()
        }
    }

    /// Forward the input payload to `actor`.`action`; the caller gets that reply.
    pub fn forward(actor: &str, action: &str) -> Workflow {
        Workflow {
            forward: Some(Forward {
                actor: actor.to_string(),
                action_name: action.to_string(),
            }),
            ..Default::default()
        }
    }

    /// Broadcast `value` to the subscribers of `topic`.
    pub fn broadcast(topic: &str, value: Any) -> Workflow {
        Workflow {
            broadcast: Some(Broadcast {
                channel_group: topic.to_string(),
                value: Some(value),
                noop: None,
            }),
            ..Default::default()
        }
    }

    /// Run each request as a separate side effect.
    pub fn effects(requests: Vec<InvocationRequest>) -> Workflow {
        Workflow {
            effects: requests
                .into_iter()
                .map(|r| SideEffect { request: Some(r) })
                .collect(),
            ..Default::default()
        }
    }
}

impl ActorInvocation {
    /// The name of the caller (empty when there is none).
    pub fn caller_name(&self) -> &str {
        self.caller.as_ref().map_or("", |c| c.name.as_str())
    }

    /// The state Warren sent in `current_context`.
    pub fn state(&self) -> Option<&Any> {
        self.current_context.as_ref().and_then(|c| c.state.as_ref())
    }

    /// The per-call metadata Warren sent in `current_context` (empty when there is none).
    pub fn metadata(&self) -> HashMap<String, String> {
        self.current_context
            .as_ref()
            .map(|c| c.metadata.clone())
            .unwrap_or_default()
    }

    /// The actor's tags Warren sent in `current_context` (empty when there are none).
    pub fn tags(&self) -> HashMap<String, String> {
        self.current_context
            .as_ref()
            .map(|c| c.tags.clone())
            .unwrap_or_default()
    }
}

/// A reply to `call` that changes nothing: it names the actor and carries a Noop payload.
/// (Never answer with a default message: it encodes to an empty body, which Warren treats
/// as a failed call.)
pub fn reply(call: &ActorInvocation) -> ActorInvocationResponse {
    let id = call.actor.clone().unwrap_or_default();
    ActorInvocationResponse {
        actor_name: id.name,
        actor_system: id.system,
        noop: Some(Noop {}),
        ..Default::default()
    }
}

impl ActorInvocationResponse {
    /// Replace the actor's state with `state`.
    pub fn with_state(mut self, state: Any) -> Self {
        self.updated_context
            .get_or_insert_with(Default::default)
            .state = Some(state);
        self
    }

    /// Answer with `value` instead of Noop.
    pub fn with_value(mut self, value: Any) -> Self {
        self.value = Some(value);
        self.noop = None;
        self
    }

    /// Run `workflow` after the state update.
    pub fn with_workflow(mut self, workflow: Workflow) -> Self {
        self.workflow = Some(workflow);
        self
    }

    /// Ask for the state to be written at once.
    pub fn checkpointed(mut self) -> Self {
        self.checkpoint = true;
        self
    }

    /// Replace the actor's tags with exactly `tags` (`updated_context.tags`).
    pub fn with_tags(mut self, tags: &[(&str, &str)]) -> Self {
        self.updated_context
            .get_or_insert_with(Default::default)
            .tags = string_map(tags);
        self
    }
}

// ---- calling the proxy ----

/// POST `body` to `path` with `content_type`; returns the status and the raw response body.
pub async fn post_raw(
    host: &Host,
    path: &str,
    content_type: &str,
    body: Vec<u8>,
) -> (u16, Vec<u8>) {
    let response = host
        .client
        .post(format!("{}{path}", host.url))
        .header(reqwest::header::CONTENT_TYPE, content_type)
        .body(body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {path} failed: {e}"));
    let status = response.status().as_u16();
    (status, response.bytes().await.unwrap().to_vec())
}

/// POST `body` as protobuf to `path` and decode the reply as `M`, whatever the status (errors
/// carry a protobuf body too).
pub async fn post_proto<M: Message + Default>(
    host: &Host,
    path: &str,
    body: &impl Message,
) -> (u16, M) {
    let (status, bytes) =
        post_raw(host, path, "application/octet-stream", body.encode_to_vec()).await;
    let message = M::decode(bytes.as_slice()).unwrap_or_else(|e| {
        panic!(
            "POST {path}: {status} with a body that is not the expected message ({e}): {:?}",
            String::from_utf8_lossy(&bytes)
        )
    });
    (status, message)
}

/// The `ServiceInfo` this harness registers with (an old SDK's protocol version, 1.1).
pub fn service_info() -> ServiceInfo {
    ServiceInfo {
        service_name: "warren-spawn-tests".to_string(),
        service_version: "0.1.0".to_string(),
        service_runtime: "rust".to_string(),
        support_library_name: "spawn_harness".to_string(),
        support_library_version: "0.1.0".to_string(),
        protocol_major_version: 1,
        protocol_minor_version: 1,
    }
}

/// The `RegistrationRequest` an SDK sends at start for `actors` in `system`.
pub fn registration(system: &str, actors: Vec<Actor>) -> RegistrationRequest {
    let actors = actors
        .into_iter()
        .map(|mut actor| {
            let name = {
                let id = actor.id.get_or_insert_with(Default::default);
                id.system = system.to_string();
                id.name.clone()
            };
            (name, actor)
        })
        .collect();
    RegistrationRequest {
        service_info: Some(service_info()),
        actor_system: Some(ActorSystem {
            name: system.to_string(),
            registry: Some(Registry { actors }),
        }),
    }
}

/// Register `actors` in `system`; returns the status and the decoded reply, whatever they are.
pub async fn try_register(
    host: &Host,
    system: &str,
    actors: Vec<Actor>,
) -> (u16, RegistrationResponse) {
    post_proto(host, "/api/v1/system", &registration(system, actors)).await
}

/// Register `actors` in `system` as an SDK does at start; asserts 200 and OK.
pub async fn register(host: &Host, system: &str, actors: Vec<Actor>) -> RegistrationResponse {
    let (status, response) = try_register(host, system, actors).await;
    assert!(
        status == 200 && code(&response.status) == OK,
        "registering {system}: {status} {:?}",
        response.status
    );
    response
}

/// `POST .../actors/spawn[?revision=N]` for `actors`; asserts 200 and OK.
pub async fn spawn_actors(host: &Host, system: &str, actors: Vec<ActorId>, revision: Option<i64>) {
    let query = revision.map_or(String::new(), |r| format!("?revision={r}"));
    let path = format!("/api/v1/system/{system}/actors/spawn{query}");
    let (status, response) =
        post_proto::<SpawnResponse>(host, &path, &SpawnRequest { actors }).await;
    assert!(
        status == 200 && code(&response.status) == OK,
        "POST {path}: {status} {:?}",
        response.status
    );
}

/// Send `request` to its actor's invoke route; returns the status and the decoded reply.
pub async fn invoke(host: &Host, request: &InvocationRequest) -> (u16, InvocationResponse) {
    let (system, actor) = request.target();
    let path = format!("/api/v1/system/{system}/actors/{actor}/invoke");
    post_proto(host, &path, request).await
}

/// Invoke and expect 200 with status OK; returns the reply.
pub async fn invoke_ok(host: &Host, request: &InvocationRequest) -> InvocationResponse {
    let (status, response) = invoke(host, request).await;
    let (system, actor) = request.target();
    assert!(
        status == 200 && code(&response.status) == OK,
        "{system}/{actor}.{} failed: {status} {:?}",
        request.action_name,
        response.status
    );
    response
}

// ---- the user function ----

/// Answers a call with an HTTP status and the raw body to send.
type Handler = Arc<dyn Fn(&ActorInvocation) -> (u16, Vec<u8>) + Send + Sync>;
type Calls = Arc<Mutex<Vec<ActorInvocation>>>;

#[derive(Clone)]
struct Served {
    calls: Calls,
    handler: Handler,
}

/// The SDK side of the protocol: an HTTP server on 127.0.0.1 that Warren calls at
/// `POST /api/v1/actors/actions`. It records every `ActorInvocation` and answers with the
/// test's handler. It runs on its own runtime, so blocking test code (a host restart) never
/// stalls it, and the handler runs on a blocking thread, so it may block too.
pub struct UserFunction {
    addr: SocketAddr,
    calls: Calls,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl UserFunction {
    /// Serve `handler` on a free port until dropped.
    pub fn start(
        handler: impl Fn(&ActorInvocation) -> ActorInvocationResponse + Send + Sync + 'static,
    ) -> UserFunction {
        UserFunction::start_raw(move |call: &ActorInvocation| (200, handler(call).encode_to_vec()))
    }

    /// Serve a `handler` that answers with an HTTP status and raw body bytes (empty, garbage,
    /// or a hand-built message), on a free port until dropped.
    pub fn start_raw(
        handler: impl Fn(&ActorInvocation) -> (u16, Vec<u8>) + Send + Sync + 'static,
    ) -> UserFunction {
        let listener =
            std::net::TcpListener::bind("127.0.0.1:0").expect("cannot bind the user function");
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let calls = Calls::default();
        let app = Router::new()
            .route("/api/v1/actors/actions", post(actions))
            .with_state(Served {
                calls: calls.clone(),
                handler: Arc::new(handler),
            });
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("cannot build the user function's runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stopped.await;
                    })
                    .await
                    .unwrap();
            });
        });
        UserFunction {
            addr,
            calls,
            stop: Some(stop),
        }
    }

    /// `http://127.0.0.1:PORT`, for `--spawn-user-function`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every call received so far, in order.
    pub fn calls(&self) -> Vec<ActorInvocation> {
        self.calls.lock().unwrap().clone()
    }

    /// The calls of `action` on `actor`, which matches an actor's name or its template (`parent`).
    pub fn calls_to(&self, actor: &str, action: &str) -> Vec<ActorInvocation> {
        self.calls()
            .into_iter()
            .filter(|c| {
                c.action_name == action
                    && c.actor
                        .as_ref()
                        .is_some_and(|id| id.name == actor || id.parent == actor)
            })
            .collect()
    }

    /// How many calls of `action` on `actor` (name or template) arrived.
    pub fn count(&self, actor: &str, action: &str) -> usize {
        self.calls_to(actor, action).len()
    }

    /// Wait until `actor` got `action` at least `n` times within `within`; returns those calls.
    pub async fn wait_for(
        &self,
        actor: &str,
        action: &str,
        n: usize,
        within: Duration,
    ) -> Vec<ActorInvocation> {
        let found = eventually(within, || async {
            let calls = self.calls_to(actor, action);
            (calls.len() >= n).then_some(calls)
        })
        .await;
        found.unwrap_or_else(|| {
            panic!(
                "{actor}.{action} was not called {n} times within {within:?}; calls: {:?}",
                self.summary()
            )
        })
    }

    /// `actor.action` for every call so far, for failure messages.
    pub fn summary(&self) -> Vec<String> {
        self.calls()
            .iter()
            .map(|c| {
                let name = c.actor.as_ref().map_or("?", |id| id.name.as_str());
                format!("{name}.{}", c.action_name)
            })
            .collect()
    }
}

impl Drop for UserFunction {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// `POST /api/v1/actors/actions`: record the call and answer with the handler's status and body.
async fn actions(State(served): State<Served>, body: Bytes) -> Response {
    let call = match ActorInvocation::decode(body) {
        Ok(call) => call,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                format!("not an ActorInvocation: {e}"),
            )
                .into_response();
        }
    };
    served.calls.lock().unwrap().push(call.clone());
    let handler = served.handler.clone();
    match tokio::task::spawn_blocking(move || (*handler)(&call)).await {
        Ok((status, body)) => (
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            [(header::CONTENT_TYPE, "application/octet-stream")],
            body,
        )
            .into_response(),
        // The handler panicked: an empty body, as the Node SDK answers a failed handler.
        Err(_) => StatusCode::BAD_REQUEST.into_response(),
    }
}
