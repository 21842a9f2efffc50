//! Building and reading messages the way the SDKs do: payloads, actors to register,
//! requests, workflows and replies.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use prost::Message;

use super::messages::*;
use super::{JSON_TYPE_URL, NAMED, POOLED, UNNAMED};

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
