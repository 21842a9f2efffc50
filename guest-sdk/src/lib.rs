//! Write Warren actors in Rust.
//!
//! An actor component implements [`Actor`] and names it with [`actor!`]:
//!
//! ```no_run
//! use warren_guest::prelude::*;
//!
//! struct Counter;
//!
//! impl Actor for Counter {
//!     fn manifest() -> Manifest {
//!         Manifest::new("counter").with_type(ActorType::new("counter").actions(["add", "get"]))
//!     }
//!
//!     fn handle(ctx: &Context, action: &str, payload: &[u8]) -> Result<Vec<u8>, Error> {
//!         let total: i64 = state::get_json("total")?.unwrap_or(0);
//!         let total = match action {
//!             "add" => total + json::<i64>(payload)?,
//!             "get" => total,
//!             other => return Err(Error::NotFound(other.to_string())),
//!         };
//!         state::set_json("total", &total)?;
//!         to_json(&total)
//!     }
//! }
//!
//! warren_guest::actor!(Counter);
//! ```
//!
//! Build with `cargo build --target wasm32-wasip2 --release`; the `.wasm` it writes is a
//! component ready for `warren deploy`.

// Every public item says what it is (checked by clippy in CI).
#![warn(missing_docs)]

/// The raw bindings generated from `wit/actor.wit`. Most actors never need them.
#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "warren-extended-actor",
        pub_export_macro: true,
        export_macro_name: "__export_warren_actor",
        default_bindings_module: "warren_guest::bindings",
        with: { "wasi:config/store@0.2.0-rc.1": generate },
    });
}

pub mod config;
pub mod http;
mod manifest;
pub mod state;

pub use bindings::exports::warren::actor::instances::InstanceStrategy;
pub use bindings::warren::actor::types::{
    ActorKind, ActorRef, Context, Error, Fired, Manifest, Trigger,
};
pub use manifest::ActorType;

/// The behaviour of an actor component.
pub trait Actor {
    /// The actor types this component provides, with their settings.
    fn manifest() -> Manifest;

    /// Run one turn: `action` with its `payload`. State written through [`state`] during
    /// the turn is committed only if this returns `Ok`.
    fn handle(ctx: &Context, action: &str, payload: &[u8]) -> Result<Vec<u8>, Error>;

    /// Migrate the current actor's state, written by version `from_version` of this
    /// component (its manifest's `version`), to this version's shape. Runs before the
    /// actor's first turn under this version, through [`state`] like a turn; its writes
    /// commit with that turn. An error leaves the old state untouched and fails the turn.
    /// By default the state is kept as it is.
    fn on_upgrade(from_version: &str) -> Result<(), Error> {
        let _ = from_version;
        Ok(())
    }

    /// How instances serve each actor type's turns, for the types that choose: a fresh
    /// instance per turn, one kept per active actor, or instances reused across the
    /// type's actors. The host's default serves the others, and its flags cap the
    /// choice. By default no type chooses.
    fn instance_strategies() -> Vec<(String, InstanceStrategy)> {
        Vec::new()
    }
}

/// Calls and casts to other actors of the same tenant.
pub mod actors {
    use crate::bindings::warren::actor::actors as raw;
    use crate::{ActorRef, Error};

    /// A reference to actor `id` of `actor_type`.
    pub fn actor(actor_type: &str, id: &str) -> ActorRef {
        ActorRef {
            actor_type: actor_type.to_string(),
            id: id.to_string(),
        }
    }

    /// Run `action` on `target` and wait for its reply.
    pub fn call(target: &ActorRef, action: &str, payload: &[u8]) -> Result<Vec<u8>, Error> {
        raw::call(target, action, payload)
    }

    /// Send `action` to `target` once this turn has committed; do not wait for it.
    pub fn cast(target: &ActorRef, action: &str, payload: &[u8]) -> Result<(), Error> {
        raw::cast(target, action, payload)
    }
}

/// Timers (die with the activation) and reminders (durable) of the current actor.
///
/// Times use Dapr's formats: `"5s"`, `"PT1M"`, `"R3/PT1S"`, RFC 3339 for due times and
/// TTLs; an empty string means "now" (due time), "once" (period) or "never" (TTL). A
/// firing runs the action named after the timer or reminder, with its data as payload.
pub mod schedule {
    use crate::Error;
    use crate::bindings::warren::actor::actors as raw;

    /// Start or replace a timer when this turn commits.
    pub fn set_timer(
        name: &str,
        due_time: &str,
        period: &str,
        ttl: &str,
        data: &[u8],
    ) -> Result<(), Error> {
        raw::set_timer(name, due_time, period, ttl, data)
    }

    /// Stop a timer when this turn commits.
    pub fn cancel_timer(name: &str) {
        raw::cancel_timer(name)
    }

