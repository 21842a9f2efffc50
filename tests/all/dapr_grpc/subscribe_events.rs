//! `SubscribeActorEventsAlpha1`, from a Rust client: new work goes to the newest stream,
//! failures and reminder cancels come back from the app.

use std::time::Duration;

use rt::subscribe_actor_events_request_alpha1::RequestType;
use rt::subscribe_actor_events_response_alpha1::ResponseType as Callback;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Code, Streaming};
use warren_host::wire::dapr_proto::runtime as rt;

use super::{becomes_not_found, invoke_later};
use crate::support::Host;

/// A client end of `SubscribeActorEventsAlpha1`.
struct EventClient {
    tx: mpsc::Sender<rt::SubscribeActorEventsRequestAlpha1>,
    rx: Streaming<rt::SubscribeActorEventsResponseAlpha1>,
}

impl EventClient {
    async fn open(host: &Host, entities: &[&str]) -> EventClient {
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

    async fn send(&self, answer: RequestType) {
        let message = rt::SubscribeActorEventsRequestAlpha1 {
            request_type: Some(answer),
        };
        self.tx.send(message).await.unwrap();
    }

    /// Answer the invocation `id` with `data`.
    async fn invoke_response(&self, id: String, data: &[u8]) {
        self.send(RequestType::InvokeResponse(
            rt::SubscribeActorEventsRequestInvokeResponseAlpha1 {
                id,
                data: data.to_vec(),
                ..Default::default()
            },
        ))
        .await;
    }

    /// Fail the callback `id` with gRPC status `code`.
    async fn request_failed(&self, id: String, code: Code, message: &str) {
        self.send(RequestType::RequestFailed(
            rt::SubscribeActorEventsRequestFailedAlpha1 {
                id,
                code: code as u32,
                message: message.into(),
            },
        ))
        .await;
    }
}

/// How long each callback may take to come.
const WAIT: Duration = Duration::from_secs(10);

#[tokio::test]
async fn subscribe_actor_events_hands_new_work_to_the_newest_stream() {
    let dir = tempfile::tempdir().unwrap();
    let host = Host::start(dir.path(), &[]);
    let mut older = EventClient::open(&host, &["evt"]).await;
    let mut newer = check_new_work_goes_to_the_newer_stream(&host, &mut older).await;
    check_reminders_fire_on_the_newest_stream(&host, &mut newer).await;
    check_the_older_stream_takes_over_from_a_dropped_newer(&host, &mut older, newer).await;
}

/// While `older` runs a turn, a second stream for the type opens: new work goes there,
/// the older finishes its turn, and the app's failure reaches the caller. Returns the newer
/// stream.
async fn check_new_work_goes_to_the_newer_stream(
    host: &Host,
    older: &mut EventClient,
) -> EventClient {
    let first = invoke_later(host, "evt/e1", "slow", "");
    let Some(Callback::InvokeRequest(slow)) = older.callback(WAIT).await else {
        panic!("expected an invocation on the first stream")
    };
    assert_eq!(
        (slow.actor_type.as_str(), slow.method.as_str()),
        ("evt", "slow")
    );

    let mut newer = EventClient::open(host, &["evt"]).await;
    let second = invoke_later(host, "evt/e2", "missing", "");
    let Some(Callback::InvokeRequest(missing)) = newer.callback(WAIT).await else {
        panic!("expected an invocation on the newer stream")
    };
    older.invoke_response(slow.id, b"\"done\"").await;
    assert_eq!(first.await.unwrap(), (200, "\"done\"".to_string()));
    newer
        .request_failed(missing.id, Code::NotFound, "no method missing")
        .await;
    let (status, body) = second.await.unwrap();
    assert_eq!(status, 500);
    assert!(body.contains("no method missing"), "{body}");
    newer
}

/// Register reminder `name` of evt/e3 over HTTP.
async fn put_reminder(host: &Host, name: &str, body: &'static str) {
    let request = host
        .client
        .put(format!("{}/v1.0/actors/evt/e3/reminders/{name}", host.url))
        .body(body);
    assert_eq!(request.send().await.unwrap().status(), 204)
}

/// A reminder fires on the newest stream; NOT_FOUND is permanent (no retry), and the
/// app's cancel removes the reminder.
async fn check_reminders_fire_on_the_newest_stream(host: &Host, newer: &mut EventClient) {
    put_reminder(
        host,
        "once",
        r#"{"dueTime":"10ms","period":"1h","data":"x"}"#,
    )
    .await;
    let Some(Callback::ReminderRequest(fired)) = newer.callback(WAIT).await else {
        panic!("expected a reminder")
    };
    assert_eq!(fired.name, "once");
    newer
        .request_failed(fired.id, Code::NotFound, "no such reminder handler")
        .await;
    // Dapr's default policy would retry a failure after 1 s; NOT_FOUND is not retried.
    assert!(
        newer.callback(Duration::from_millis(1800)).await.is_none(),
        "a NOT_FOUND firing was retried"
    );
    put_reminder(host, "stop", r#"{"dueTime":"10ms","period":"50ms"}"#).await;
    let Some(Callback::ReminderRequest(fired)) = newer.callback(WAIT).await else {
        panic!("expected a reminder")
    };
    newer
        .send(RequestType::ReminderResponse(
            rt::SubscribeActorEventsRequestReminderResponseAlpha1 {
                id: fired.id,
                cancel: true,
            },
        ))
        .await;
    let cancelled = becomes_not_found(host, "/v1.0/actors/evt/e3/reminders/stop", WAIT).await;
    assert!(cancelled, "the app's cancel did not remove the reminder");
}

/// The newer stream drops mid-turn: that turn fails, the older takes new work.
async fn check_the_older_stream_takes_over_from_a_dropped_newer(
    host: &Host,
    older: &mut EventClient,
    mut newer: EventClient,
) {
    let third = invoke_later(host, "evt/e4", "work", "");
    assert!(matches!(
        newer.callback(WAIT).await,
        Some(Callback::InvokeRequest(_))
    ));
    drop(newer);
    let (status, body) = third.await.unwrap();
    assert_eq!(status, 500);
    assert!(body.contains("closed before answering"), "{body}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let fourth = invoke_later(host, "evt/e4", "work", "");
    let Some(Callback::InvokeRequest(work)) = older.callback(WAIT).await else {
        panic!("expected the older stream to take the work")
    };
    older.invoke_response(work.id, b"4").await;
    assert_eq!(fourth.await.unwrap(), (200, "4".to_string()));
}
