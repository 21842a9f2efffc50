//! The rules of the two streams on which an external process hosts actor types, apart
//! from what the runtime does with them: which message of the process is what, in what
//! order the process may send them, and the calls Warren sent and awaits answers to.
//! `Actors/Stream` (Dapr's proposal) numbers the process's own API calls by `uid` from 1
//! and answers Warren's messages by their `uid`; `SubscribeActorEventsAlpha1` answers
//! Warren's callbacks by their string id and makes no calls of its own.

use std::collections::HashMap;
use std::convert::Infallible;
use std::hash::Hash;

use tonic::Status;

use crate::dapr_proto::actors as actors_pb;
use crate::dapr_proto::runtime as runtime_pb;

/// What one message of the process is.
pub enum Decoded<Id, Answer, Request> {
    /// The answer to the message Warren sent under this id.
    Answer(Id, Answer),
    /// A request of the process's own.
    Request(Request),
    /// A message with nothing to do.
    Ignored,
}

/// The calls Warren sent on one stream and awaits answers to, by id: at most `limit`, so
/// a process that never answers costs bounded memory.
pub struct Ledger<Id, T> {
    pending: HashMap<Id, T>,
    limit: usize,
}

impl<Id: Eq + Hash, T> Ledger<Id, T> {
    /// An empty ledger of at most `limit` calls.
    pub fn new(limit: usize) -> Self {
        Ledger {
            pending: HashMap::new(),
            limit,
        }
    }

    /// Whether it holds `limit` calls already (the stream is to end).
    pub fn is_full(&self) -> bool {
        self.pending.len() >= self.limit
    }

    /// Record a call sent under `id`; false (and nothing recorded) when full.
    pub fn insert(&mut self, id: Id, call: T) -> bool {
        if self.is_full() {
            return false;
        }
        self.pending.insert(id, call);
        true
    }

    /// The call `id` answers, if one awaits it.
    pub fn take(&mut self, id: &Id) -> Option<T> {
        self.pending.remove(id)
    }

    /// Calls awaiting an answer.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// Whether no call awaits an answer.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }
}

/// `Actors/Stream`.
pub mod actors {
    use super::*;
    use actors_pb::request::ActorRequestType;
    use actors_pb::request_processed_response::Response as Processed;

    /// The stream's first message, which must declare the actor type it hosts.
    pub fn initial(first: actors_pb::Request) -> Result<actors_pb::RequestInitial, Status> {
        let Some(ActorRequestType::Initial(initial)) = first.actor_request_type else {
            return Err(Status::invalid_argument(
                "the first message of the stream must be `initial`",
            ));
        };
        if initial.r#type.is_empty() {
            return Err(Status::invalid_argument(
                "`initial` must name an actor type",
            ));
        }
        Ok(initial)
    }

    /// The order of the process's messages after the first: its API calls numbered in
    /// sequence from 1.
    pub struct Rules {
        expected_uid: u64,
    }

    impl Default for Rules {
        fn default() -> Self {
            Rules { expected_uid: 1 }
        }
    }

    impl Rules {
        /// What `message` is; an error breaks a rule and ends the stream with that status.
        pub fn decode(
            &mut self,
            message: actors_pb::Request,
        ) -> Result<Decoded<u64, Option<Processed>, actors_pb::RequestRequest>, Status> {
            match message.actor_request_type {
                None => Err(Status::invalid_argument("empty message")),
                Some(ActorRequestType::Initial(_)) => Err(Status::invalid_argument(
                    "`initial` may only be the first message of the stream",
                )),
                Some(ActorRequestType::Request(request)) => {
                    if request.uid != self.expected_uid {
                        return Err(Status::invalid_argument(format!(
                            "request uid {} is out of sequence: expected {}",
                            request.uid, self.expected_uid
                        )));
                    }
                    self.expected_uid += 1;
                    Ok(Decoded::Request(request))
                }
                Some(ActorRequestType::Processed(processed)) => Ok(Decoded::Answer(
                    processed.uid,
                    processed.response.and_then(|r| r.response),
                )),
            }
        }
    }

    /// An answer to a `uid` no call awaits: the process broke the protocol.
    pub fn unexpected(uid: u64) -> Result<(), Status> {
        Err(Status::invalid_argument(format!(
            "processed uid {uid} answers no message Warren sent"
        )))
    }
}

/// `SubscribeActorEventsAlpha1`.
pub mod events {
    use super::*;
    use runtime_pb::subscribe_actor_events_request_alpha1::RequestType;

    /// The stream's first message, which must be the initial request.
    pub fn initial(
        first: runtime_pb::SubscribeActorEventsRequestAlpha1,
    ) -> Result<runtime_pb::SubscribeActorEventsRequestInitialAlpha1, Status> {
        match first.request_type {
            Some(RequestType::InitialRequest(initial)) => Ok(initial),
            _ => Err(Status::invalid_argument(
                "the first message of the stream must be initial_request",
            )),
        }
    }

    /// What `message` is: every message answers a callback; a second initial request is a
    /// protocol error that ends the stream, and an empty message is ignored.
    pub fn decode(
        message: runtime_pb::SubscribeActorEventsRequestAlpha1,
    ) -> Result<Decoded<String, RequestType, Infallible>, Status> {
        let Some(answer) = message.request_type else {
            return Ok(Decoded::Ignored);
        };
        let id = match &answer {
            RequestType::InitialRequest(_) => {
                return Err(Status::invalid_argument(
                    "initial_request may only be the first message of the stream",
                ));
            }
            RequestType::InvokeResponse(r) => r.id.clone(),
            RequestType::ReminderResponse(r) | RequestType::TimerResponse(r) => r.id.clone(),
            RequestType::DeactivateResponse(r) => r.id.clone(),
            RequestType::RequestFailed(r) => r.id.clone(),
        };
        Ok(Decoded::Answer(id, answer))
    }

    /// An answer to an id no callback awaits (late, after its caller gave up): ignored.
    pub fn unexpected(_id: String) -> Result<(), Status> {
        Ok(())
    }
}