    /// Register or replace a reminder when this turn commits.
    pub fn set_reminder(
        name: &str,
        due_time: &str,
        period: &str,
        ttl: &str,
        data: &[u8],
    ) -> Result<(), Error> {
        raw::set_reminder(name, due_time, period, ttl, data)
    }

    /// Delete a reminder when this turn commits.
    pub fn cancel_reminder(name: &str) {
        raw::cancel_reminder(name)
    }
}

/// Spawn's workflow steps for the current turn, run by the host after the turn commits.
/// A side effect is an [`actors::cast`].
pub mod workflow {
    use crate::ActorRef;
    use crate::bindings::warren::actor::workflow as raw;

    /// Publish `payload` to every active actor listening on `channel`.
    pub fn broadcast(channel: &str, payload: &[u8]) {
        raw::broadcast(channel, payload)
    }

    /// After this turn, send its reply to `action` of `target`; the caller gets that reply.
    pub fn pipe(target: &ActorRef, action: &str) {
        raw::pipe(target, action)
    }

    /// After this turn, send its input to `action` of `target`; the caller gets that reply.
    pub fn forward(target: &ActorRef, action: &str) {
        raw::forward(target, action)
    }
}

/// OPACA's agent-to-platform calls, for an agent of an agent container: invoke an action
/// wherever it lives, send a message to an agent, broadcast on a channel. The platform
/// routes them as it would the same request from outside, with the agent acting as its
/// container's user. Messages and broadcasts are sent only if the turn succeeds.
///
/// ```no_run
/// use warren_guest::platform;
///
/// # fn turn() -> Result<(), warren_guest::Error> {
/// // Whoever offers `Add`, here or on a connected platform.
/// let sum: i64 = platform::invoke("Add", &serde_json::json!({"x": 1, "y": 2}))?;
/// // Only local agents named `calculator`.
/// let sum: i64 = platform::Route::new().agent("calculator").local().invoke("Add", &serde_json::json!({"x": sum, "y": 3}))?;
/// platform::send("calculator", &sum)?;
/// # Ok(())
/// # }
/// ```
pub mod platform {
    use serde::Serialize;
    use serde::de::DeserializeOwned;

    use crate::Error;
    use crate::bindings::warren::actor::platform as raw;
    pub use raw::PlatformError;

    /// Where a platform call goes. By default: any agent, any container, and connected
    /// platforms too (OPACA's `forward=true`).
    #[derive(Clone, Debug, Default)]
    pub struct Route {
        agent: Option<String>,
        container: Option<String>,
        forward: Option<bool>,
        timeout_secs: Option<u32>,
        reply_to: Option<String>,
    }

    impl Route {
        /// Any agent, anywhere.
        pub fn new() -> Self {
            Route::default()
        }

        /// Only agents named `agent` (for `invoke`).
        pub fn agent(mut self, agent: &str) -> Self {
            self.agent = Some(agent.to_string());
            self
        }

        /// Only the container `container`.
        pub fn container(mut self, container: &str) -> Self {
            self.container = Some(container.to_string());
            self
        }

        /// Only this platform: connected platforms are not asked.
        pub fn local(mut self) -> Self {
            self.forward = Some(false);
            self
        }

        /// Give up an invoke after `secs` seconds (never later than the turn's limit).
        pub fn timeout_secs(mut self, secs: u32) -> Self {
            self.timeout_secs = Some(secs);
            self
        }

        /// The `replyTo` of messages sent or broadcast on this route.
        pub fn reply_to(mut self, reply_to: &str) -> Self {
            self.reply_to = Some(reply_to.to_string());
            self
        }

        /// Run `action` with `arguments` (serialized to a JSON object) on the first agent
        /// that offers it, and decode its result.
        pub fn invoke<T: DeserializeOwned>(
            &self,
            action: &str,
            arguments: &impl Serialize,
        ) -> Result<T, PlatformError> {
            let arguments = serde_json::to_string(arguments).map_err(|e| bad(e.to_string()))?;
            let result = raw::invoke(
                action,
                &arguments,
                self.agent.as_deref(),
                self.container.as_deref(),
                self.forward,
                self.timeout_secs,
            )?;
            serde_json::from_str(&result).map_err(|e| {
                bad(format!(
                    "the result of {action:?} is not what was expected: {e}"
                ))
            })
        }

        /// Send `payload` as a message to every agent named `agent`, once the turn commits.
        pub fn send(&self, agent: &str, payload: &impl Serialize) -> Result<(), PlatformError> {
            raw::send(
                agent,
                &self.message(payload)?,
                self.container.as_deref(),
                self.forward,
            )
        }

        /// Publish `payload` as a message on `channel`, once the turn commits.
        pub fn broadcast(
            &self,
            channel: &str,
            payload: &impl Serialize,
        ) -> Result<(), PlatformError> {
            raw::broadcast(channel, &self.message(payload)?, self.forward)
        }

