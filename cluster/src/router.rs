//! [`ActorRouter`] for cluster mode: the partition table as this host last read it, and
//! gRPC clients to the other hosts' internal service.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use dashmap::DashMap;
use tonic::transport::{Channel, Endpoint};

use super::SECRET_HEADER;
use super::wire::{self, pb};
use warren_core::runtime::{
    ActorRouter, BackendFuture, InvokeFuture, Placement, ScheduleChange, ScheduleError,
};
use warren_core::store::{Fence, partition_of};
use warren_core::types::{ActorId, Invocation, InvokeError};

type Client = pb::cluster_client::ClusterClient<Channel>;

/// How long past a forwarded call's deadline its caller still waits for the owner's own
/// deadline answer, before giving up on a host that does not answer at all.
const DEADLINE_GRACE: Duration = Duration::from_secs(1);

/// The owner of one partition, as last read: its host id and internal address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Owner {
    /// The owning host's id.
    pub host: String,
    /// Where its host-to-host listener is reached.
    pub address: Arc<str>,
}

/// Routes actors to their partition's owner.
pub struct ClusterRouter {
    fence: Arc<Fence>,
    /// Partition → owner, as the membership loop last read it.
    table: RwLock<Vec<Option<Owner>>>,
    /// Partitions this host is handing over: new work for them waits for the next owner
    /// while the turns already running finish.
    releasing: Vec<std::sync::atomic::AtomicBool>,
    /// Woken after every read of the partition table.
    refreshed: tokio::sync::Notify,
    /// How long a caller waits for the next read at most.
    refresh_every: Duration,
    /// How long a turn waits for a lapsed lease to be renewed (the host timeout).
    lease_wait: Duration,
    secret: tonic::metadata::MetadataValue<tonic::metadata::Ascii>,
    /// Mutual TLS to the other hosts, when the cluster has a CA.
    tls: Option<warren_tls::MutualTls>,
    clients: DashMap<Arc<str>, Client>,
}

impl ClusterRouter {
    /// A router that reads the partitions this host holds from `fence`, forwards with
    /// `secret`, reads the partition table again every `refresh_every`, and lets a turn
    /// wait up to `lease_wait` for a lapsed lease to be renewed, and dials the other hosts
    /// over `tls` when given. Refuses a secret that cannot be sent as gRPC metadata.
    pub fn new(
        fence: Arc<Fence>,
        secret: &str,
        tls: Option<warren_tls::MutualTls>,
        refresh_every: Duration,
        lease_wait: Duration,
    ) -> Result<Self, String> {
        Ok(ClusterRouter {
            fence,
            table: RwLock::new(vec![None; warren_core::store::PARTITIONS as usize]),
            releasing: (0..warren_core::store::PARTITIONS)
                .map(|_| Default::default())
                .collect(),
            refreshed: tokio::sync::Notify::new(),
            refresh_every,
            lease_wait,
            secret: secret
                .parse()
                .map_err(|_| "the cluster secret must be printable ASCII".to_string())?,
            tls,
            clients: DashMap::new(),
        })
    }

    /// Take a new reading of the partition table, and wake whoever waits for one.
    pub fn update(&self, table: Vec<Option<Owner>>) {
        *self.table.write().unwrap_or_else(|p| p.into_inner()) = table;
        self.refreshed.notify_waiters();
    }

    /// Whether the table, as last read, gives every partition to another host.
    pub fn every_partition_elsewhere(&self) -> bool {
        let table = self.table.read().unwrap_or_else(|p| p.into_inner());
        table
            .iter()
            .all(|owner| owner.as_ref().is_some_and(|o| o.host != self.fence.host()))
    }

    /// Mark `partition` as being handed over (or, with `false`, no longer).
    pub fn set_releasing(&self, partition: u32, releasing: bool) {
        if let Some(flag) = self.releasing.get(partition as usize) {
            flag.store(releasing, std::sync::atomic::Ordering::Release);
        }
    }

    fn is_releasing(&self, partition: u32) -> bool {
        self.releasing
            .get(partition as usize)
            .is_some_and(|f| f.load(std::sync::atomic::Ordering::Acquire))
    }

    /// The id of the host at `address`, as the partition table last had it.
    fn host_at(&self, address: &str) -> Option<String> {
        let table = self.table.read().unwrap_or_else(|p| p.into_inner());
        table
            .iter()
            .flatten()
            .find(|owner| &*owner.address == address)
            .map(|owner| owner.host.clone())
    }

    fn client(&self, address: &Arc<str>) -> Result<Client, String> {
        if let Some(client) = self.clients.get(address) {
            return Ok(client.clone());
        }
        // Over mTLS our connector makes the TLS session itself: tonic must see a plain
        // `http://` URI, or (built with TLS support for OTLP) it refuses to dial.
        let uri = match &self.tls {
            Some(_) => address.replacen("https://", "http://", 1),
            None => address.to_string(),
        };
        let endpoint = Endpoint::from_shared(uri)
            .map_err(|e| format!("bad host address {address:?}: {e}"))?
            .connect_timeout(Duration::from_secs(1))
            .tcp_nodelay(true);
        let channel = match &self.tls {
            Some(tls) => {
                // The peer's certificate must name the host the table puts there.
                let host = self
                    .host_at(address)
                    .ok_or_else(|| format!("no host is known at {address}"))?;
                endpoint.connect_with_connector_lazy(crate::tls::PeerConnector {
                    tls: tls.clone(),
                    host: crate::tls::host_name(&host).to_string(),
                })
            }
            None => endpoint.connect_lazy(),
        };
        let client = Client::new(channel);
        self.clients.insert(address.clone(), client.clone());
        Ok(client)
    }

