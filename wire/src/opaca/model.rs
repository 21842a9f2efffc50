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
    /// OPACA's `statusCode`: the HTTP status of the answer.
    pub status_code: u16,
    /// What went wrong, in words.
    pub message: String,
    /// The downstream error (of a container or a connected platform) behind this one.
    #[serde(default)]
    pub cause: Option<Box<ErrorResponse>>,
}

/// The type of a parameter or result: a JSON type name or a definition name.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Parameter {
    /// OPACA's `type`: `string`, `integer`, `number`, `boolean`, `null`, `array`, `object`,
    /// or the name of a definition.
    #[serde(rename = "type")]
    pub type_: String,
    /// Whether an argument must be given (true when absent).
    #[serde(default = "yes")]
    pub required: bool,
    /// OPACA's `defaultValue`: any JSON, for an optional parameter left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_value: Option<Value>,
    /// For an `array`, the type of its elements.
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
    /// The elements' type: a JSON type name or the name of a definition.
    #[serde(rename = "type")]
    pub type_: String,
    /// For elements that are arrays themselves, the type of their elements.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items: Option<Box<ArrayItems>>,
}

/// An action an agent offers.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Action {
    /// The action's name, as `/invoke/{action}` takes it.
    pub name: String,
    /// What the action does, in words for people (and LLM tools).
    #[serde(default)]
    pub description: Option<String>,
    /// The action's parameters, by argument name.
    #[serde(default, deserialize_with = "nullable")]
    pub parameters: BTreeMap<String, Parameter>,
    /// The type of the action's result, when declared.
    #[serde(default)]
    pub result: Option<Parameter>,
}

/// A byte stream an agent offers.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Stream {
    /// The stream's name, as `/stream/{stream}` takes it.
    pub name: String,
    /// `GET` (the agent sends the bytes) or `POST` (it receives them); `GET` when absent.
    #[serde(default = "get_mode")]
    pub mode: String,
    /// What the stream carries, in words for people.
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
    /// OPACA's `agentId`, as `/agents/{agentId}` and `/send/{agentId}` take it.
    pub agent_id: String,
    /// OPACA's `agentType`: the kind of agent, when it names one.
    #[serde(default)]
    pub agent_type: Option<String>,
    /// What the agent does, in words for people.
    #[serde(default)]
    pub description: Option<String>,
    /// The actions the agent offers.
    #[serde(default, deserialize_with = "nullable")]
    pub actions: Vec<Action>,
    /// The streams the agent offers.
    #[serde(default, deserialize_with = "nullable")]
    pub streams: Vec<Stream>,
}

/// A parameter a container image takes (an environment variable of the container).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ImageParameter {
    /// The parameter's name, also the name of its environment variable.
    pub name: String,
    /// Its type, a JSON type name (`string` when absent).
    #[serde(rename = "type", default = "string_type")]
    pub type_: String,
    /// Whether `POST /containers` must give it (false when absent).
    #[serde(default)]
    pub required: bool,
    /// Whether its value is kept out of the container's `arguments` as others see them
    /// (false when absent).
    #[serde(default)]
    pub confidential: bool,
    /// OPACA's `defaultValue`: the value used when the caller gives none.
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
    /// The protocol the port speaks (such as `TCP` or `UDP`), if given.
    #[serde(default)]
    pub protocol: Option<String>,
    /// What the port serves, in words for people.
    #[serde(default)]
    pub description: Option<String>,
}

/// A container image: for Warren, a component name or an image mapped to a command.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct AgentContainerImage {
    /// OPACA's `imageName` (required): the image to run, for Warren a component name or
    /// an image mapped to a command.
    pub image_name: String,
    /// What the platform must provide for the container to start (matched against the
    /// platform's `provides`).
    #[serde(default, deserialize_with = "nullable")]
    pub requires: Vec<String>,
    /// What the image provides, added to the platform's `provides`.
    #[serde(default, deserialize_with = "nullable")]
    pub provides: Vec<String>,
    /// A display name for the image.
    #[serde(default)]
    pub name: Option<String>,
    /// The image's version.
    #[serde(default)]
    pub version: Option<String>,
    /// What the image does, in words for people.
    #[serde(default)]
    pub description: Option<String>,
    /// Who provides the image.
    #[serde(default)]
    pub provider: Option<String>,
    /// Where to read more about the image.
    #[serde(default)]
    pub url: Option<String>,
    /// OPACA's `apiPort`: the port the container's API listens on ([`api_port`] when
    /// absent).
    #[serde(default = "api_port")]
    pub api_port: u16,
    /// OPACA's `extraPorts`: further ports the container exposes, by port number.
    #[serde(default, deserialize_with = "nullable")]
    pub extra_ports: BTreeMap<u16, PortDescription>,
    /// The parameters the image takes, passed to the container as environment variables.
    #[serde(default, deserialize_with = "nullable")]
    pub parameters: Vec<ImageParameter>,
    /// JSON Schemas (draft-07) of the types the actions' parameters name, by type name.
    #[serde(default, deserialize_with = "nullable")]
    pub definitions: BTreeMap<String, Value>,
    /// OPACA's `definitionsByUrl`: URLs of further type definitions, by type name.
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
    /// OPACA's `publicUrl`: the URL of the container's host, without a port.
    pub public_url: String,
    /// OPACA's `apiPortMapping`: the port on that host that leads to the container's
    /// `apiPort`.
    pub api_port_mapping: u16,
    /// OPACA's `extraPortMappings`: the container's extra ports, by the port on the host
    /// that leads to each.
    #[serde(default, deserialize_with = "nullable")]
    pub extra_port_mappings: BTreeMap<u16, PortDescription>,
}

