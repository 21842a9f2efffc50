//! Dapr's gRPC API on Warren: the Python SDK's stubs and `ActorGrpcHost`, and a Rust
//! client of the `Actors/Stream` of Dapr's proposal.

use std::process::Stdio;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Code, Streaming};
use warren_host::api::dapr_grpc::proto::actors as pb;
use warren_host::api::dapr_grpc::proto::actors::actors_client::ActorsClient;
use warren_host::api::dapr_grpc::proto::runtime as rt;

use crate::dapr_sdk::{App, python, run_client};
use crate::support::{Host, eventually, guest};

fn port_of(url: &str) -> String {
    url.rsplit(':').next().unwrap().to_string()
}

#[tokio::test]
async fn python_grpc_stubs_call_every_actor_rpc_on_wasm_actors() {
    let dir = tempfile::tempdir().unwrap();
    let (counter, hostile) = (guest("counter"), guest("hostile"));
    let host = Host::start(
        dir.path(),
        &[
            "--api-token",
            "grpc-secret",
            "--deploy",
            counter.to_str().unwrap(),
            "--deploy",
            hostile.to_str().unwrap(),
        ],
    );
    let mut command = python("grpc_stubs.py");
    command
        .env("DAPR_GRPC_ENDPOINT", &host.grpc_url)
        .env("DAPR_API_TOKEN", "grpc-secret");
    run_client(command, &host);
}

#[tokio::test]
async fn python_actor_grpc_host_hosts_a_type_over_subscribe_actor_events() {
    let dir = tempfile::tempdir().unwrap();
    let host = Host::start(dir.path(), &["--idle-timeout", "1m"]);
    let mut app = App(python("counter_grpc_host.py")
        .env("DAPR_RUNTIME_HOST", "127.0.0.1")
        .env("DAPR_GRPC_PORT", port_of(&host.grpc_url))
        .stdout(Stdio::null())
        .spawn()
        .expect("cannot start the Python gRPC host"));
    // ActorProxy over HTTP, through Warren, into the app over its stream.
    run_client(python("app_client.py"), &host);
    let total = host
        .client
        .get(format!("{}/v1.0/actors/PyCounter/p1/state/total", host.url))
        .send()
        .await
        .unwrap();
    assert_eq!(total.text().await.unwrap(), "8");

    // The app goes away: its stream closes and Warren stops hosting the type.
    let _ = app.0.kill();
    let _ = app.0.wait();
    let gone = eventually(Duration::from_secs(10), || async {
        let (status, body) = host.invoke("PyCounter", "p1", "Get", "").await;
        (status == 500 && body.contains("not hosted")).then_some(())
    })
    .await;
    assert!(
        gone.is_some(),
        "PyCounter still hosted after its stream closed"
    );
    assert_eq!(
        host.client
            .get(format!("{}/v1.0/actors/PyCounter/p1/state/total", host.url))
            .send()
            .await
            .unwrap()
            .status(),
        403,
        "an unhosted type's state is not readable"
    );
}

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

    /// The status the stream ended with.
    async fn ended(&mut self) -> tonic::Status {
        match self.next().await {
            Err(status) => status,
            Ok(other) => panic!("expected the stream to end, got {other:?}"),
        }
    }
}

/// Invoke over Dapr HTTP in the background; the handle yields status and body.
fn invoke_later(
    host: &Host,
    actor: &str,
    method: &str,
    body: &str,
) -> tokio::task::JoinHandle<(u16, String)> {
    let url = format!("{}/v1.0/actors/{actor}/method/{method}", host.url);
    let (client, body) = (host.client.clone(), body.to_string());
    tokio::spawn(async move {
        let response = client.post(url).body(body).send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.text().await.unwrap())
    })
}

