//! The user function: the SDK side of the protocol, an HTTP server that Warren calls.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use prost::Message;

use super::messages::{ActorInvocation, ActorInvocationResponse};
use crate::support::eventually;

/// Answers a call with an HTTP status and the raw body to send.
type Handler = Arc<dyn Fn(&ActorInvocation) -> (u16, Vec<u8>) + Send + Sync>;
type Calls = Arc<Mutex<Vec<ActorInvocation>>>;

#[derive(Clone)]
struct Served {
    calls: Calls,
    handler: Handler,
}

/// The SDK side of the protocol: an HTTP server on 127.0.0.1 that Warren calls at
/// `POST /api/v1/actors/actions`. It records every `ActorInvocation` and answers with the
/// test's handler. It runs on its own runtime, so blocking test code (a host restart) never
/// stalls it, and the handler runs on a blocking thread, so it may block too.
pub struct UserFunction {
    addr: SocketAddr,
    calls: Calls,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl UserFunction {
    /// Serve `handler` on a free port until dropped.
    pub fn start(
        handler: impl Fn(&ActorInvocation) -> ActorInvocationResponse + Send + Sync + 'static,
    ) -> UserFunction {
        UserFunction::start_raw(move |call: &ActorInvocation| (200, handler(call).encode_to_vec()))
    }

    /// Serve a `handler` that answers with an HTTP status and raw body bytes (empty, garbage,
    /// or a hand-built message), on a free port until dropped.
    pub fn start_raw(
        handler: impl Fn(&ActorInvocation) -> (u16, Vec<u8>) + Send + Sync + 'static,
    ) -> UserFunction {
        let listener =
            std::net::TcpListener::bind("127.0.0.1:0").expect("cannot bind the user function");
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let calls = Calls::default();
        let app = Router::new()
            .route("/api/v1/actors/actions", post(actions))
            .with_state(Served {
                calls: calls.clone(),
                handler: Arc::new(handler),
            });
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("cannot build the user function's runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stopped.await;
                    })
                    .await
                    .unwrap();
            });
        });
        UserFunction {
            addr,
            calls,
            stop: Some(stop),
        }
    }

    /// `http://127.0.0.1:PORT`, for `--spawn-user-function`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every call received so far, in order.
    pub fn calls(&self) -> Vec<ActorInvocation> {
        self.calls.lock().unwrap().clone()
    }

    /// The calls of `action` on `actor`, which matches an actor's name or its template (`parent`).
    pub fn calls_to(&self, actor: &str, action: &str) -> Vec<ActorInvocation> {
        self.calls()
            .into_iter()
            .filter(|c| {
                c.action_name == action
                    && c.actor
                        .as_ref()
                        .is_some_and(|id| id.name == actor || id.parent == actor)
            })
            .collect()
    }

    /// How many calls of `action` on `actor` (name or template) arrived.
    pub fn count(&self, actor: &str, action: &str) -> usize {
        self.calls_to(actor, action).len()
    }

    /// Wait until `actor` got `action` at least `n` times within `within`; returns those calls.
    pub async fn wait_for(
        &self,
        actor: &str,
        action: &str,
        n: usize,
        within: Duration,
    ) -> Vec<ActorInvocation> {
        let found = eventually(within, || async {
            let calls = self.calls_to(actor, action);
            (calls.len() >= n).then_some(calls)
        })
        .await;
        found.unwrap_or_else(|| {
            panic!(
                "{actor}.{action} was not called {n} times within {within:?}; calls: {:?}",
                self.summary()
            )
        })
    }

    /// `actor.action` for every call so far, for failure messages.
    pub fn summary(&self) -> Vec<String> {
        self.calls()
            .iter()
            .map(|c| {
                let name = c.actor.as_ref().map_or("?", |id| id.name.as_str());
                format!("{name}.{}", c.action_name)
            })
            .collect()
    }
}

impl Drop for UserFunction {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// `POST /api/v1/actors/actions`: record the call and answer with the handler's status and body.
async fn actions(State(served): State<Served>, body: Bytes) -> Response {
    let call = match ActorInvocation::decode(body) {
        Ok(call) => call,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                format!("not an ActorInvocation: {e}"),
            )
                .into_response();
        }
    };
    served.calls.lock().unwrap().push(call.clone());
    let handler = served.handler.clone();
    match tokio::task::spawn_blocking(move || (*handler)(&call)).await {
        Ok((status, body)) => (
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            [(header::CONTENT_TYPE, "application/octet-stream")],
            body,
        )
            .into_response(),
        // The handler panicked: an empty body, as the Node SDK answers a failed handler.
        Err(_) => StatusCode::BAD_REQUEST.into_response(),
    }
}