/// A running agent container.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AgentContainer {
    /// OPACA's `containerId`: the id the platform gave the container (a UUID).
    pub container_id: String,
    /// The image the container runs.
    pub image: AgentContainerImage,
    /// The values of the image's parameters, by name, confidential ones left out.
    #[serde(default, deserialize_with = "nullable")]
    pub arguments: BTreeMap<String, String>,
    /// The agents the container hosts.
    #[serde(default, deserialize_with = "nullable")]
    pub agents: Vec<AgentDescription>,
    /// The user who started the container (set by the platform).
    #[serde(default)]
    pub owner: Option<String>,
    /// OPACA's `runningSince`: when the container started, as an ISO 8601 time.
    #[serde(default)]
    pub running_since: Option<String>,
    /// How the container is reached (set by the platform).
    #[serde(default)]
    pub connectivity: Option<Connectivity>,
}

/// Where a container should run (Warren runs every container itself).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ClientConfig {
    /// OPACA's `type`: the container client asked for, `DOCKER` or `KUBERNETES`.
    #[serde(rename = "type")]
    pub type_: String,
}

/// The body of `POST /containers`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PostAgentContainer {
    /// The image to start.
    pub image: AgentContainerImage,
    /// Values of the image's parameters, by name.
    #[serde(default, deserialize_with = "nullable")]
    pub arguments: BTreeMap<String, String>,
    /// OPACA's `pull`: whether to pull the image before starting it.
    #[serde(default)]
    pub pull: Option<bool>,
    /// OPACA's `clientConfig`: where the container should run.
    #[serde(default)]
    pub client_config: Option<ClientConfig>,
}

/// The platform itself.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RuntimePlatform {
    /// OPACA's `platformId`: the platform's id (a UUID).
    pub platform_id: String,
    /// OPACA's `baseUrl`: the URL the platform's API is reached at.
    pub base_url: String,
    /// The containers running on the platform.
    #[serde(default, deserialize_with = "nullable")]
    pub containers: Vec<AgentContainer>,
    /// What the platform provides, for images' `requires` (`config:…`, `image:…`,
    /// `agent:…`, `action:…` and the images' own `provides`).
    #[serde(default, deserialize_with = "nullable")]
    pub provides: Vec<String>,
    /// The base URLs of the connected platforms.
    #[serde(default, deserialize_with = "nullable")]
    pub connections: Vec<String>,
    /// OPACA's `runningSince`: when the platform started, as an ISO 8601 time.
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
    /// The message's content: any JSON (`null` when absent).
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
    /// The user to log in as.
    pub username: String,
    /// The user's password, in clear text.
    pub password: String,
}

/// The body of `POST`/`DELETE /connections`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionRequest {
    /// The base URL of the other platform.
    pub url: String,
    /// OPACA's `connectBack`: whether the other platform is to connect to this one too
    /// (false when absent).
    #[serde(default)]
    pub connect_back: bool,
    /// A token for the other platform (not this one), when it requires one.
    #[serde(default)]
    pub token: Option<String>,
}

/// Kinds of history events.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "UPPERCASE")]
pub enum EventType {
    /// A call came in (`CALL`).
    Call,
    /// The platform sent a request on to a container or another platform (`FORWARD`).
    Forward,
    /// A call was answered with a 2xx status (`SUCCESS`).
    Success,
    /// A call was answered with an error status (`ERROR`).
    Error,
}

/// One entry of `/history`; nulls are omitted.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    /// The event's own id, which later events name as their `relatedId`.
    pub id: String,
    /// When it happened, in milliseconds since the Unix epoch.
    pub timestamp: i64,
    /// OPACA's `eventType`: what happened.
    pub event_type: EventType,
    /// The call's method and path, such as `POST /invoke/Add`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    /// OPACA's `senderId`: the caller, from the `sender-id` header of a `CALL`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sender_id: Option<String>,
    /// The base URL a `FORWARD` went to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub receiver: Option<String>,
    /// OPACA's `statusCode`: the HTTP status of an `ERROR`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_code: Option<u16>,
    /// OPACA's `relatedId`: the id of the `CALL` this event follows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub related_id: Option<String>,
}

/// The four roles, weakest first.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "UPPERCASE")]
pub enum Role {
    /// May read: `/info`, `/agents`, `/containers` and their own user.
    Guest,
    /// May also call agents (`/invoke`, `/send`, `/broadcast`, streams) and read
    /// `/history` and `/connections`.
    User,
    /// May also start and stop containers (stopping only their own).
    Contributor,
    /// May do everything, users and connections included.
    Admin,
}

/// A user as `/users` shows it (the password is write-only).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct User {
    /// The user's name, which logs in and is the subject of their tokens.
    pub username: String,
    /// The password, taken when a user is created or updated and never shown.
    #[serde(default, skip_serializing)]
    pub password: Option<String>,
    /// What the user may do.
    pub role: Role,
    /// OPACA's `privileges`: further names of rights, kept as given.
    #[serde(default, deserialize_with = "nullable")]
    pub privileges: Vec<String>,
    /// The Warren tenant the user acts in (a Warren extension; `default` when absent).
    #[serde(default)]
    pub tenant: Option<String>,
}
