//! The host-to-host messages' generated types (`proto/warren_cluster.proto`), and an
//! actor id as they carry it: what both the conversions (`wire.rs`) and the error
//! mapping (`failure.rs`) build on.

use warren_core::types::ActorId;

/// The generated types of `warren.cluster.v1`.
#[allow(clippy::all, missing_docs)]
pub mod pb {
    tonic::include_proto!("warren.cluster.v1");
}

/// A forwarded message that does not parse.
pub type Malformed = String;

/// An actor id as the wire carries it.
pub fn actor_ref(actor: &ActorId) -> pb::ActorRef {
    pb::ActorRef {
        tenant: actor.tenant.to_string(),
        actor_type: actor.actor_type.to_string(),
        id: actor.id.to_string(),
    }
}

/// An actor id from the wire, checked as the owner's API checks names.
pub(crate) fn actor_of(actor: Option<pb::ActorRef>) -> Result<ActorId, Malformed> {
    let a = actor.ok_or("the actor is missing")?;
    for (what, name) in [
        ("tenant", &a.tenant),
        ("actor type", &a.actor_type),
        ("actor id", &a.id),
    ] {
        warren_core::types::check_name(what, name)?;
    }
    Ok(ActorId::new(&a.tenant, &a.actor_type, &a.id))
}
