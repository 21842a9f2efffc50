//! What a turn asks the runtime to do after it: Spawn's workflow (side effects, a
//! broadcast to a channel, pipe, forward), available to every backend.

/// An actor as a workflow names it: an instance `name`, of type `parent` when given, else
/// resolved as Spawn resolves names (see [`super::Runtime::resolve`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Address {
    pub name: String,
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
    pub target: Address,
    pub action: String,
    pub payload: Vec<u8>,
    pub metadata: Vec<(String, String)>,
}

/// A payload published to every active subscriber of a channel.
#[derive(Clone, Debug)]
pub struct Publish {
    pub channel: String,
    pub payload: Vec<u8>,
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
    pub kind: RouteKind,
    pub target: Address,
    pub action: String,
}

/// Everything a turn asked for, run in this order after it commits.
#[derive(Clone, Debug, Default)]
pub struct Workflow {
    pub effects: Vec<Effect>,
    pub broadcast: Option<Publish>,
    pub route: Option<Route>,
}

impl Workflow {
    /// Whether the turn asked for nothing.
    pub fn is_empty(&self) -> bool {
        self.effects.is_empty() && self.broadcast.is_none() && self.route.is_none()
    }
}
