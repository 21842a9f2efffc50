//! The host-to-host gRPC service: runs what other hosts forward to the actors this host
//! owns. Every call must carry the cluster secret.

use tonic::{Request, Response, Status};

use super::SECRET_HEADER;
use super::wire::{self, pb};
use warren_core::runtime::{Placement, Runtime, ScheduleChange, ScheduleError};
use warren_core::types::CallMode;

/// The service of one host.
pub struct ClusterService {
    runtime: Runtime,
    secret: String,
}

impl ClusterService {
    /// The service of `runtime`, answering only calls that carry `secret`.
    pub fn new(runtime: Runtime, secret: &str) -> Self {
        ClusterService {
            runtime,
            secret: secret.to_string(),
        }
    }

    fn check<T>(&self, request: &Request<T>) -> Result<(), Status> {
        let given = request
            .metadata()
            .get(SECRET_HEADER)
            .map(|v| v.as_bytes())
            .unwrap_or_default();
        if constant_time_eq(given, self.secret.as_bytes()) {
            Ok(())
        } else {
            Err(Status::unauthenticated("wrong or missing cluster secret"))
        }
    }
}

/// Compare without returning early on the first differing byte.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[tonic::async_trait]
impl pb::cluster_server::Cluster for ClusterService {
    async fn invoke(
        &self,
        request: Request<pb::ForwardedInvocation>,
    ) -> Result<Response<pb::ForwardedReply>, Status> {
        self.check(&request)?;
        let wire = request.into_inner();
        let tenant = wire
            .target
            .as_ref()
            .map(|t| t.tenant.clone())
            .unwrap_or_default();
        let invocation = wire::invocation_from_wire(wire, self.runtime.deadline(&tenant))
            .map_err(Status::invalid_argument)?;
        let result = if invocation.mode == CallMode::Cast {
            let runtime = self.runtime.clone();
            let (target, action) = (invocation.target.clone(), invocation.action.clone());
            tokio::spawn(async move {
                if let Err(e) = runtime.invoke_forwarded(invocation).await {
                    tracing::warn!(%target, %action, error = %e, "forwarded cast failed");
                }
            });
            Ok(Default::default())
        } else {
            self.runtime.invoke_forwarded(invocation).await
        };
        Ok(Response::new(wire::reply_to_wire(result)))
    }

    async fn schedule(
        &self,
        request: Request<pb::ForwardedSchedule>,
    ) -> Result<Response<pb::ScheduleReply>, Status> {
        self.check(&request)?;
        let (actor, change) =
            wire::schedule_from_wire(request.into_inner()).map_err(Status::invalid_argument)?;
        // Never a second hop: a host that does not own the actor says so, and the sender
        // asks the owner it finds next.
        let result = if self.runtime.placement(&actor) != Placement::Here {
            Err(ScheduleError::Unavailable(format!(
                "this host does not own {actor}"
            )))
        } else {
            match change {
                ScheduleChange::SetTimer(job) => {
                    self.runtime.set_timer(&actor, job).await.map(|()| true)
                }
                ScheduleChange::SetReminder { job, overwrite } => self
                    .runtime
                    .set_reminder(&actor, job, overwrite)
                    .await
                    .map(|()| true),
                ScheduleChange::Delete(warren_core::runtime::scheduler::JobKind::Timer, name) => {
                    self.runtime.delete_timer(&actor, &name).await
                }
                ScheduleChange::Delete(
                    warren_core::runtime::scheduler::JobKind::Reminder,
                    name,
                ) => self.runtime.delete_reminder(&actor, &name).await,
            }
        };
        Ok(Response::new(wire::schedule_reply(result)))
    }
}

/// Serve the cluster service on `listener` (to peers of the cluster CA only, with `tls`)
/// until `stop` resolves.
pub async fn serve(
    service: ClusterService,
    listener: tokio::net::TcpListener,
    tls: Option<warren_tls::MutualTls>,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), tonic::transport::Error> {
    let server = tonic::transport::Server::builder()
        .add_service(pb::cluster_server::ClusterServer::new(service));
    match tls {
        Some(tls) => {
            let incoming = crate::tls::incoming(listener, tls);
            server.serve_with_incoming_shutdown(incoming, stop).await
        }
        None => {
            // The builder's `tcp_nodelay` covers only listeners it binds itself: without
            // it on these sockets, an answer's frames wait on Nagle and the caller's
            // delayed ACK (40 ms).
            let incoming =
                tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
            server.serve_with_incoming_shutdown(incoming, stop).await
        }
    }
}
