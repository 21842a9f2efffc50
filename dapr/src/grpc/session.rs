//! What the two streams on which an external process hosts actor types (`Actors/Stream`
//! and `SubscribeActorEventsAlpha1`) do alike: Warren sends the process one message for
//! each call the runtime core hands the stream, keeps the call pending under the id that
//! message carries until the process answers that id, and fails the calls still pending
//! when the stream ends. Each protocol only translates, through [`StreamProtocol`].

use std::hash::Hash;
use std::pin::Pin;
use std::time::Duration;

use futures::Stream;
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{mpsc, oneshot};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Status, Streaming};

pub(super) use warren_wire::streams::Decoded;
use warren_wire::streams::Ledger;

use crate::runtime::{ActorId, InvokeError, Reply};
use crate::stream::{StreamCall, StreamRequest};

/// gRPC's NOT_FOUND code, with which a process says it has no such actor or method.
const NOT_FOUND: u32 = 5;

/// Messages queued for a process before Warren waits for it to read.
const OUTBOX: usize = 64;

/// How long Warren waits for a process to make room in its queue before it takes the
/// process as not reading: the call fails then, and the calls after it fail at once
/// until the process reads again.
pub(super) const STALL: Duration = Duration::from_secs(1);

/// Calls sent and not yet answered on one stream (whether their callers still wait or
/// not) past which Warren ends the stream: a process that never answers costs bounded
/// memory.
const MAX_UNANSWERED: usize = 10_000;

/// The messages Warren sends on a stream, as tonic serves them.
pub(super) type Outbound<M> = Pin<Box<dyn Stream<Item = Result<M, Status>> + Send>>;

/// Where messages for the process are queued; an `Err` ends the stream with that status.
pub(super) type Outbox<M> = mpsc::Sender<Result<M, Status>>;

/// What one message of the process is, in protocol `P`'s terms.
pub(super) type DecodedOf<P> = Decoded<
    <P as StreamProtocol>::Id,
    <P as StreamProtocol>::Answer,
    <P as StreamProtocol>::Request,
>;

/// One stream protocol's translation between the runtime core's calls and its messages.
/// The session owns everything else, so both protocols pair calls and answers the same way.
pub(super) trait StreamProtocol: Sized + Send + 'static {
    /// A message from the process.
    type In: Send + 'static;
    /// A message to the process.
    type Out: Send + 'static;
    /// What the protocol tells Warren's messages apart by.
    type Id: Eq + Hash + Clone + Send;
    /// The part of a message that answers one of Warren's.
    type Answer;
    /// A request the process makes of Warren on the stream.
    type Request;

    /// The stream's name in logs.
    const NAME: &'static str;

    /// The id of Warren's `serial`th message on the stream, counting from 1.
    fn id(serial: u64) -> Self::Id;

    /// The message asking the process for `request`, under `id`.
    fn encode(id: Self::Id, request: StreamRequest) -> Self::Out;

    /// What a message of the process is; an error means it broke a rule of the protocol,
    /// and ends the stream with that status.
    fn decode(&mut self, message: Self::In) -> Result<DecodedOf<Self>, Status>;

    /// What an answer means for the call of `action` on `actor` that asked for it.
    fn result(answer: Self::Answer, actor: ActorId, action: String) -> Result<Reply, InvokeError>;

    /// An answer to `id`, for which no call is pending: an error ends the stream, `Ok`
    /// lets it go on.
    fn unexpected(id: Self::Id) -> Result<(), Status>;

    /// Serve a request of the process, queueing what answers it on `out`.
    fn serve(&mut self, request: Self::Request, out: &Outbox<Self::Out>);
}

/// The error of a call the process failed with a gRPC `code`. NOT_FOUND means no such
/// actor or method, which callers treat as permanent (a reminder's firing is not retried);
/// any other code fails the turn, and the message says `who` failed it.
pub(super) fn failure(
    code: u32,
    message: String,
    actor: ActorId,
    action: String,
    who: &str,
) -> InvokeError {
    if code == NOT_FOUND {
        return InvokeError::ActionNotFound {
            actor,
            action,
            message,
        };
    }
    InvokeError::Failed {
        actor,
        action,
        message: format!("{who} (gRPC code {code}): {message}"),
    }
}

/// The first message of a stream, which declares what the stream hosts; `what` names it in
/// the error when the stream closes before sending it.
pub(super) async fn first<M>(inbound: &mut Streaming<M>, what: &str) -> Result<M, Status> {
    inbound
        .message()
        .await?
        .ok_or_else(|| Status::invalid_argument(format!("the stream closed before its {what}")))
}