#[tokio::test]
async fn actors_stream_hosts_a_type_and_calls_the_runtime() {
    use pb::request_api::Api;
    use pb::response_api::Api as Answer;
    use pb::response_processed_response::Response as Inbound;

    let dir = tempfile::tempdir().unwrap();
    let counter = guest("counter");
    let host = Host::start(dir.path(), &["--deploy", counter.to_str().unwrap()]);
    let mut stream = StreamClient::open(&host, initial("rusty", 30))
        .await
        .unwrap();

    let call = invoke_later(&host, "rusty/r1", "greet", r#"{"who":"warren"}"#);
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

    // During the turn: write state, read it, call a Wasm actor, try to publish.
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

    stream
        .processed(
            1,
            pb::request_processed_response::Response::InvokeActor(
                pb::RequestProcessedResponseInvokeActor {
                    data: b"\"hello warren\"".to_vec(),
                    metadata: Default::default(),
                },
            ),
        )
        .await;
    assert_eq!(call.await.unwrap(), (200, "\"hello warren\"".to_string()));
    let state = host
        .client
        .get(format!("{}/v1.0/actors/rusty/r1/state/greeted", host.url))
        .send()
        .await
        .unwrap();
    assert_eq!(state.text().await.unwrap(), "\"warren\"");

    // A reminder registered over HTTP fires into the stream; the client cancels it.
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
    let cancelled = eventually(Duration::from_secs(5), || async {
        let r = host
            .client
            .get(format!("{}/v1.0/actors/rusty/r1/reminders/nudge", host.url))
            .send()
            .await
            .unwrap();
        (r.status() == 404).then_some(())
    })
    .await;
    assert!(cancelled.is_some(), "the reminder was not cancelled");
}

#[tokio::test]
async fn actors_stream_enforces_uids_and_identical_initial_messages() {
    use pb::request_api::Api;
    let dir = tempfile::tempdir().unwrap();
    let host = Host::start(dir.path(), &[]);
    let get = |uid| {
        (
            uid,
            Api::GetState(rt::GetActorStateRequest {
                actor_type: "seq".into(),
                actor_id: "a".into(),
                key: "k".into(),
            }),
        )
    };

    // The first uid must be 1.
    let mut stream = StreamClient::open(&host, initial("seq", 30)).await.unwrap();
    let (uid, api) = get(2);
    stream.request(uid, api).await;
    let status = stream.ended().await;
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        status.message().contains("expected 1"),
        "{}",
        status.message()
    );

    // Then each exactly one more: 1, 2, then 2 again ends the stream.
    let mut stream = StreamClient::open(&host, initial("seq", 30)).await.unwrap();
    for uid in [1, 2] {
        let (uid, api) = get(uid);
        stream.request(uid, api).await;
        assert_eq!(stream.answer().await.uid, uid);
    }
    let (uid, api) = get(2);
    stream.request(uid, api).await;
    let status = stream.ended().await;
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        status.message().contains("expected 3"),
        "{}",
        status.message()
    );

    // A processed reply for a message Warren never sent ends the stream too.
    let mut stream = StreamClient::open(&host, initial("seq", 30)).await.unwrap();
    stream
        .processed(7, pb::request_processed_response::Response::Timer(()))
        .await;
    assert_eq!(stream.ended().await.code(), Code::InvalidArgument);

    // The first message must be the initial one.
    let (uid, api) = get(1);
    let not_initial = pb::Request {
        actor_request_type: Some(pb::request::ActorRequestType::Request(pb::RequestRequest {
            uid,
            request: Some(pb::RequestApi { api: Some(api) }),
        })),
    };
    let refused = StreamClient::open(&host, not_initial).await.err().unwrap();
    assert_eq!(refused.code(), Code::InvalidArgument);

    // A second stream of a type must send the same initial message as the first.
    let mut first = StreamClient::open(&host, initial("twin", 30))
        .await
        .unwrap();
    let refused = StreamClient::open(&host, initial("twin", 31))
        .await
        .err()
        .unwrap();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert!(
        refused.message().contains("different initial message"),
        "{}",
        refused.message()
    );
    let mut second = StreamClient::open(&host, initial("twin", 30))
        .await
        .unwrap();
    // New work goes to the newest stream.
    let call = invoke_later(&host, "twin/t1", "ping", "");
    let (uid, _) = second.inbound().await;
    second
        .processed(
            uid,
            pb::request_processed_response::Response::InvokeActor(Default::default()),
        )
        .await;
    assert_eq!(call.await.unwrap().0, 200);
    // The older stream got nothing; closing the newer one leaves the type to the older.
    drop(second);
    // Let Warren see the stream close before sending more work.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let call = invoke_later(&host, "twin/t2", "ping", "");
    let (uid, message) = first.inbound().await;
    assert!(matches!(
        message,
        pb::response_processed_response::Response::InvokeActor(ref m) if m.actor_id == "t2"
    ));
    first
        .processed(
            uid,
            pb::request_processed_response::Response::InvokeActor(Default::default()),
        )
        .await;
    assert_eq!(call.await.unwrap().0, 200);

    // A Wasm component's type cannot be taken over by a stream.
    let counter = std::fs::read(guest("counter")).unwrap();
    assert_eq!(host.deploy(counter).await.0, 201);
    let refused = StreamClient::open(&host, initial("counter", 30))
        .await
        .err()
        .unwrap();
    assert_eq!(refused.code(), Code::AlreadyExists);
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
    again
        .processed(
            uid,
            pb::request_processed_response::Response::InvokeActor(
                pb::RequestProcessedResponseInvokeActor {
                    data: b"1".to_vec(),
                    metadata: Default::default(),
                },
            ),
        )
        .await;
    assert_eq!(call.await.unwrap(), (200, "1".to_string()));
}

