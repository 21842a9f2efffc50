//! One turn of a Wasm actor, in its steps: find the instance it runs in (acquire),
//! build the turn's host state (prepare), call the guest, its `on-upgrade` first when the
//! state was written by another version (call), turn how the call ended into the turn's
//! outcome (settle), and put a clean instance back where the next turn looks for it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use tokio::sync::OwnedSemaphorePermit;
use wasmtime::Store;
use wasmtime::component::Instance;

use super::bindings::{WarrenActor, types};
use super::host::{HostState, TurnHost, config_variables};
use super::kept::{Charge, Pinned};
use super::residency::{self, Resident};
use super::{OnUpgrade, WARM_PER_COMPONENT, Warm, WasmComponent, WasmEngine};
use warren_core::runtime::config::ComponentConfig;
use warren_core::runtime::egress::TenantEgress;
use warren_core::runtime::tenants::Limits;
use warren_core::runtime::trace::{is_trace_header, trace_headers, trace_id_in};
use warren_core::runtime::{ActivationCache, Runtime, TurnOutcome, TurnState};
use warren_core::types::manifest::InstanceStrategy;
use warren_core::types::{ActorId, Invocation, InvokeError, Reply};

/// What a turn may use besides its message and state.
pub struct TurnSetting<'a> {
    /// The limits of the actor's tenant.
    pub limits: &'a Limits,
    /// The actor's cache, where a type that keeps an instance per actor keeps it (none:
    /// nothing is kept).
    pub cache: Option<&'a ActivationCache>,
    /// The configuration values of the actor's component, if it has any.
    pub config: Option<Arc<ComponentConfig>>,
    /// What the turn may send out, under its tenant's egress policy.
    pub egress: TenantEgress,
}

/// Where a turn's instance comes from and goes back to, and what it may use.
struct Keeping<'a> {
    strategy: InstanceStrategy,
    /// The actor's cache, when its type keeps an instance per actor.
    cache: Option<&'a ActivationCache>,
    /// The actor's handle on its kept instance, to keep the instance again after the turn.
    pinned: Option<Pinned<Warm>>,
    /// The actor's kept instance, taken out for this turn.
    warm: Option<Warm>,
    /// The memory the turn may use: the tenant's limit within the engine's.
    memory: usize,
    /// The tenant whose kept-instance budget the instance counts in, and that budget.
    tenant: (Arc<str>, u64),
}

/// The store a turn runs in, and its instance when a warm one was taken.
struct Acquired {
    store: Store<HostState>,
    instance: Option<(WarrenActor, Instance)>,
    slot: OwnedSemaphorePermit,
    /// What the instance made resident in its earlier turns.
    resident: Resident,
}

/// How the guest call ended: its reply (the instance fit for another turn), a trap, or
/// the deadline.
type Called = Result<
    wasmtime::Result<(WarrenActor, Instance, Result<Vec<u8>, types::Error>)>,
    tokio::time::error::Elapsed,
>;

impl WasmEngine {
    /// Run one turn: in the instance kept in the actor's `cache` by its last turn, else in
    /// a fresh one (or a warm one, with `reuse_instances`). Returns the reply and the turn
    /// state (whose staged writes the caller commits only on success).
    pub async fn run_turn(
        &self,
        component: &WasmComponent,
        runtime: Runtime,
        state: TurnState,
        invocation: &Invocation,
        setting: TurnSetting<'_>,
    ) -> TurnOutcome {
        let TurnSetting {
            limits,
            cache,
            config,
            egress,
        } = setting;
        let mut keeping = self.keeping(component, invocation, limits, cache);
        let (host, upgrade_from) = prepare(component, runtime, state, invocation, (config, egress));
        let Some(acquired) = self
            .acquire(component, &mut keeping, host, invocation, limits)
            .await
        else {
            return TurnOutcome::unstaged(Err(InvokeError::Overloaded));
        };
        let mut store = acquired.store;
        let upgrading = AtomicBool::new(false);
        // Only an instance that may be kept is charged, so only its turns are measured.
        let weight = acquired
            .resident
            .next_weight()
            .filter(|_| keeping.cache.is_some());
        let (called, faults) = residency::metered(
            call(
                component,
                &mut store,
                acquired.instance,
                invocation,
                upgrade_from.as_deref(),
                &upgrading,
            ),
            weight.is_some(),
        )
        .await;
        let upgrade = Upgrading {
            from: upgrade_from.as_deref(),
            trapped: upgrading.load(Ordering::Relaxed),
        };
        let (outcome, instance) =
            settle(component, &mut store, called, invocation, limits, upgrade);
        if let Some((instance, raw)) = instance {
            let warm = Warm {
                store,
                instance,
                raw,
                _slot: acquired.slot,
                resident: acquired.resident.after(faults, weight),
            };
            self.put_back(component, keeping, warm, outcome.result.is_ok());
        }
        outcome
    }

