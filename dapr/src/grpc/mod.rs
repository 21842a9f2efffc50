//! Dapr's gRPC API: the actor RPCs of `dapr.proto.runtime.v1.Dapr`, its
//! `SubscribeActorEventsAlpha1` callback stream, and the `dapr.proto.actors.v1.Actors`
//! stream of Dapr's proposal. Translation only: every call goes to the runtime core.

mod actor_api;
mod actors_stream;
mod callback_stream;
mod dapr_service;
/// The generated messages and services of Dapr's protobuf files (in `warren-wire`).
pub use warren_wire::dapr_proto as proto;
mod session;

use std::collections::HashMap;
use std::time::Duration;

use tonic::{Code, Status};

use crate::app::{DEFAULT_DEPTH, is_forwarded};
use crate::runtime::{AttachError, InvokeError, Runtime, ScheduleError};
use warren_protocol::AuthConfig;
use warren_protocol::auth;
use warren_protocol::grpc_incoming;
use warren_protocol::listener::ConnectionLimits;

pub use actor_api::ActorApi;

/// Largest message Warren reads or writes (tenants' own payload limits are lower).
const MAX_MESSAGE: usize = 64 << 20;

/// How often an idle connection is pinged, and how long a ping may go unanswered before
/// the connection is closed (a peer that vanished without closing holds no slot).
const KEEPALIVE: (Duration, Duration) = (Duration::from_secs(60), Duration::from_secs(20));

/// Serve the gRPC API on `listener` (over TLS with `tls`) within `limits` until `shutdown` resolves: the
/// connection limits of the HTTP listeners, and `max_header_bytes` as the largest header
/// list a request may send.
pub async fn serve(
    runtime: Runtime,
    auth: AuthConfig,
    listener: tokio::net::TcpListener,
    limits: ConnectionLimits,
    tls: Option<warren_protocol::tls::ServerTls>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), tonic::transport::Error> {
    let observe = warren_protocol::observe::Observe::new(runtime.clone(), "dapr-grpc");
    let api = ActorApi::new(runtime, auth);
    let dapr = proto::runtime::dapr_server::DaprServer::new(api.clone())
        .max_decoding_message_size(MAX_MESSAGE)
        .max_encoding_message_size(MAX_MESSAGE);
    let actors = proto::actors::actors_server::ActorsServer::new(api)
        .max_decoding_message_size(MAX_MESSAGE)
        .max_encoding_message_size(MAX_MESSAGE);
    let incoming = grpc_incoming::incoming(listener, &limits, tls);
    tonic::transport::Server::builder()
        .http2_max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX))
        .http2_keepalive_interval(Some(KEEPALIVE.0))
        .http2_keepalive_timeout(Some(KEEPALIVE.1))
        .layer(observe)
        .add_service(dapr)
        .add_service(actors)
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await
}

/// The address `warren serve` listens on for gRPC unless told otherwise (Dapr's port).
pub const DEFAULT_ADDR: &str = "127.0.0.1:50001";

/// The tenant a gRPC call acts in, from its `dapr-api-token` (or bearer) metadata.
fn tenant_of(
    runtime: &Runtime,
    config: &AuthConfig,
    metadata: &tonic::metadata::MetadataMap,
) -> Result<String, Status> {
    let text = |name| metadata.get(name).and_then(|v| v.to_str().ok());
    let token = text("dapr-api-token")
        .or_else(|| text("authorization").and_then(|v| v.strip_prefix("Bearer ")));
    let unauthenticated = || Status::unauthenticated("invalid api token");
    auth::access(runtime, config, token)
        .map_err(|_| unauthenticated())?
        .tenant()
        .map(|t| t.0)
        .map_err(|_| unauthenticated())
}

/// The gRPC status of a failed invocation.
pub fn invoke_status(e: InvokeError) -> Status {
    let code = match &e {
        InvokeError::BadRequest(_) | InvokeError::InvalidArgument { .. } => Code::InvalidArgument,
        InvokeError::ActorTypeNotFound { .. }
        | InvokeError::ActionNotFound { .. }
        | InvokeError::TenantNotFound { .. } => Code::NotFound,
        InvokeError::DeadlineExceeded { .. } => Code::DeadlineExceeded,
        InvokeError::StackDepth { .. }
        | InvokeError::LimitExceeded { .. }
        | InvokeError::Overloaded => Code::ResourceExhausted,
        InvokeError::CallCycle { .. } => Code::FailedPrecondition,
        InvokeError::Unavailable { .. } => Code::Unavailable,
        _ => Code::Internal,
    };
    Status::new(code, e.to_string())
}

/// The gRPC status of a refused timer or reminder operation.
fn schedule_status(e: ScheduleError) -> Status {
    let code = match &e {
        ScheduleError::NotHosted { .. } => Code::PermissionDenied,
        ScheduleError::AlreadyExists { .. } => Code::AlreadyExists,
        ScheduleError::Limit(_) => Code::ResourceExhausted,
        ScheduleError::Duration(_) => Code::InvalidArgument,
        ScheduleError::Store(_) => Code::Internal,
        ScheduleError::Unavailable(_) => Code::Unavailable,
        ScheduleError::OutcomeUnknown(_) => Code::Unknown,
    };
    Status::new(code, e.to_string())
}

/// The gRPC status of a stream that cannot host a type.
fn attach_status(e: AttachError) -> Status {
    match e {
        AttachError::Conflict(c) => Status::already_exists(c.to_string()),
        AttachError::Refused(message) => Status::failed_precondition(message),
    }
}

/// A protobuf duration as a std one; `None` when absent or negative.
fn duration(d: Option<prost_types::Duration>) -> Option<Duration> {
    d.and_then(|d| {
        (d.seconds >= 0 && d.nanos >= 0).then(|| Duration::new(d.seconds as u64, d.nanos as u32))
    })
}

/// A declared reentrancy stack depth, or Dapr's default when absent or negative.
fn stack_depth(declared: Option<i32>) -> u32 {
    declared
        .and_then(|d| u32::try_from(d).ok())
        .unwrap_or(DEFAULT_DEPTH)
}

/// The metadata a stream sends with a method call: the headers an app may see, plus the
/// call chain under `reentrancy_key`.
fn call_metadata(
    metadata: Vec<(String, String)>,
    reentrancy_id: Option<String>,
    reentrancy_key: &str,
) -> HashMap<String, String> {
    let mut forwarded: HashMap<String, String> = metadata
        .into_iter()
        .filter(|(name, _)| is_forwarded(name))
        .collect();
    if let Some(chain) = reentrancy_id {
        forwarded.insert(reentrancy_key.to_string(), chain);
    }
    forwarded
}
