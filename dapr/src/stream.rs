//! Actor types hosted by an external process over a stream it opened to Warren (Dapr's
//! `SubscribeActorEventsAlpha1`, or the `Actors/Stream` of Dapr's proposal). The runtime
//! core hands each turn to the newest stream of the type and waits for its answer; the
//! protocol adapter owning the stream encodes the call and decodes the answer.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Instant;

use tokio::sync::{mpsc, oneshot};

use crate::runtime::{ActorBackend, BackendFuture, Runtime, Turn, TurnOutcome};
use crate::types::{ActorId, Invocation, InvokeError, Reply};

/// What Warren asks of the process at the other end of a stream.
#[derive(Debug)]
pub enum StreamRequest {
    /// Run a turn (a method call, a timer or a reminder).
    Turn(Box<Invocation>),
    /// The actor went idle and was deactivated.
    Deactivate(ActorId),
}

/// One request in flight, with where its answer goes.
#[derive(Debug)]
pub struct StreamCall {
    /// What the process is asked to do.
    pub request: StreamRequest,
    /// Where the process's answer, or the reason there is none, is sent.
    pub reply: oneshot::Sender<Result<Reply, InvokeError>>,
}

/// One open stream, as the backend sees it: where to send calls.
#[derive(Debug)]
pub struct StreamConnection {
    /// Unique among this process's connections, from 1 on.
    pub id: u64,
    sender: mpsc::UnboundedSender<StreamCall>,
}

static NEXT_CONNECTION: AtomicU64 = AtomicU64::new(1);

impl StreamConnection {
    /// A connection and the receiving end its protocol adapter serves.
    pub fn new() -> (StreamConnection, mpsc::UnboundedReceiver<StreamCall>) {
        let (sender, receiver) = mpsc::unbounded_channel();
        let id = NEXT_CONNECTION.fetch_add(1, Ordering::Relaxed);
        (StreamConnection { id, sender }, receiver)
    }
}

/// The component name under which streams host `actor_type`.
pub fn stream_component(actor_type: &str) -> String {
    format!("stream:{actor_type}")
}

/// The stream hosts one runtime's streams registered, by tenant and actor type: how a
/// new stream finds the host of its type again to join it (the runtime keeps them as
/// plain backends). Held weakly: a host the runtime let go goes.
pub struct Streams {
    runtime: Runtime,
    hosts: Mutex<HashMap<(String, String), Weak<StreamHost>>>,
}

impl Streams {
    /// No stream yet, on `runtime`.
    pub fn new(runtime: Runtime) -> Self {
        Streams {
            runtime,
            hosts: Mutex::new(HashMap::new()),
        }
    }

    /// The runtime the streams host actor types in.
    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    fn hosts(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), Weak<StreamHost>>> {
        self.hosts.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The stream host registered for `actor_type` of `tenant`, if `backend` is it.
    fn host_of(
        &self,
        tenant: &str,
        actor_type: &str,
        backend: &dyn ActorBackend,
    ) -> Option<Arc<StreamHost>> {
        let key = (tenant.to_string(), actor_type.to_string());
        let host = self.hosts().get(&key)?.upgrade()?;
        let same = std::ptr::addr_eq(Arc::as_ptr(&host), backend as *const dyn ActorBackend);
        same.then_some(host)
    }

    /// Host `spec`'s type by a stream's `connection`, registering the type when no
    /// stream hosts it yet; `accept` may refuse to join the streams already there.
    pub fn attach(
        &self,
        tenant: &str,
        spec: crate::types::manifest::ActorTypeSpec,
        connection: Arc<StreamConnection>,
        registration: Vec<u8>,
        accept: impl FnOnce(&StreamHost) -> Result<(), String>,
    ) -> Result<(), crate::runtime::AttachError> {
        let component = stream_component(&spec.name);
        let actor_type = spec.name.clone();
        self.runtime
            .attach(tenant, &component, spec, |existing| match existing {
                Some(backend) => {
                    let host = self
                        .host_of(tenant, &actor_type, backend.as_ref())
                        .ok_or_else(|| {
                            format!("actor type {actor_type:?} is not hosted by streams")
                        })?;
                    accept(&host)?;
                    host.add(connection);
                    Ok(backend.clone())
                }
                None => {
                    let host = Arc::new(StreamHost::new(&actor_type, registration));
                    host.add(connection);
                    let mut hosts = self.hosts();
                    hosts.retain(|_, host| host.strong_count() > 0);
                    hosts.insert(
                        (tenant.to_string(), actor_type.clone()),
                        Arc::downgrade(&host),
                    );
                    Ok(host)
                }
            })
    }

    /// A stream closed: it no longer hosts `actor_type`.
    pub fn detach(&self, tenant: &str, actor_type: &str, connection: u64) {
        self.runtime.detach(
            tenant,
            actor_type,
            &stream_component(actor_type),
            |backend| match self.host_of(tenant, actor_type, backend) {
                Some(host) => host.remove(connection),
                None => false,
            },
        );
    }
}

/// The streams hosting one actor type of one tenant, oldest first. New work goes to the
/// newest; older streams finish what they were given.
#[derive(Debug)]
pub struct StreamHost {
    actor_type: String,
    connections: Mutex<Vec<Arc<StreamConnection>>>,
    /// The registration the first stream sent, for protocols that require every stream of
    /// a type to send the same one.
    pub registration: Vec<u8>,
}

impl StreamHost {
    /// A host for `actor_type`, registered with `registration` (protocol bytes).
    pub fn new(actor_type: &str, registration: Vec<u8>) -> Self {
        StreamHost {
            actor_type: actor_type.to_string(),
            connections: Mutex::new(Vec::new()),
            registration,
        }
    }