/// A client end of `SubscribeActorEventsAlpha1`.
struct EventClient {
    tx: mpsc::Sender<rt::SubscribeActorEventsRequestAlpha1>,
    rx: Streaming<rt::SubscribeActorEventsResponseAlpha1>,
}

impl EventClient {
    async fn open(host: &Host, entities: &[&str]) -> EventClient {
        use rt::subscribe_actor_events_request_alpha1::RequestType;
        let mut client = rt::dapr_client::DaprClient::connect(host.grpc_url.clone())
            .await
            .unwrap();
        let (tx, requests) = mpsc::channel(16);
        let initial = rt::SubscribeActorEventsRequestInitialAlpha1 {
            entities: entities.iter().map(|e| e.to_string()).collect(),
            ..Default::default()
        };
        tx.send(rt::SubscribeActorEventsRequestAlpha1 {
            request_type: Some(RequestType::InitialRequest(initial)),
        })
        .await
        .unwrap();
        let mut rx = client
            .subscribe_actor_events_alpha1(ReceiverStream::new(requests))
            .await
            .unwrap()
            .into_inner();
        let ack = rx.message().await.unwrap().unwrap();
        assert!(matches!(
            ack.response_type,
            Some(rt::subscribe_actor_events_response_alpha1::ResponseType::InitialResponse(_))
        ));
        EventClient { tx, rx }
    }

    /// The next callback, or None if none comes within `wait`.
    async fn callback(
        &mut self,
        wait: Duration,
    ) -> Option<rt::subscribe_actor_events_response_alpha1::ResponseType> {
        let message = tokio::time::timeout(wait, self.rx.message()).await.ok()?;
        message.unwrap().unwrap().response_type
    }

    async fn send(&self, answer: rt::subscribe_actor_events_request_alpha1::RequestType) {
        let message = rt::SubscribeActorEventsRequestAlpha1 {
            request_type: Some(answer),
        };
        self.tx.send(message).await.unwrap();
    }
}

