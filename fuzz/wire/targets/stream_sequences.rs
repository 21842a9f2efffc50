//! Structure-aware: sequences of messages on the two streams a process hosts actor types
//! on, interleaved with Warren's own calls, through the streams' rules and the ledger of
//! calls awaiting answers, as the session runs them. Each message goes through its
//! protobuf encoding first; raw bytes are decoded as the stream's message. Checked: no
//! panic; a stream's first message must declare what it hosts; `Actors/Stream` requests
//! are accepted only numbered 1, 2, 3...; an answer settles a call Warren sent, at most
//! once, and on `Actors/Stream` any other answer ends the stream; the ledger never holds
//! more than its limit or more calls than were sent.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use prost::Message;
use warren_wire::dapr_proto::actors as apb;
use warren_wire::dapr_proto::runtime as rpb;
use warren_wire::streams::{self, Decoded, Ledger};

/// A small limit, so that fullness is reached often (the host's is 10000).
const LIMIT: usize = 16;

#[derive(Arbitrary, Debug)]
enum Incoming {
    Empty,
    Initial(String),
    /// An API call (`Actors/Stream` only; an empty message on the other stream).
    Request(u64),
    /// An answer to the call sent `back` calls ago (0: the last one).
    Answer {
        back: u8,
        kind: u8,
    },
    /// An answer to any id at all.
    AnswerTo(u64),
}