    fn connections(&self) -> std::sync::MutexGuard<'_, Vec<Arc<StreamConnection>>> {
        self.connections.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Add a stream; it becomes the one new work goes to.
    pub fn add(&self, connection: Arc<StreamConnection>) {
        self.connections().push(connection);
    }

    /// Remove a stream; returns whether none is left.
    pub fn remove(&self, id: u64) -> bool {
        let mut connections = self.connections();
        connections.retain(|c| c.id != id);
        connections.is_empty()
    }

    /// Hand `call` to the newest stream still open; false if none is.
    fn send(&self, mut call: StreamCall) -> bool {
        let connections: Vec<_> = self.connections().iter().rev().cloned().collect();
        for connection in connections {
            match connection.sender.send(call) {
                Ok(()) => return true,
                // That stream is closing (its type not yet detached): try an older one.
                Err(mpsc::error::SendError(back)) => call = back,
            }
        }
        false
    }

    /// Run one turn on the newest stream and wait for its answer until the deadline.
    pub async fn run_turn(&self, invocation: &Invocation) -> Result<Reply, InvokeError> {
        let actor = invocation.target.clone();
        let failed = |message: String| InvokeError::Failed {
            actor: actor.clone(),
            action: invocation.action.clone(),
            message,
        };
        let (reply, answer) = oneshot::channel();
        let call = StreamCall {
            request: StreamRequest::Turn(Box::new(invocation.clone())),
            reply,
        };
        if !self.send(call) {
            return Err(failed(format!(
                "no stream hosts actor type {:?} any more",
                self.actor_type
            )));
        }
        match tokio::time::timeout_at(invocation.deadline.into(), answer).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(failed(
                "the stream hosting the actor closed before answering; the turn did not complete"
                    .into(),
            )),
            Err(_) => Err(InvokeError::DeadlineExceeded {
                actor: actor.clone(),
                action: invocation.action.clone(),
            }),
        }
    }

    /// Tell the newest stream an actor was deactivated, without waiting for the answer
    /// past `deadline`.
    pub async fn deactivate(&self, actor: ActorId, deadline: Instant) {
        let (reply, answer) = oneshot::channel();
        let call = StreamCall {
            request: StreamRequest::Deactivate(actor.clone()),
            reply,
        };
        if self.send(call)
            && let Ok(Ok(Err(e))) = tokio::time::timeout_at(deadline.into(), answer).await
        {
            tracing::warn!(%actor, error = %e, "stream did not take the deactivation");
        }
    }
}

impl ActorBackend for StreamHost {
    fn run_turn<'a>(&'a self, turn: Turn<'a>) -> BackendFuture<'a, TurnOutcome> {
        Box::pin(async move { TurnOutcome::unstaged(self.run_turn(turn.invocation).await) })
    }

    fn deactivated(self: Arc<Self>, runtime: &Runtime, actor: ActorId) {
        let deadline = runtime.deadline(&actor.tenant);
        tokio::spawn(async move { self.deactivate(actor, deadline).await });
    }
}