#[tokio::test]
async fn subscribe_actor_events_hands_new_work_to_the_newest_stream() {
    use rt::subscribe_actor_events_request_alpha1::RequestType as Answer;
    use rt::subscribe_actor_events_response_alpha1::ResponseType as Callback;
    const WAIT: Duration = Duration::from_secs(10);

    let dir = tempfile::tempdir().unwrap();
    let host = Host::start(dir.path(), &[]);
    let mut older = EventClient::open(&host, &["evt"]).await;
    let first = invoke_later(&host, "evt/e1", "slow", "");
    let Some(Callback::InvokeRequest(slow)) = older.callback(WAIT).await else {
        panic!("expected an invocation on the first stream")
    };
    assert_eq!(
        (slow.actor_type.as_str(), slow.method.as_str()),
        ("evt", "slow")
    );

    // A second stream for the type: new work goes there, the older finishes its turn.
    let mut newer = EventClient::open(&host, &["evt"]).await;
    let second = invoke_later(&host, "evt/e2", "missing", "");
    let Some(Callback::InvokeRequest(missing)) = newer.callback(WAIT).await else {
        panic!("expected an invocation on the newer stream")
    };
    older
        .send(Answer::InvokeResponse(
            rt::SubscribeActorEventsRequestInvokeResponseAlpha1 {
                id: slow.id,
                data: b"\"done\"".to_vec(),
                ..Default::default()
            },
        ))
        .await;
    assert_eq!(first.await.unwrap(), (200, "\"done\"".to_string()));
    newer
        .send(Answer::RequestFailed(
            rt::SubscribeActorEventsRequestFailedAlpha1 {
                id: missing.id,
                code: Code::NotFound as u32,
                message: "no method missing".into(),
            },
        ))
        .await;
    let (status, body) = second.await.unwrap();
    assert_eq!(status, 500);
    assert!(body.contains("no method missing"), "{body}");

    // A reminder fires on the newest stream; NOT_FOUND is permanent (no retry), and
    // the app's cancel removes the reminder.
    let put = |name: &'static str, body: &'static str| {
        let request = host
            .client
            .put(format!("{}/v1.0/actors/evt/e3/reminders/{name}", host.url))
            .body(body);
        async move { assert_eq!(request.send().await.unwrap().status(), 204) }
    };
    put("once", r#"{"dueTime":"10ms","period":"1h","data":"x"}"#).await;
    let Some(Callback::ReminderRequest(fired)) = newer.callback(WAIT).await else {
        panic!("expected a reminder")
    };
    assert_eq!(fired.name, "once");
    newer
        .send(Answer::RequestFailed(
            rt::SubscribeActorEventsRequestFailedAlpha1 {
                id: fired.id,
                code: Code::NotFound as u32,
                message: "no such reminder handler".into(),
            },
        ))
        .await;
    // Dapr's default policy would retry a failure after 1 s; NOT_FOUND is not retried.
    assert!(
        newer.callback(Duration::from_millis(1800)).await.is_none(),
        "a NOT_FOUND firing was retried"
    );
    put("stop", r#"{"dueTime":"10ms","period":"50ms"}"#).await;
    let Some(Callback::ReminderRequest(fired)) = newer.callback(WAIT).await else {
        panic!("expected a reminder")
    };
    newer
        .send(Answer::ReminderResponse(
            rt::SubscribeActorEventsRequestReminderResponseAlpha1 {
                id: fired.id,
                cancel: true,
            },
        ))
        .await;
    let cancelled = eventually(WAIT, || async {
        let r = host
            .client
            .get(format!("{}/v1.0/actors/evt/e3/reminders/stop", host.url))
            .send()
            .await
            .unwrap();
        (r.status() == 404).then_some(())
    })
    .await;
    assert!(
        cancelled.is_some(),
        "the app's cancel did not remove the reminder"
    );

    // The newer stream drops mid-turn: that turn fails, the older takes new work.
    let third = invoke_later(&host, "evt/e4", "work", "");
    assert!(matches!(
        newer.callback(WAIT).await,
        Some(Callback::InvokeRequest(_))
    ));
    drop(newer);
    let (status, body) = third.await.unwrap();
    assert_eq!(status, 500);
    assert!(body.contains("closed before answering"), "{body}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let fourth = invoke_later(&host, "evt/e4", "work", "");
    let Some(Callback::InvokeRequest(work)) = older.callback(WAIT).await else {
        panic!("expected the older stream to take the work")
    };
    older
        .send(Answer::InvokeResponse(
            rt::SubscribeActorEventsRequestInvokeResponseAlpha1 {
                id: work.id,
                data: b"4".to_vec(),
                ..Default::default()
            },
        ))
        .await;
    assert_eq!(fourth.await.unwrap(), (200, "4".to_string()));
}

#[tokio::test]
async fn grpc_token_names_the_tenant() {
    use crate::tenancy::ADMIN;
    let dir = tempfile::tempdir().unwrap();
    let counter = guest("counter");
    let host = Host::start(
        dir.path(),
        &[
            "--admin-token",
            ADMIN,
            "--deploy",
            counter.to_str().unwrap(),
        ],
    );
    let blue = host.tenant("blue", serde_json::json!({})).await;
    let mut client = rt::dapr_client::DaprClient::connect(host.grpc_url.clone())
        .await
        .unwrap();
    let add = |token: &str, n: &str| {
        let mut request = tonic::Request::new(rt::InvokeActorRequest {
            actor_type: "counter".into(),
            actor_id: "shared-id".into(),
            method: "add".into(),
            data: n.as_bytes().to_vec(),
            metadata: Default::default(),
        });
        request
            .metadata_mut()
            .insert("dapr-api-token", token.parse().unwrap());
        request
    };
    // Blue has not deployed the counter: the default tenant's is out of its reach.
    let refused = client.invoke_actor(add(&blue, "1")).await.unwrap_err();
    assert_eq!(refused.code(), Code::NotFound);
    assert!(
        refused.message().contains("\"blue\""),
        "{}",
        refused.message()
    );
    // Once blue deploys its own, the same actor id is blue's own actor.
    host.deploy_as(&blue, "counter").await;
    let reply = client.invoke_actor(add(&blue, "3")).await.unwrap();
    assert_eq!(reply.into_inner().data, b"3");
    assert_eq!(host.invoke_ok("counter", "shared-id", "get", "").await, "0");
    // Bearer works as on HTTP; a revoked or forged token does not.
    let mut request = add("", "4");
    request.metadata_mut().remove("dapr-api-token");
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {blue}").parse().unwrap());
    assert_eq!(
        client
            .invoke_actor(request)
            .await
            .unwrap()
            .into_inner()
            .data,
        b"7"
    );
    let forged = client
        .invoke_actor(add("not-a-token", "1"))
        .await
        .unwrap_err();
    assert_eq!(forged.code(), Code::Unauthenticated);
}