    /// Where this turn's instance is kept, and the memory it may use.
    fn keeping<'a>(
        &self,
        component: &WasmComponent,
        invocation: &Invocation,
        limits: &Limits,
        cache: Option<&'a ActivationCache>,
    ) -> Keeping<'a> {
        let memory = usize::try_from(limits.max_memory_bytes)
            .unwrap_or(usize::MAX)
            .min(self.config.max_memory_bytes);
        let strategy = component
            .strategies
            .get(&*invocation.target.actor_type)
            .copied()
            .unwrap_or(InstanceStrategy::Fresh);
        let cache = cache.filter(|_| strategy == InstanceStrategy::Kept);
        // The actor's kept instance, if it is still of this component, was not evicted,
        // and is within the tenant's memory limit.
        let pinned = cache
            .and_then(ActivationCache::take)
            .and_then(|kept| kept.downcast::<Pinned<Warm>>().ok())
            .map(|pinned| *pinned)
            .filter(|p| p.owner == component.sha256);
        let warm = pinned
            .as_ref()
            .and_then(|p| self.kept.take(p))
            .filter(|w| w.store.data().limiter.memory_bytes <= memory);
        Keeping {
            strategy,
            cache,
            pinned,
            warm,
            memory,
            tenant: (
                invocation.target.tenant.clone(),
                limits.max_kept_memory_bytes,
            ),
        }
    }

    /// The store the turn runs in: the actor's kept instance, a warm one of the component,
    /// or a fresh store under the instance cap (`None` when no slot frees up before the
    /// deadline).
    async fn acquire(
        &self,
        component: &WasmComponent,
        keeping: &mut Keeping<'_>,
        host: TurnHost,
        invocation: &Invocation,
        limits: &Limits,
    ) -> Option<Acquired> {
        let kept = keeping.warm.take();
        let warm = if kept.is_some() {
            kept
        } else if keeping.strategy == InstanceStrategy::Reused {
            component
                .warm
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .pop()
        } else {
            None
        };
        let label = invocation.target.to_string();
        let trace_id = trace_id_in(&invocation.metadata);
        let config = host.config.clone();
        if let Some(w) = warm {
            let mut store = w.store;
            let data = store.data_mut();
            data.config = config_variables(config.as_deref());
            data.egress.turn = Some(host.egress());
            data.turn = Some(host);
            data.deadline = invocation.deadline;
            data.limiter.reset(keeping.memory);
            data.output.relabel(&label, trace_id, config);
            if self.config.fuel {
                let _ = store.set_fuel(limits.fuel_per_turn.unwrap_or(u64::MAX));
            }
            store.set_epoch_deadline(1);
            return Some(Acquired {
                store,
                instance: Some((w.instance, w.raw)),
                slot: w._slot,
                resident: w.resident,
            });
        }
        let acquired = tokio::time::timeout_at(
            invocation.deadline.into(),
            self.instances.clone().acquire_owned(),
        )
        .await;
        let Ok(Ok(slot)) = acquired else {
            return None;
        };
        let store = self.store(
            &label,
            Some(host),
            invocation.deadline,
            keeping.memory,
            limits.fuel_per_turn,
        );
        if trace_id.is_some() || config.is_some() {
            store.data().output.relabel(&label, trace_id, config);
        }
        Some(Acquired {
            store,
            instance: None,
            slot,
            resident: Resident::default(),
        })
    }

    /// Keep an instance that finished its turn cleanly: for its actor only after a turn
    /// that succeeded (a failed turn's writes are dropped, so its memory may disagree with
    /// the stored state), never grew past the limit, and stayed within half the tenant's
    /// memory (a guest whose heap grows from turn to turn, an interpreter's garbage, is
    /// dropped with half its limit still free, not failed by a turn that would pass in a
    /// fresh instance). It is charged what it made resident, within the kept budgets.
    fn put_back(&self, component: &WasmComponent, keeping: Keeping<'_>, warm: Warm, ok: bool) {
        let limiter = &warm.store.data().limiter;
        let keepable = ok && !limiter.memory_refused && limiter.memory_bytes <= keeping.memory / 2;
        match keeping.cache.filter(|_| keepable) {
            Some(cache) => {
                let (tenant, tenant_budget) = keeping.tenant;
                let charge = Charge {
                    tenant,
                    tenant_budget,
                    bytes: warm.resident.bytes() + INSTANCE_ALLOWANCE,
                };
                match self
                    .kept
                    .keep(warm, charge, keeping.pinned, &component.sha256)
                {
                    Ok(pinned) => cache.put(Box::new(pinned)),
                    Err(why) => tracing::debug!(?why, "instance not kept"),
                }
            }
            None if keeping.strategy == InstanceStrategy::Reused => {
                let mut pool = component.warm.lock().unwrap_or_else(|p| p.into_inner());
                if pool.len() < WARM_PER_COMPONENT {
                    pool.push(warm);
                }
            }
            None => {}
        }
    }
}