        fn message(&self, payload: &impl Serialize) -> Result<String, PlatformError> {
            let payload = serde_json::to_value(payload).map_err(|e| bad(e.to_string()))?;
            let mut message = serde_json::json!({ "payload": payload });
            if let Some(reply_to) = &self.reply_to {
                message["replyTo"] = reply_to.clone().into();
            }
            Ok(message.to_string())
        }
    }

    /// Run `action` on whichever agent offers it, here or on a connected platform.
    pub fn invoke<T: DeserializeOwned>(
        action: &str,
        arguments: &impl Serialize,
    ) -> Result<T, PlatformError> {
        Route::new().invoke(action, arguments)
    }

    /// Send `payload` to every agent named `agent`, once the turn commits.
    pub fn send(agent: &str, payload: &impl Serialize) -> Result<(), PlatformError> {
        Route::new().send(agent, payload)
    }

    /// Publish `payload` on `channel`, once the turn commits.
    pub fn broadcast(channel: &str, payload: &impl Serialize) -> Result<(), PlatformError> {
        Route::new().broadcast(channel, payload)
    }

    fn bad(message: String) -> PlatformError {
        PlatformError {
            status: 400,
            message,
            cause: None,
        }
    }

    /// A platform error as an actor error, keeping its status and cause in the message.
    impl From<PlatformError> for Error {
        fn from(e: PlatformError) -> Self {
            let mut message = format!("platform answered {}: {}", e.status, e.message);
            if let Some(cause) = &e.cause {
                message.push_str(&format!(" (cause: {cause})"));
            }
            match e.status {
                400 | 422 => Error::InvalidArgument(message),
                404 => Error::NotFound(message),
                503 | 504 => Error::Unavailable(message),
                _ => Error::Failed(message),
            }
        }
    }
}

/// Decode a JSON payload, mapping a bad one to [`Error::InvalidArgument`].
pub fn json<T: serde::de::DeserializeOwned>(payload: &[u8]) -> Result<T, Error> {
    serde_json::from_slice(payload)
        .map_err(|e| Error::InvalidArgument(format!("payload is not the expected JSON: {e}")))
}

/// Encode a reply as JSON.
pub fn to_json<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, Error> {
    serde_json::to_vec(value).map_err(|e| Error::Failed(format!("cannot encode reply: {e}")))
}

/// The names an actor module usually needs.
pub mod prelude {
    pub use crate::{
        Actor, ActorKind, ActorRef, ActorType, Context, Error, InstanceStrategy, Manifest, Trigger,
        actors, config, http, json, platform, schedule, state, to_json, workflow,
    };
}

#[doc(hidden)]
pub fn __describe<A: Actor>() -> Manifest {
    A::manifest()
}

#[doc(hidden)]
pub fn __handle<A: Actor>(
    ctx: Context,
    action: String,
    payload: Vec<u8>,
) -> Result<Vec<u8>, Error> {
    A::handle(&ctx, &action, &payload)
}

#[doc(hidden)]
pub fn __instance_strategies<A: Actor>()
-> Vec<bindings::exports::warren::actor::instances::TypeInstances> {
    A::instance_strategies()
        .into_iter()
        .map(
            |(actor_type, strategy)| bindings::exports::warren::actor::instances::TypeInstances {
                actor_type,
                strategy,
            },
        )
        .collect()
}

#[doc(hidden)]
pub fn __on_upgrade<A: Actor>(from_version: String) -> Result<(), Error> {
    A::on_upgrade(&from_version)
}

/// Export `$ty` (which implements [`Actor`]) as this component's actor.
#[macro_export]
macro_rules! actor {
    ($ty:ty) => {
        struct __WarrenExport;

        impl $crate::bindings::exports::warren::actor::actor::Guest for __WarrenExport {
            fn describe() -> $crate::Manifest {
                $crate::__describe::<$ty>()
            }

            fn handle_action(
                ctx: $crate::Context,
                action: ::std::string::String,
                payload: ::std::vec::Vec<u8>,
            ) -> ::std::result::Result<::std::vec::Vec<u8>, $crate::Error> {
                $crate::__handle::<$ty>(ctx, action, payload)
            }
        }

        impl $crate::bindings::exports::warren::actor::upgrade::Guest for __WarrenExport {
            fn on_upgrade(
                from_version: ::std::string::String,
            ) -> ::std::result::Result<(), $crate::Error> {
                $crate::__on_upgrade::<$ty>(from_version)
            }
        }

        impl $crate::bindings::exports::warren::actor::instances::Guest for __WarrenExport {
            fn instance_strategies() -> ::std::vec::Vec<
                $crate::bindings::exports::warren::actor::instances::TypeInstances,
            > {
                $crate::__instance_strategies::<$ty>()
            }
        }

        $crate::bindings::__export_warren_actor!(__WarrenExport with_types_in $crate::bindings);
    };
}