#[derive(Arbitrary, Debug)]
enum Step {
    /// Warren sends the process a call.
    Send,
    Message(Incoming),
    /// Bytes the process sends as its message.
    Raw(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
struct Input {
    /// `Actors/Stream`, else `SubscribeActorEventsAlpha1`.
    actors: bool,
    first: Incoming,
    steps: Vec<Step>,
}

/// What the session keeps: the calls sent and awaiting answers, under the protocol's id
/// of each serial (`Actors/Stream`: the number; the event stream: its text).
struct Session<Id> {
    sent: u64,
    ledger: Ledger<Id, ()>,
    id_of: fn(u64) -> Id,
}

impl<Id: Eq + std::hash::Hash> Session<Id> {
    fn new(id_of: fn(u64) -> Id) -> Self {
        Session {
            sent: 0,
            ledger: Ledger::new(LIMIT),
            id_of,
        }
    }

    /// Warren sends a call; false when the ledger is full (the session ends the stream).
    fn send(&mut self) -> bool {
        if self.ledger.is_full() {
            return false;
        }
        self.sent += 1;
        assert!(self.ledger.insert((self.id_of)(self.sent), ()));
        true
    }

    fn id(&self, back: u8) -> u64 {
        self.sent.saturating_sub(u64::from(back))
    }

    fn check(&self) {
        assert!(self.ledger.len() <= LIMIT);
        assert!(self.ledger.len() as u64 <= self.sent);
    }
}

fn actors_message(incoming: &Incoming, session: &Session<u64>) -> apb::Request {
    use apb::request::ActorRequestType as T;
    let processed = |uid: u64, kind: u8| {
        use apb::request_processed_response::Response as R;
        let response = match kind % 4 {
            0 => None,
            1 => Some(R::InvokeActor(
                apb::RequestProcessedResponseInvokeActor::default(),
            )),
            2 => Some(R::Timer(())),
            _ => Some(R::Reminder(apb::RequestProcessedResponseReminder::default())),
        };
        T::Processed(apb::RequestProcessed {
            uid,
            response: Some(apb::RequestProcessedResponse { response }),
        })
    };
    let kind = match incoming {
        Incoming::Empty => None,
        Incoming::Initial(name) => Some(T::Initial(apb::RequestInitial {
            r#type: name.clone(),
            ..Default::default()
        })),
        Incoming::Request(uid) => Some(T::Request(apb::RequestRequest {
            uid: *uid,
            request: None,
        })),
        Incoming::Answer { back, kind } => Some(processed(session.id(*back), *kind)),
        Incoming::AnswerTo(uid) => Some(processed(*uid, 1)),
    };
    apb::Request {
        actor_request_type: kind,
    }
}

fn events_message(
    incoming: &Incoming,
    session: &Session<String>,
) -> rpb::SubscribeActorEventsRequestAlpha1 {
    use rpb::subscribe_actor_events_request_alpha1::RequestType as T;
    let answer = |id: String, kind: u8| match kind % 5 {
        0 => T::InvokeResponse(rpb::SubscribeActorEventsRequestInvokeResponseAlpha1 {
            id,
            ..Default::default()
        }),
        1 => T::ReminderResponse(rpb::SubscribeActorEventsRequestReminderResponseAlpha1 {
            id,
            cancel: true,
        }),
        2 => T::TimerResponse(rpb::SubscribeActorEventsRequestReminderResponseAlpha1 {
            id,
            cancel: false,
        }),
        3 => T::DeactivateResponse(rpb::SubscribeActorEventsRequestDeactivateResponseAlpha1 { id }),
        _ => T::RequestFailed(rpb::SubscribeActorEventsRequestFailedAlpha1 {
            id,
            code: 5,
            message: String::new(),
        }),
    };
    let kind = match incoming {
        Incoming::Empty | Incoming::Request(_) => None,
        Incoming::Initial(name) => Some(T::InitialRequest(
            rpb::SubscribeActorEventsRequestInitialAlpha1 {
                entities: vec![name.clone()],
                ..Default::default()
            },
        )),
        Incoming::Answer { back, kind } => Some(answer(session.id(*back).to_string(), *kind)),
        Incoming::AnswerTo(id) => Some(answer(id.to_string(), 0)),
    };
    rpb::SubscribeActorEventsRequestAlpha1 { request_type: kind }
}

/// A message through its wire encoding, as the stream delivers it.
fn delivered<M: Message + Default>(message: M) -> M {
    M::decode(message.encode_to_vec().as_slice()).expect("an encoded message decodes")
}

fn actors_stream(input: &Input) {
    let mut session = Session::new(|serial| serial);
    let first = delivered(actors_message(&input.first, &session));
    if streams::actors::initial(first).is_err() {
        return;
    }
    let mut rules = streams::actors::Rules::default();
    let mut requests = 0u64;
    for step in &input.steps {
        let message = match step {
            Step::Send => {
                if !session.send() {
                    return;
                }
                continue;
            }
            Step::Message(incoming) => delivered(actors_message(incoming, &session)),
            Step::Raw(bytes) => match apb::Request::decode(bytes.as_slice()) {
                Ok(message) => message,
                // tonic ends the stream on a message that does not decode.
                Err(_) => return,
            },
        };
        match rules.decode(message) {
            Err(_) => return,
            Ok(Decoded::Request(request)) => {
                requests += 1;
                assert_eq!(request.uid, requests, "a request out of sequence was taken");
            }
            Ok(Decoded::Answer(uid, _)) => {
                if session.ledger.take(&uid).is_none() {
                    assert!(streams::actors::unexpected(uid).is_err());
                    return;
                }
                assert!(uid >= 1 && uid <= session.sent);
            }
            Ok(Decoded::Ignored) => {}
        }
        session.check();
    }
}

fn events_stream(input: &Input) {
    let mut session = Session::new(|serial| serial.to_string());
    let first = delivered(events_message(&input.first, &session));
    if streams::events::initial(first).is_err() {
        return;
    }
    for step in &input.steps {
        let message = match step {
            Step::Send => {
                if !session.send() {
                    return;
                }
                continue;
            }
            Step::Message(incoming) => delivered(events_message(incoming, &session)),
            Step::Raw(bytes) => {
                match rpb::SubscribeActorEventsRequestAlpha1::decode(bytes.as_slice()) {
                    Ok(message) => message,
                    Err(_) => return,
                }
            }
        };
        match streams::events::decode(message) {
            Err(_) => return,
            Ok(Decoded::Answer(id, _)) => {
                // A late or unknown answer is ignored: the stream goes on.
                if session.ledger.take(&id).is_none() {
                    assert!(streams::events::unexpected(id).is_ok());
                }
            }
            Ok(Decoded::Request(never)) => match never {},
            Ok(Decoded::Ignored) => {}
        }
        session.check();
    }
}

fuzz_target!(|input: Input| {
    if input.actors {
        actors_stream(&input);
    } else {
        events_stream(&input);
    }
});