/// What a kept instance is charged besides the pages it faulted in: its `VMContext`, its
/// store and host state, allocated on the host's heap where no fault shows them.
const INSTANCE_ALLOWANCE: u64 = 16 << 10;

/// The turn's host state, and the version whose state the turn finds when that is not
/// this component's and it exports `on-upgrade`: the migration runs first, in the same
/// turn, so that it commits with it.
fn prepare(
    component: &WasmComponent,
    runtime: Runtime,
    mut state: TurnState,
    invocation: &Invocation,
    (config, egress): (Option<Arc<ComponentConfig>>, TenantEgress),
) -> (TurnHost, Option<String>) {
    let upgrade_from = component
        .on_upgrade
        .as_ref()
        .and_then(|_| state.written_by_other(&component.version));
    state.run_by(component.version.clone());
    let host = TurnHost {
        state,
        runtime,
        reentrancy_id: invocation.reentrancy_id.clone(),
        deadline: invocation.deadline,
        trace: trace_headers(&invocation.metadata),
        config,
        egress,
        label: invocation.target.to_string(),
    };
    (host, upgrade_from)
}

/// Call the guest within the turn's deadline: instantiate it unless a warm instance was
/// taken, run its `on-upgrade` when the state is another version's (`upgrading` is set
/// while it runs), then `handle-action`.
async fn call(
    component: &WasmComponent,
    store: &mut Store<HostState>,
    instance: Option<(WarrenActor, Instance)>,
    invocation: &Invocation,
    upgrade_from: Option<&str>,
    upgrading: &AtomicBool,
) -> Called {
    let ctx = guest_context(invocation);
    let run = async {
        let (instance, raw) = match instance {
            Some(kept) => kept,
            None => component.instantiate(store).await?,
        };
        if let (Some(from), Some(index)) = (upgrade_from, &component.on_upgrade) {
            let migrate: OnUpgrade = raw.get_typed_func(&mut *store, index)?;
            upgrading.store(true, Ordering::Relaxed);
            let (migrated,) = migrate.call_async(&mut *store, (from.to_string(),)).await?;
            upgrading.store(false, Ordering::Relaxed);
            if let Err(refused) = migrated {
                let message = format!(
                    "on-upgrade from version {from} to {} failed: {}",
                    component.version,
                    guest_error_message(&refused)
                );
                return Ok((instance, raw, Err(types::Error::Failed(message))));
            }
        }
        let reply = instance
            .warren_actor_actor()
            .call_handle_action(&mut *store, &ctx, &invocation.action, &invocation.payload)
            .await?;
        Ok::<_, wasmtime::Error>((instance, raw, reply))
    };
    tokio::time::timeout_at(invocation.deadline.into(), run).await
}

/// Whether the turn ran an `on-upgrade`, from which version, and whether it trapped.
struct Upgrading<'a> {
    from: Option<&'a str>,
    trapped: bool,
}

