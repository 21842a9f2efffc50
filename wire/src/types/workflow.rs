//! What a turn asks the runtime to do after it: Spawn's workflow (side effects, a
//! broadcast to a channel, pipe, forward), available to every backend.

/// An actor as a workflow names it: an instance `name`, of type `parent` when given, else
/// resolved as Spawn resolves names (the runtime's `resolve`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Address {
    /// The actor's name: its id, or a named type's name, or a spawned instance's name.
    pub name: String,
    /// The actor type `name` is an instance of (Spawn's `parent` or `register_ref`).
    pub parent: Option<String>,
}

impl Address {
    /// Actor `id` of `actor_type`.
    pub fn typed(actor_type: &str, id: &str) -> Self {
        Address {
            name: id.to_string(),
            parent: Some(actor_type.to_string()),
        }
    }
}

/// A message sent once the turn is done; its outcome does not reach the caller.
#[derive(Clone, Debug)]
pub struct Effect {
    /// The actor to send it to.
    pub target: Address,
    /// The action to run.
    pub action: String,
    /// The message's payload.
    pub payload: Vec<u8>,
    /// Its own metadata, added to (and overriding) the metadata of the turn's caller.
    pub metadata: Vec<(String, String)>,
    /// Deliver it at this time (Unix epoch milliseconds) instead of at once.
    pub at_ms: Option<i64>,
}

/// A payload published to every active subscriber of a channel.
#[derive(Clone, Debug)]
pub struct Publish {
    /// The channel (Spawn's topic).
    pub channel: String,
    /// What every subscriber gets.
    pub payload: Vec<u8>,
    /// The action to run on subscribers whose subscription names none (old Spawn SDKs
    /// name it in the broadcast); the subscription's default action when absent.
    pub action: Option<String>,
}

/// Which payload a route sends onward.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RouteKind {
    /// The turn's reply; the original caller gets the next actor's reply.
    Pipe,
    /// The turn's input; the original caller gets the next actor's reply.
    Forward,
}

/// Hand the request on to another actor once the turn is done.
#[derive(Clone, Debug)]
pub struct Route {
    /// Which payload goes onward.
    pub kind: RouteKind,
    /// The next actor.
    pub target: Address,
    /// The action it runs.
    pub action: String,
}

/// Everything a turn asked for, run in this order after it commits.
#[derive(Clone, Debug, Default)]
pub struct Workflow {
    /// Messages sent on their own, whose outcome the caller does not see.
    pub effects: Vec<Effect>,
    /// A payload for a channel's subscribers.
    pub broadcast: Option<Publish>,
    /// Where the request goes next; the caller gets that actor's reply.
    pub route: Option<Route>,
}

impl Workflow {
    /// Whether the turn asked for nothing.
    pub fn is_empty(&self) -> bool {
        self.effects.is_empty() && self.broadcast.is_none() && self.route.is_none()
    }
}
