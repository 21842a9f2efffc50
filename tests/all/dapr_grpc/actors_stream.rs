//! `Actors/Stream` of Dapr's proposal, from a Rust client: hosting a type, calling the
//! runtime during a turn, the uid rules, and a stream that drops mid-turn.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Code, Streaming};
use warren_host::wire::dapr_proto::actors as pb;
use warren_host::wire::dapr_proto::actors::actors_client::ActorsClient;
use warren_host::wire::dapr_proto::runtime as rt;

use super::{becomes_not_found, invoke_later};
use crate::support::{Host, eventually, guest};

/// A client end of `Actors/Stream`.
struct StreamClient {
    tx: mpsc::Sender<pb::Request>,
    rx: Streaming<pb::Response>,
}

fn initial(actor_type: &str, idle_secs: i64) -> pb::Request {
    pb::Request {
        actor_request_type: Some(pb::request::ActorRequestType::Initial(pb::RequestInitial {
            r#type: actor_type.into(),
            idle_timeout: Some(prost_types::Duration {
                seconds: idle_secs,
                nanos: 0,
            }),
            ..Default::default()
        })),
    }
}

impl StreamClient {
    /// Open a stream with `first` as its first message.
    async fn open(host: &Host, first: pb::Request) -> Result<StreamClient, tonic::Status> {
        let mut client = ActorsClient::connect(host.grpc_url.clone()).await.unwrap();
        let (tx, requests) = mpsc::channel(16);
        tx.send(first).await.unwrap();
        let mut rx = client
            .stream(ReceiverStream::new(requests))
            .await?
            .into_inner();
        let ack = rx.message().await?.expect("an initial response");
        assert!(matches!(
            ack.actor_response_type,
            Some(pb::response::ActorResponseType::Initial(_))
        ));
        Ok(StreamClient { tx, rx })
    }

    async fn request(&self, uid: u64, api: pb::request_api::Api) {
        let message = pb::Request {
            actor_request_type: Some(pb::request::ActorRequestType::Request(pb::RequestRequest {
                uid,
                request: Some(pb::RequestApi { api: Some(api) }),
            })),
        };
        self.tx.send(message).await.unwrap();
    }

    async fn processed(&self, uid: u64, response: pb::request_processed_response::Response) {
        let message = pb::Request {
            actor_request_type: Some(pb::request::ActorRequestType::Processed(
                pb::RequestProcessed {
                    uid,
                    response: Some(pb::RequestProcessedResponse {
                        response: Some(response),
                    }),
                },
            )),
        };
        self.tx.send(message).await.unwrap();
    }

    /// Answer the invocation `uid` with `data`.
    async fn invoked(&self, uid: u64, data: &[u8]) {
        let response = pb::request_processed_response::Response::InvokeActor(
            pb::RequestProcessedResponseInvokeActor {
                data: data.to_vec(),
                metadata: Default::default(),
            },
        );
        self.processed(uid, response).await;
    }

    /// The next message from Warren, within 10 s.
    async fn next(&mut self) -> Result<pb::response::ActorResponseType, tonic::Status> {
        let message = tokio::time::timeout(Duration::from_secs(10), self.rx.message())
            .await
            .expect("no message from Warren in 10 s")?
            .expect("the stream ended");
        Ok(message.actor_response_type.expect("a message"))
    }

    /// The next message to process: its uid and content.
    async fn inbound(&mut self) -> (u64, pb::response_processed_response::Response) {
        match self.next().await.unwrap() {
            pb::response::ActorResponseType::Processed(p) => {
                (p.uid, p.response.and_then(|r| r.response).unwrap())
            }
            other => panic!("expected a message to process, got {other:?}"),
        }
    }

    /// The next answer to one of our calls.
    async fn answer(&mut self) -> pb::ResponseResponse {
        match self.next().await.unwrap() {
            pb::response::ActorResponseType::Response(r) => r,
            other => panic!("expected an answer, got {other:?}"),
        }
    }

    /// Expect the stream to end with `code` and a message saying `text`.
    async fn assert_ends_with(&mut self, code: Code, text: &str) {
        let status = self.ended().await;
        assert_eq!(status.code(), code);
        assert!(status.message().contains(text), "{}", status.message());
    }