/// The turn's outcome from how its call ended, with the instance when it may serve
/// another turn (only one that finished its turn cleanly).
fn settle(
    component: &WasmComponent,
    store: &mut Store<HostState>,
    called: Called,
    invocation: &Invocation,
    limits: &Limits,
    upgrade: Upgrading<'_>,
) -> (TurnOutcome, Option<(WarrenActor, Instance)>) {
    let (called, instance) = match called {
        Ok(Ok((instance, raw, reply))) => (Ok(Ok(reply)), Some((instance, raw))),
        Ok(Err(trap)) => (Ok(Err(trap)), None),
        Err(elapsed) => (Err(elapsed), None),
    };
    let data = store.data_mut();
    let staged = data.turn.take().map(|t| t.state);
    let actor = invocation.target.clone();
    let action = invocation.action.clone();
    let result = match called {
        Err(_elapsed) => Err(InvokeError::DeadlineExceeded { actor, action }),
        Ok(Ok(Ok(reply))) => Ok(Reply::data(reply)),
        Ok(Ok(Err(guest_error))) => Err(from_guest_error(actor, action, guest_error)),
        Ok(Err(_trap)) if data.limiter.memory_refused => Err(InvokeError::MemoryLimit {
            actor,
            action,
            limit_bytes: data.limiter.max_memory_bytes as u64,
        }),
        Ok(Err(trap))
            if trap.downcast_ref::<wasmtime::Trap>() == Some(&wasmtime::Trap::OutOfFuel) =>
        {
            Err(InvokeError::FuelExhausted {
                actor,
                action,
                fuel: limits.fuel_per_turn.unwrap_or(u64::MAX),
            })
        }
        Ok(Err(_trap)) if Instant::now() >= invocation.deadline => {
            Err(InvokeError::DeadlineExceeded { actor, action })
        }
        Ok(Err(trap)) if upgrade.trapped => Err(InvokeError::Trapped {
            actor,
            action,
            message: format!(
                "on-upgrade from version {} to {} trapped: {trap:#}",
                upgrade.from.unwrap_or_default(),
                component.version
            ),
        }),
        Ok(Err(trap)) => Err(InvokeError::Trapped {
            actor,
            action,
            message: format!("{trap:#}"),
        }),
    };
    if let (Some(from), Err(e)) = (upgrade.from, &result) {
        tracing::warn!(
            actor = %invocation.target,
            from = %from,
            to = %component.version,
            error = %e,
            "turn under a new version failed; the actor keeps the state its old version wrote"
        );
    }
    // A failed turn's output goes with its failure, for people looking into it.
    let output = data.output.take_lines();
    let output = if result.is_err() { output } else { Vec::new() };
    let outcome = TurnOutcome {
        result,
        staged,
        output,
    };
    (outcome, instance)
}

fn actor_ref(id: &ActorId) -> types::ActorRef {
    types::ActorRef {
        actor_type: id.actor_type.to_string(),
        id: id.id.to_string(),
    }
}

/// The WIT context of an invocation.
fn guest_context(invocation: &Invocation) -> types::Context {
    use warren_core::types::{CallMode, Fired, Trigger};
    let fired = |f: &Fired| types::Fired {
        name: f.name.clone(),
        data: f.data.clone(),
    };
    let trigger = match (&invocation.trigger, invocation.mode) {
        (Trigger::Message, CallMode::Call) => types::Trigger::Call,
        (Trigger::Message, CallMode::Cast) => types::Trigger::Cast,
        (Trigger::Timer(f), _) => types::Trigger::Timer(fired(f)),
        (Trigger::Reminder(f), _) => types::Trigger::Reminder(fired(f)),
        (Trigger::Broadcast(channel), _) => types::Trigger::Broadcast(channel.clone()),
        (Trigger::Activate, _) => types::Trigger::Activate,
    };
    types::Context {
        target: actor_ref(&invocation.target),
        caller: invocation.caller.as_ref().map(actor_ref),
        trigger,
        // Trace headers are the host's plumbing (and would cost every traced turn two
        // strings lowered into the guest).
        metadata: invocation
            .metadata
            .iter()
            .filter(|(key, _)| !is_trace_header(key))
            .cloned()
            .collect(),
    }
}

/// The message a guest gave with its error.
fn guest_error_message(e: &types::Error) -> &str {
    match e {
        types::Error::NotFound(m)
        | types::Error::InvalidArgument(m)
        | types::Error::Failed(m)
        | types::Error::Unavailable(m) => m,
    }
}

fn from_guest_error(actor: ActorId, action: String, e: types::Error) -> InvokeError {
    match e {
        types::Error::NotFound(message) => InvokeError::ActionNotFound {
            actor,
            action,
            message,
        },
        types::Error::InvalidArgument(message) => InvokeError::InvalidArgument {
            actor,
            action,
            message,
        },
        types::Error::Failed(message) | types::Error::Unavailable(message) => InvokeError::Failed {
            actor,
            action,
            message,
        },
    }
}