/// Serve a stream whose initial message was accepted: queue `ack`, then, in a task of its
/// own, pass calls to the process and its answers back until either side closes, and run
/// `closed`. Returns the messages for tonic to send.
pub(super) fn start<P: StreamProtocol>(
    protocol: P,
    tenant: String,
    ack: P::Out,
    inbound: Streaming<P::In>,
    calls: mpsc::UnboundedReceiver<StreamCall>,
    closed: impl FnOnce() + Send + 'static,
) -> Outbound<P::Out> {
    let (out, receiver) = mpsc::channel(OUTBOX);
    // The channel is new and has room: this cannot fail.
    let _ = out.try_send(Ok(ack));
    let session = Session {
        protocol,
        tenant,
        out,
        pending: Ledger::new(MAX_UNANSWERED),
        sent: 0,
        stalled: false,
    };
    tokio::spawn(async move {
        session.serve(inbound, calls).await;
        closed();
    });
    Box::pin(ReceiverStream::new(receiver))
}

/// A call sent to the process and not yet answered.
struct Pending {
    reply: oneshot::Sender<Result<Reply, InvokeError>>,
    actor: ActorId,
    action: String,
}

/// One open stream: its protocol, and the calls waiting for the process's answers.
struct Session<P: StreamProtocol> {
    protocol: P,
    tenant: String,
    out: Outbox<P::Out>,
    pending: Ledger<P::Id, Pending>,
    /// How many messages Warren has sent; the last one's serial.
    sent: u64,
    /// Whether the process let its queue stay full for [`STALL`], and has not read since.
    stalled: bool,
}

impl<P: StreamProtocol> Session<P> {
    /// Serve the stream until either side closes or the process breaks a rule; a broken
    /// rule ends the stream with its status. Calls still pending then fail: their reply
    /// channels drop with the session.
    async fn serve(
        mut self,
        mut inbound: Streaming<P::In>,
        mut calls: mpsc::UnboundedReceiver<StreamCall>,
    ) {
        loop {
            tokio::select! {
                call = calls.recv() => {
                    let Some(call) = call else { break };
                    if !self.send(call).await {
                        break;
                    }
                }
                message = inbound.message() => match message {
                    Ok(Some(message)) => {
                        if let Err(status) = self.take(message) {
                            tracing::warn!(tenant = %self.tenant, %status, "ending {}", P::NAME);
                            // Never wait on a process that may not read: the stream ends
                            // either way, with the status when there is room for it.
                            let _ = self.out.try_send(Err(status));
                            break;
                        }
                    }
                    Ok(None) => break,
                    Err(status) => {
                        tracing::debug!(%status, "{} ended", P::NAME);
                        break;
                    }
                },
                () = self.out.closed() => break,
            }
        }
    }

    /// Send one call to the process; false when the stream is to end (the process is
    /// gone, or left too many calls unanswered). A call whose caller gave up is not sent;
    /// one the process does not read in time fails as unavailable, the stream goes on.
    async fn send(&mut self, call: StreamCall) -> bool {
        if call.reply.is_closed() {
            return true;
        }
        if self.pending.is_full() {
            tracing::warn!(tenant = %self.tenant, "ending {}: {MAX_UNANSWERED} calls unanswered", P::NAME);
            let status = Status::resource_exhausted(format!(
                "the process left {MAX_UNANSWERED} of Warren's calls unanswered"
            ));
            let _ = self.out.try_send(Err(status));
            return false;
        }
        let (actor, action) = match &call.request {
            StreamRequest::Turn(invocation) => {
                (invocation.target.clone(), invocation.action.clone())
            }
            StreamRequest::Deactivate(actor) => (actor.clone(), "deactivate".to_string()),
        };
        let id = P::id(self.sent + 1);
        let message = P::encode(id.clone(), call.request);
        let queued = match self.out.try_send(Ok(message)) {
            Ok(()) => true,
            Err(TrySendError::Closed(_)) => return false,
            Err(TrySendError::Full(_)) if self.stalled => false,
            Err(TrySendError::Full(message)) => {
                match tokio::time::timeout(STALL, self.out.send(message)).await {
                    Ok(Ok(())) => true,
                    Ok(Err(_)) => return false,
                    Err(_) => false,
                }
            }
        };
        self.stalled = !queued;
        if !queued {
            tracing::debug!(tenant = %self.tenant, %actor, "{}: the process is not reading", P::NAME);
            let _ = call.reply.send(Err(InvokeError::Unavailable {
                actor,
                message: format!(
                    "the process hosting it on {} is not reading: {OUTBOX} messages wait",
                    P::NAME
                ),
                ran: false,
            }));
            return true;
        }
        self.sent += 1;
        let pending = Pending {
            reply: call.reply,
            actor,
            action,
        };
        self.pending.insert(id, pending);
        true
    }

    /// Take one message of the process: an answer goes to the call it answers, a request
    /// to the protocol.
    fn take(&mut self, message: P::In) -> Result<(), Status> {
        match self.protocol.decode(message)? {
            Decoded::Answer(id, answer) => match self.pending.take(&id) {
                Some(pending) => {
                    let result = P::result(answer, pending.actor, pending.action);
                    // The caller may have given up (deadline); nothing to tell then.
                    let _ = pending.reply.send(result);
                    Ok(())
                }
                None => P::unexpected(id),
            },
            Decoded::Request(request) => {
                self.protocol.serve(request, &self.out);
                Ok(())
            }
            Decoded::Ignored => Ok(()),
        }
    }
}