    /// The status the stream ended with.
    async fn ended(&mut self) -> tonic::Status {
        match self.next().await {
            Err(status) => status,
            Ok(other) => panic!("expected the stream to end, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn actors_stream_hosts_a_type_and_calls_the_runtime() {
    let dir = tempfile::tempdir().unwrap();
    let counter = guest("counter");
    let host = Host::start(dir.path(), &["--deploy", counter.to_str().unwrap()]);
    let mut stream = StreamClient::open(&host, initial("rusty", 30))
        .await
        .unwrap();

    let call = invoke_later(&host, "rusty/r1", "greet", r#"{"who":"warren"}"#);
    check_the_first_invocation(&mut stream).await;
    // During the turn: write state, read it, call a Wasm actor, try to publish.
    write_and_read_state_in_the_turn(&mut stream).await;
    call_a_wasm_actor_and_try_to_publish_in_the_turn(&mut stream).await;

    stream.invoked(1, b"\"hello warren\"").await;
    assert_eq!(call.await.unwrap(), (200, "\"hello warren\"".to_string()));
    let state = host.get("/v1.0/actors/rusty/r1/state/greeted").await;
    assert_eq!(state.text().await.unwrap(), "\"warren\"");

    check_a_reminder_fires_and_is_cancelled(&host, &mut stream).await;
}

/// The stream's first message is the invocation of rusty/r1's `greet`, uid 1.
async fn check_the_first_invocation(stream: &mut StreamClient) {
    use pb::response_processed_response::Response as Inbound;
    let (uid, message) = stream.inbound().await;
    assert_eq!(uid, 1, "Warren numbers its messages from 1");
    let Inbound::InvokeActor(invoke) = message else {
        panic!("expected an invocation, got {message:?}")
    };
    assert_eq!(
        (invoke.actor_id.as_str(), invoke.method.as_str()),
        ("r1", "greet")
    );
    assert_eq!(invoke.data, br#"{"who":"warren"}"#);
    assert!(invoke.metadata.contains_key("dapr-reentrancy-id"));
}

/// Requests 1 and 2 of the turn: upsert `greeted`, then read it back.
async fn write_and_read_state_in_the_turn(stream: &mut StreamClient) {
    use pb::request_api::Api;
    use pb::response_api::Api as Answer;
    let upsert = rt::TransactionalActorStateOperation {
        operation_type: "upsert".into(),
        key: "greeted".into(),
        value: Some(prost_types::Any {
            type_url: String::new(),
            value: b"\"warren\"".to_vec(),
        }),
        metadata: Default::default(),
    };
    stream
        .request(
            1,
            Api::ExecuteStateTransaction(rt::ExecuteActorStateTransactionRequest {
                actor_type: "rusty".into(),
                actor_id: "r1".into(),
                operations: vec![upsert],
            }),
        )
        .await;
    let answer = stream.answer().await;
    assert_eq!(answer.uid, 1);
    assert!(answer.error.is_none(), "{:?}", answer.error);
    stream
        .request(
            2,
            Api::GetState(rt::GetActorStateRequest {
                actor_type: "rusty".into(),
                actor_id: "r1".into(),
                key: "greeted".into(),
            }),
        )
        .await;
    let answer = stream.answer().await;
    let Some(Answer::GetState(state)) = answer.api.and_then(|a| a.api) else {
        panic!("expected state")
    };
    assert_eq!((answer.uid, state.data.as_slice()), (2, &b"\"warren\""[..]));
}

/// Requests 3 and 4 of the turn: a Wasm counter answers, and publishing has nowhere to go.
async fn call_a_wasm_actor_and_try_to_publish_in_the_turn(stream: &mut StreamClient) {
    use pb::request_api::Api;
    use pb::response_api::Api as Answer;
    stream
        .request(
            3,
            Api::InvokeActor(rt::InvokeActorRequest {
                actor_type: "counter".into(),
                actor_id: "c1".into(),
                method: "add".into(),
                data: b"4".to_vec(),
                metadata: Default::default(),
            }),
        )
        .await;
    let answer = stream.answer().await;
    let Some(Answer::InvokeActor(reply)) = answer.api.and_then(|a| a.api) else {
        panic!("expected an invoke reply")
    };
    assert_eq!(reply.data, b"4");
    stream
        .request(
            4,
            Api::PublishMessage(pb::RequestPublishMessage {
                topic: "news".into(),
                ..Default::default()
            }),
        )
        .await;
    let answer = stream.answer().await;
    let error = answer.error.expect("publishing has nowhere to go");
    assert_eq!(error.code, Code::Unimplemented as u32);
    assert!(error.message.contains("pub/sub"), "{}", error.message);
}

/// A reminder registered over HTTP fires into the stream; the client cancels it.
async fn check_a_reminder_fires_and_is_cancelled(host: &Host, stream: &mut StreamClient) {
    use pb::response_processed_response::Response as Inbound;
    let reminder = host
        .client
        .put(format!("{}/v1.0/actors/rusty/r1/reminders/nudge", host.url))
        .body(r#"{"dueTime":"50ms","period":"50ms","data":{"n":1}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(reminder.status(), 204);
    let (uid, message) = stream.inbound().await;
    assert_eq!(uid, 2);
    let Inbound::Reminder(fired) = message else {
        panic!("expected a reminder, got {message:?}")
    };
    assert_eq!(
        (fired.name.as_str(), fired.data.as_slice()),
        ("nudge", &br#"{"n":1}"#[..])
    );
    stream
        .processed(
            2,
            pb::request_processed_response::Response::Reminder(
                pb::RequestProcessedResponseReminder { cancel: true },
            ),
        )
        .await;
    let cancelled = becomes_not_found(
        host,
        "/v1.0/actors/rusty/r1/reminders/nudge",
        Duration::from_secs(5),
    )
    .await;
    assert!(cancelled, "the reminder was not cancelled");
}

#[tokio::test]
async fn actors_stream_enforces_uids_and_identical_initial_messages() {
    let dir = tempfile::tempdir().unwrap();
    let host = Host::start(dir.path(), &[]);
    check_uids_start_at_one_and_count_up(&host).await;
    check_the_first_message_must_be_the_initial_one(&host).await;
    check_streams_of_one_type_share_one_initial_message(&host).await;

    // A Wasm component's type cannot be taken over by a stream.
    let counter = std::fs::read(guest("counter")).unwrap();
    assert_eq!(host.deploy(counter).await.0, 201);
    let refused = StreamClient::open(&host, initial("counter", 30))
        .await
        .err()
        .unwrap();
    assert_eq!(refused.code(), Code::AlreadyExists);
}

/// A GetState request of seq/a with `uid`.
fn get_state(uid: u64) -> (u64, pb::request_api::Api) {
    (
        uid,
        pb::request_api::Api::GetState(rt::GetActorStateRequest {
            actor_type: "seq".into(),
            actor_id: "a".into(),
            key: "k".into(),
        }),
    )
}

/// The first uid must be 1, then each exactly one more; a processed reply for a message
/// Warren never sent ends the stream too.
async fn check_uids_start_at_one_and_count_up(host: &Host) {
    let mut stream = StreamClient::open(host, initial("seq", 30)).await.unwrap();
    let (uid, api) = get_state(2);
    stream.request(uid, api).await;
    stream
        .assert_ends_with(Code::InvalidArgument, "expected 1")
        .await;

    // 1, 2, then 2 again ends the stream.
    let mut stream = StreamClient::open(host, initial("seq", 30)).await.unwrap();
    for uid in [1, 2] {
        let (uid, api) = get_state(uid);
        stream.request(uid, api).await;
        assert_eq!(stream.answer().await.uid, uid);
    }
    let (uid, api) = get_state(2);
    stream.request(uid, api).await;
    stream
        .assert_ends_with(Code::InvalidArgument, "expected 3")
        .await;

    let mut stream = StreamClient::open(host, initial("seq", 30)).await.unwrap();
    stream
        .processed(7, pb::request_processed_response::Response::Timer(()))
        .await;
    assert_eq!(stream.ended().await.code(), Code::InvalidArgument);
}

/// A stream whose first message is a request is refused.
async fn check_the_first_message_must_be_the_initial_one(host: &Host) {
    let (uid, api) = get_state(1);
    let not_initial = pb::Request {
        actor_request_type: Some(pb::request::ActorRequestType::Request(pb::RequestRequest {
            uid,
            request: Some(pb::RequestApi { api: Some(api) }),
        })),
    };
    let refused = StreamClient::open(host, not_initial).await.err().unwrap();
    assert_eq!(refused.code(), Code::InvalidArgument);
}

/// A second stream of a type must send the same initial message as the first; new work
/// goes to the newest stream, and closing it leaves the type to the older.
async fn check_streams_of_one_type_share_one_initial_message(host: &Host) {
    let mut first = StreamClient::open(host, initial("twin", 30)).await.unwrap();
    let refused = StreamClient::open(host, initial("twin", 31))
        .await
        .err()
        .unwrap();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert!(
        refused.message().contains("different initial message"),
        "{}",
        refused.message()
    );
    let mut second = StreamClient::open(host, initial("twin", 30)).await.unwrap();
    // New work goes to the newest stream.
    let call = invoke_later(host, "twin/t1", "ping", "");
    let (uid, _) = second.inbound().await;
    second.invoked(uid, b"").await;
    assert_eq!(call.await.unwrap().0, 200);
    // The older stream got nothing; closing the newer one leaves the type to the older.
    drop(second);
    // Let Warren see the stream close before sending more work.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let call = invoke_later(host, "twin/t2", "ping", "");
    let (uid, message) = first.inbound().await;
    assert!(matches!(
        message,
        pb::response_processed_response::Response::InvokeActor(ref m) if m.actor_id == "t2"
    ));
    first.invoked(uid, b"").await;
    assert_eq!(call.await.unwrap().0, 200);
}

#[tokio::test]
async fn actors_stream_dropped_mid_turn_fails_the_turn_and_unregisters_the_type() {
    let dir = tempfile::tempdir().unwrap();
    let host = Host::start(dir.path(), &[]);
    let mut stream = StreamClient::open(&host, initial("fragile", 30))
        .await
        .unwrap();
    let call = invoke_later(&host, "fragile/f1", "work", "");
    let (_, message) = stream.inbound().await;
    assert!(matches!(
        message,
        pb::response_processed_response::Response::InvokeActor(_)
    ));
    let started = std::time::Instant::now();
    drop(stream);
    let (status, body) = call.await.unwrap();
    assert_eq!(status, 500, "{body}");
    assert!(body.contains("closed before answering"), "{body}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the turn waited for its deadline instead of failing when the stream dropped"
    );
    let gone = eventually(Duration::from_secs(5), || async {
        let (status, body) = host.invoke("fragile", "f1", "work", "").await;
        (status == 500 && body.contains("not hosted")).then_some(())
    })
    .await;
    assert!(gone.is_some(), "the type outlived its only stream");
    // The host serves others as before: a new stream can take the type again.
    let mut again = StreamClient::open(&host, initial("fragile", 30))
        .await
        .unwrap();
    let call = invoke_later(&host, "fragile/f1", "work", "");
    let (uid, _) = again.inbound().await;
    again.invoked(uid, b"1").await;
    assert_eq!(call.await.unwrap(), (200, "1".to_string()));
}

/// A process that stops reading its stream: once its queue stays full for a second, the
/// calls for it fail at once as unavailable instead of piling up until their deadlines,
/// and everyone else is served meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_that_stops_reading_fails_its_calls_fast() {
    let dir = tempfile::tempdir().unwrap();
    let counter = guest("counter");
    let host = Host::start(
        dir.path(),
        &[
            "--deploy",
            counter.to_str().unwrap(),
            "--turn-timeout",
            "5s",
        ],
    );
    // Opened and then never read again (held until the end of the test).
    let _stream = StreamClient::open(&host, initial("deaf", 30))
        .await
        .unwrap();

    let body = "x".repeat(64 << 10);
    let started = std::time::Instant::now();
    let calls: Vec<_> = (0..300)
        .map(|i| invoke_later(&host, &format!("deaf/d{i}"), "m", &body))
        .collect();
    // Meanwhile, other actors are served.
    assert_eq!(host.invoke_ok("counter", "c", "add", "2").await, "2");

    let mut not_reading = 0;
    for call in calls {
        let (status, text) = call.await.unwrap();
        if text.contains("is not reading") {
            assert_eq!(status, 503, "{text}");
            not_reading += 1;
        } else {
            // Queued for the process before it stopped: those wait for their deadline.
            assert!(text.contains("before its deadline"), "{status} {text}");
        }
    }
    // 64 queued, whatever the HTTP/2 windows hold, and the rest refused.
    assert!(not_reading >= 150, "only {not_reading} calls were refused");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(host.invoke_ok("counter", "c", "add", "1").await, "3");
}