    fn request<T>(&self, message: T, deadline: Instant) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        request
            .metadata_mut()
            .insert(SECRET_HEADER, self.secret.clone());
        request.set_timeout(deadline.saturating_duration_since(Instant::now()));
        request
    }
}

/// Whether a failed call surely never reached the owner: no connection could be made,
/// or the connection closed before the request was sent on it (hyper cancels it; gRPC
/// clients retry such calls transparently). A call cut off midway may have run, so it is
/// not sent again.
fn not_delivered(status: &tonic::Status) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(status);
    while let Some(e) = source {
        if e.downcast_ref::<hyper::Error>()
            .is_some_and(hyper::Error::is_canceled)
        {
            return true;
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::TimedOut
            )
        {
            return true;
        }
        // hyper-util's connector names a failed connect so.
        if e.to_string().contains("(Connect)") {
            return true;
        }
        source = e.source();
    }
    false
}

impl ActorRouter for ClusterRouter {
    fn placement(&self, actor: &ActorId) -> Placement {
        let partition = partition_of(actor);
        if self.held_epoch(actor).is_some() {
            return Placement::Here;
        }
        if self.is_releasing(partition) {
            return Placement::Moving;
        }
        let table = self.table.read().unwrap_or_else(|p| p.into_inner());
        match table.get(partition as usize).cloned().flatten() {
            Some(owner) if owner.host != self.fence.host() => Placement::Remote(owner.address),
            // Unowned, or still ours in the table while this host hands it over.
            _ => Placement::Moving,
        }
    }

    fn held_epoch(&self, actor: &ActorId) -> Option<i64> {
        let partition = partition_of(actor);
        if self.is_releasing(partition) {
            return None;
        }
        self.fence.epoch(partition)
    }

    fn holds_at(&self, actor: &ActorId, epoch: i64, new_work: bool) -> BackendFuture<'_, bool> {
        let partition = partition_of(actor);
        Box::pin(async move {
            if new_work && self.is_releasing(partition) {
                return false;
            }
            self.fence
                .held_again(partition, epoch, self.lease_wait)
                .await
        })
    }

    fn refreshed(&self, deadline: Instant) -> BackendFuture<'_, ()> {
        Box::pin(async move {
            let until = deadline.min(Instant::now() + self.refresh_every * 2);
            let _ = tokio::time::timeout_at(until.into(), self.refreshed.notified()).await;
        })
    }

    fn forward(&self, address: &str, invocation: Invocation) -> InvokeFuture {
        let address: Arc<str> = address.into();
        let client = self.client(&address);
        let wire = wire::invocation_to_wire(&invocation);
        let request = self.request(wire, invocation.deadline);
        Box::pin(async move {
            let unavailable = |message: String, ran: bool| InvokeError::Unavailable {
                actor: invocation.target.clone(),
                message,
                ran,
            };
            let mut client = client.map_err(|m| unavailable(m, false))?;
            // The owner answers a call past its deadline itself; this is for an owner
            // that does not answer at all.
            let answer = tokio::time::timeout_at(
                (invocation.deadline + DEADLINE_GRACE).into(),
                client.invoke(request),
            )
            .await
            .unwrap_or_else(|_| Err(tonic::Status::deadline_exceeded("no answer in time")));
            match answer {
                Ok(reply) => wire::reply_from_wire(
                    reply.into_inner(),
                    &invocation.target,
                    &invocation.action,
                ),
                Err(status) if status.code() == tonic::Code::DeadlineExceeded => {
                    Err(InvokeError::DeadlineExceeded {
                        actor: invocation.target.clone(),
                        action: invocation.action.clone(),
                    })
                }
                Err(status) => Err(unavailable(
                    format!("its host {address} failed: {}", status.message()),
                    !not_delivered(&status),
                )),
            }
        })
    }

    fn forward_schedule(
        &self,
        address: &str,
        actor: &ActorId,
        change: ScheduleChange,
    ) -> BackendFuture<'_, Result<bool, ScheduleError>> {
        let address: Arc<str> = address.into();
        let actor = actor.clone();
        Box::pin(async move {
            let wire = wire::schedule_to_wire(&actor, &change)?;
            let mut client = self.client(&address).map_err(ScheduleError::Unavailable)?;
            let deadline = Instant::now() + Duration::from_secs(10);
            match client.schedule(self.request(wire, deadline)).await {
                Ok(reply) => wire::schedule_result(reply.into_inner(), &actor, &change),
                Err(status) if not_delivered(&status) => Err(ScheduleError::Unavailable(format!(
                    "the host of {actor} at {address} failed: {}",
                    status.message()
                ))),
                Err(status) => Err(ScheduleError::OutcomeUnknown(format!(
                    "the host of {actor} at {address} did not answer: {}",
                    status.message()
                ))),
            }
        })
    }
}
