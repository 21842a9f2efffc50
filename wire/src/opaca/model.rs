//! OPACA's JSON models (camelCase on the wire), as the reference platform and the Python
//! SDK exchange them. Optional fields accept `null`; lists and maps default to empty.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// `null` or absent reads as the type's default (the Python SDK sends explicit nulls).
fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// An error answer: `{statusCode, message, cause}`, `cause` nesting a downstream error.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ErrorResponse {
    pub status_code: u16,
    pub message: String,
    #[serde(default)]
    pub cause: Option<Box<ErrorResponse>>,
}

/// The type of a parameter or result: a JSON type name or a definition name.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Parameter {
    #[serde(rename = "type")]
    pub type_: String,
    #[serde(default = "yes")]
    pub required: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_value: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items: Option<Box<ArrayItems>>,
}

fn yes() -> bool {
    true
}

/// The element type of an `array` parameter.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ArrayItems {
    #[serde(rename = "type")]
    pub type_: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items: Option<Box<ArrayItems>>,
}

/// An action an agent offers.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Action {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub parameters: BTreeMap<String, Parameter>,
    #[serde(default)]
    pub result: Option<Parameter>,
}

/// A byte stream an agent offers.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Stream {
    pub name: String,
    #[serde(default = "get_mode")]
    pub mode: String,
    #[serde(default)]
    pub description: Option<String>,
}

fn get_mode() -> String {
    "GET".into()
}

/// An agent and what it offers.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AgentDescription {
    pub agent_id: String,
    #[serde(default)]
    pub agent_type: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub actions: Vec<Action>,
    #[serde(default, deserialize_with = "nullable")]
    pub streams: Vec<Stream>,
}

/// A parameter a container image takes (an environment variable of the container).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ImageParameter {
    pub name: String,
    #[serde(rename = "type", default = "string_type")]
    pub type_: String,
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub confidential: bool,
    #[serde(default)]
    pub default_value: Option<String>,
}

fn string_type() -> String {
    "string".into()
}

/// An extra port a container image exposes.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PortDescription {
    #[serde(default)]
    pub protocol: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
}

/// A container image: for Warren, a component name or an image mapped to a command.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct AgentContainerImage {
    pub image_name: String,
    #[serde(default, deserialize_with = "nullable")]
    pub requires: Vec<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub provides: Vec<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub provider: Option<String>,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default = "api_port")]
    pub api_port: u16,
    #[serde(default, deserialize_with = "nullable")]
    pub extra_ports: BTreeMap<u16, PortDescription>,
    #[serde(default, deserialize_with = "nullable")]
    pub parameters: Vec<ImageParameter>,
    #[serde(default, deserialize_with = "nullable")]
    pub definitions: BTreeMap<String, Value>,
    #[serde(default, deserialize_with = "nullable")]
    pub definitions_by_url: BTreeMap<String, String>,
}

/// The default API port of an agent container.
pub fn api_port() -> u16 {
    8082
}

/// How a running container is reached.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Connectivity {
    pub public_url: String,
    pub api_port_mapping: u16,
    #[serde(default, deserialize_with = "nullable")]
    pub extra_port_mappings: BTreeMap<u16, PortDescription>,
}

/// A running agent container.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AgentContainer {
    pub container_id: String,
    pub image: AgentContainerImage,
    #[serde(default, deserialize_with = "nullable")]
    pub arguments: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "nullable")]
    pub agents: Vec<AgentDescription>,
    #[serde(default)]
    pub owner: Option<String>,
    #[serde(default)]
    pub running_since: Option<String>,
    #[serde(default)]
    pub connectivity: Option<Connectivity>,
}

/// Where a container should run (Warren runs every container itself).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ClientConfig {
    #[serde(rename = "type")]
    pub type_: String,
}

/// The body of `POST /containers`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PostAgentContainer {
    pub image: AgentContainerImage,
    #[serde(default, deserialize_with = "nullable")]
    pub arguments: BTreeMap<String, String>,
    #[serde(default)]
    pub pull: Option<bool>,
    #[serde(default)]
    pub client_config: Option<ClientConfig>,
}

/// The platform itself.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RuntimePlatform {
    pub platform_id: String,
    pub base_url: String,
    #[serde(default, deserialize_with = "nullable")]
    pub containers: Vec<AgentContainer>,
    #[serde(default, deserialize_with = "nullable")]
    pub provides: Vec<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub connections: Vec<String>,
    #[serde(default)]
    pub running_since: Option<String>,
}

/// A message to an agent or a channel. Read strictly, as the reference does: a JSON
/// object with no field but these two (its own wrong-payload test expects 422).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(
    rename_all = "camelCase",
    deny_unknown_fields,
    try_from = "MessageObject"
)]
pub struct Message {
    #[serde(default)]
    pub payload: Value,
    /// Left out when absent: the Python SDK refuses an explicit `null`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<String>,
}

/// A message as it must arrive: an object (serde would also take a struct from an array).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct MessageFields {
    #[serde(default)]
    payload: Value,
    #[serde(default)]
    reply_to: Option<String>,
}

/// Any JSON, checked to be an object of [`MessageFields`].
#[derive(Deserialize)]
#[serde(transparent)]
struct MessageObject(Value);

impl TryFrom<MessageObject> for Message {
    type Error = String;

    fn try_from(value: MessageObject) -> Result<Self, String> {
        if !value.0.is_object() {
            return Err("a message is a JSON object with `payload` and `replyTo`".into());
        }
        let fields: MessageFields = serde_json::from_value(value.0).map_err(|e| e.to_string())?;
        Ok(Message {
            payload: fields.payload,
            reply_to: fields.reply_to,
        })
    }
}

/// Credentials.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Login {
    pub username: String,
    pub password: String,
}

/// The body of `POST`/`DELETE /connections`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionRequest {
    pub url: String,
    #[serde(default)]
    pub connect_back: bool,
    #[serde(default)]
    pub token: Option<String>,
}

/// Kinds of history events.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "UPPERCASE")]
pub enum EventType {
    Call,
    Forward,
    Success,
    Error,
}

/// One entry of `/history`; nulls are omitted.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    pub id: String,
    pub timestamp: i64,
    pub event_type: EventType,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sender_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub receiver: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_code: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub related_id: Option<String>,
}

/// The four roles, weakest first.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "UPPERCASE")]
pub enum Role {
    Guest,
    User,
    Contributor,
    Admin,
}

/// A user as `/users` shows it (the password is write-only).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub username: String,
    #[serde(default, skip_serializing)]
    pub password: Option<String>,
    pub role: Role,
    #[serde(default, deserialize_with = "nullable")]
    pub privileges: Vec<String>,
    /// The Warren tenant the user acts in (a Warren extension; `default` when absent).
    #[serde(default)]
    pub tenant: Option<String>,
}
