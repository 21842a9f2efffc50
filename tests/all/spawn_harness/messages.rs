//! The protocol's messages, from its field tables: `actor.proto` and `protocol.proto` in
//! the old `eigr.functions.protocol` flavour, and the payload wrappers.

use std::collections::HashMap;

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
