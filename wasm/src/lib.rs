//! The Wasm backend: one engine, compiled components, sandboxed instances that each serve one actor.
// Every public item says what it is (checked by clippy in CI).
#![warn(missing_docs)]

mod bindings;
mod cache;
mod compile;
mod egress;
mod host;
mod instances;
mod kept;
mod limits;
mod manifest;
mod residency;
mod stdio;
mod turn;

pub use compile::{CompileLimits, Compiler, compile_child};
pub use egress::EgressSettings;
pub use turn::TurnSetting;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;
use wasmtime::component::{Component, ComponentExportIndex, Instance, Linker, ResourceTable};
use wasmtime::{Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store};
use wasmtime_wasi::WasiCtxBuilder;

use bindings::{WarrenActor, WarrenActorPre, types};
use cache::ArtifactCache;
use host::{HostState, TurnHost};
use kept::KeptInstances;
use limits::MemoryLimiter;
use stdio::GuestOutput;
use warren_core::runtime::{
    ActorBackend, BackendFuture, ComponentLoader, KeptUsage, LoadError, LoadedComponent,
    TenantKept, Turn, TurnOutcome,
};
use warren_core::types::manifest::{InstanceStrategy, Manifest};

/// How often the epoch advances; a runaway guest is stopped within about this much of its
/// deadline, and a long-running one yields to other tasks this often.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// How long `describe` may run at deployment.
const DESCRIBE_DEADLINE: Duration = Duration::from_secs(5);

/// Settings of the Wasm backend.
#[derive(Clone, Debug)]
pub struct WasmConfig {
    /// Instances that may exist at once (pool size): concurrent turns plus waiting callers.
    pub max_instances: u32,
    /// Largest linear memory any tenant may give an instance (the pool's slot size).
    pub max_memory_bytes: usize,
    /// Meter fuel, so tenants can cap the instructions of a turn (costs 2-40% speed).
    pub fuel: bool,
    /// Keep instances warm between turns instead of a fresh instance per turn. Faster, but
    /// a guest's memory then outlives a turn and can carry data from one actor to the next
    /// of the same component: only for components that are trusted on that point.
    pub reuse_instances: bool,
    /// Active actors that may keep their instance between their own turns. An instance
    /// kept so serves only its actor, so no data crosses actors; 0 gives every turn a
    /// fresh instance. Each kept instance holds a slot of `max_instances`.
    pub pinned_instances: usize,
    /// Memory all kept instances together may hold, as each is charged what it made
    /// resident; past it, the least recently used are dropped. 0 keeps none.
    pub kept_memory_bytes: u64,
    /// How guests' outbound requests reach the outside (each tenant's policy says where
    /// they may go).
    pub egress: EgressSettings,
    /// Where uploaded components are compiled.
    pub compiler: Compiler,
    /// Components compiled at once at most (each compilation uses every core it gets).
    pub compile_jobs: usize,
}

impl Default for WasmConfig {
    fn default() -> Self {
        WasmConfig {
            max_instances: 1000,
            max_memory_bytes: 4 << 30,
            fuel: false,
            reuse_instances: false,
            pinned_instances: 500,
            kept_memory_bytes: 1 << 30,
            egress: EgressSettings::default(),
            compiler: Compiler::InProcess,
            compile_jobs: 2,
        }
    }
}

/// An instance kept between turns (with `reuse_instances`), holding its pool slot.
struct Warm {
    store: Store<HostState>,
    instance: WarrenActor,
    /// The same instance untyped, for the optional `on-upgrade` export.
    raw: Instance,
    _slot: tokio::sync::OwnedSemaphorePermit,
    /// What it has made resident since it was instantiated.
    resident: residency::Resident,
}

/// Warm instances kept per component at most.
const WARM_PER_COMPONENT: usize = 64;

/// A compiled, linked component ready to instantiate: the backend of its actor types.
pub struct WasmComponent {
    engine: Arc<WasmEngine>,
    /// Its code, shared with the components of the same bytes.
    code: Arc<SharedCode>,
    warm: std::sync::Mutex<Vec<Warm>>,
    /// Its `on-upgrade` function, when it exports one.
    on_upgrade: Option<ComponentExportIndex>,
    /// Its `instance-strategies` function, when it exports one.
    instance_strategies: Option<ComponentExportIndex>,
    /// How instances serve each of its types on this host.
    strategies: std::collections::HashMap<String, InstanceStrategy>,
    /// Hex SHA-256 of the `.wasm`.
    pub sha256: String,
    /// The size of the `.wasm` in bytes.
    pub size: usize,
    /// Its manifest's `version`, which its actors' state is recorded as written by
    /// (shared, since every turn hands it to its state).
    pub version: Arc<str>,
}

/// A component's compiled code, linked: shared by every loaded component with the same
/// bytes, and unmapped when the last of them goes.
struct SharedCode {
    component: Component,
    pre: WarrenActorPre<HostState>,
}

/// A join error of a blocking load step, as a load error.
fn blocking(e: tokio::task::JoinError) -> LoadError {
    LoadError::Compile(format!("the task failed: {e}"))
}

/// The interface of the optional state-migration export.
const UPGRADE_INTERFACE: &str = "warren:actor/upgrade@0.1.0";

/// `on-upgrade`'s signature.
type OnUpgrade = wasmtime::component::TypedFunc<(String,), (Result<(), types::Error>,)>;

/// The wasmtime engine and everything shared by all components.
pub struct WasmEngine {
    engine: Engine,
    linker: Linker<HostState>,
    cache: ArtifactCache,
    config: WasmConfig,
    instances: Arc<Semaphore>,
    /// Instances kept for their actors now, within their memory budget.
    kept: Arc<KeptInstances<Warm>>,
    /// How guests' outbound requests go out.
    egress: Arc<egress::EgressNet>,
    /// Compilations that may run now.
    compile_slots: Semaphore,
    /// The code loaded now, by hex SHA-256 of the `.wasm`.
    code: std::sync::Mutex<std::collections::HashMap<String, std::sync::Weak<SharedCode>>>,
}

/// Hex SHA-256 of some bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl WasmEngine {
    /// Build the engine (pooling allocator, copy-on-write images, epochs) and its linker;
    /// compiled artifacts are cached in `cache_dir`.
    pub fn new(config: WasmConfig, cache_dir: &Path) -> anyhow::Result<Arc<Self>> {
        let n = config.max_instances.max(1);
        let mut pool = PoolingAllocationConfig::new();
        // A Rust wasip2 component has 3 core instances (the program and two adapter shims).
        pool.total_component_instances(n)
            .total_core_instances(4 * n)
            .total_memories(n)
            .total_tables(4 * n)
            .total_stacks(n)
            .max_memory_size(config.max_memory_bytes)
            .linear_memory_keep_resident(1 << 20)
            .table_keep_resident(64 << 10)
            .pagemap_scan(wasmtime::Enabled::Auto);
        let mut cfg = compile::code_config(config.fuel);
        cfg.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&cfg)?;

        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
        host::add_to_linker(&mut linker)?;

        let ticker = engine.weak();
        std::thread::Builder::new()
            .name("warren-epoch".into())
            .spawn(move || {
                while let Some(engine) = ticker.upgrade() {
                    engine.increment_epoch();
                    drop(engine);
                    std::thread::sleep(EPOCH_TICK);
                }
            })?;

        let cache = ArtifactCache::new(cache_dir, &engine)?;
        let egress = Arc::new(egress::EgressNet::new(&config.egress)?);
        Ok(Arc::new(WasmEngine {
            egress,
            engine,
            linker,
            cache,
            instances: Arc::new(Semaphore::new(n as usize)),
            // Kept instances never take more than half the pool from fresh turns.
            kept: KeptInstances::new(
                config.kept_memory_bytes,
                config.pinned_instances.min(n as usize / 2),
            ),
            compile_slots: Semaphore::new(config.compile_jobs.max(1)),
            code: Default::default(),
            config,
        }))
    }

    /// Components compiled since start, and artifacts loaded from the cache instead.
    pub fn cache_counts(&self) -> (u64, u64) {
        let s = &self.cache.stats;
        (
            s.compiles.load(Ordering::Relaxed),
            s.hits.load(Ordering::Relaxed),
        )
    }

    /// The compiled component of `wasm` and its hash: from the cache, else compiled where
    /// the config says (one of `compile_jobs` at a time) and cached.
    async fn compile(
        self: &Arc<Self>,
        wasm: Arc<Vec<u8>>,
        sha256: &str,
    ) -> Result<Component, LoadError> {
        let this = self.clone();
        let hash = sha256.to_string();
        let cached = tokio::task::spawn_blocking(move || this.cache.load(&this.engine, &hash))
            .await
            .map_err(blocking)?;
        if let Some(component) = cached {
            return Ok(component);
        }
        let _slot = self
            .compile_slots
            .acquire()
            .await
            .map_err(|_| LoadError::Compile("the host is stopping".into()))?;
        let this = self.clone();
        let hash = sha256.to_string();
        let component = match &self.config.compiler {
            Compiler::InProcess => tokio::task::spawn_blocking(move || {
                this.cache
                    .compile_here(&this.engine, &wasm, &hash)
                    .map_err(|e| LoadError::Invalid(format!("{e:#}")))
            })
            .await
            .map_err(blocking)??,
            Compiler::Child { program, limits } => {
                let scratch = self.cache.scratch_path(sha256);
                let compiled =
                    compile::compile_in_child(program, *limits, &wasm, &scratch, self.config.fuel)
                        .await;
                if let Err(e) = compiled {
                    let _ = std::fs::remove_file(&scratch);
                    return Err(match e {
                        compile::CompileError::Invalid(reason) => LoadError::Invalid(reason),
                        other => LoadError::Compile(other.to_string()),
                    });
                }
                tokio::task::spawn_blocking(move || {
                    this.cache
                        .adopt(&this.engine, &scratch, &hash)
                        .map_err(|e| {
                            LoadError::Compile(format!("its artifact does not load: {e:#}"))
                        })
                })
                .await
                .map_err(blocking)??
            }
        };
        Ok(component)
    }

    /// The linked code of `wasm` and its hash: the code already loaded for another
    /// component with the same bytes (another tenant's, say) if one is, so that identical
    /// components share their mapped code and memory images; else compiled or loaded
    /// from the cache.
    async fn code(
        self: &Arc<Self>,
        wasm: Arc<Vec<u8>>,
    ) -> Result<(Arc<SharedCode>, String), LoadError> {
        let bytes = wasm.clone();
        let sha256 = tokio::task::spawn_blocking(move || sha256_hex(&bytes))
            .await
            .map_err(blocking)?;
        let loaded = self
            .code
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&sha256)
            .and_then(std::sync::Weak::upgrade);
        if let Some(code) = loaded {
            return Ok((code, sha256));
        }
        let component = self.compile(wasm, &sha256).await?;
        let pre = self.prepare(&component)?;
        let code = Arc::new(SharedCode { component, pre });
        let mut shared = self.code.lock().unwrap_or_else(|p| p.into_inner());
        shared.retain(|_, code| code.strong_count() > 0);
        shared.insert(sha256.clone(), Arc::downgrade(&code));
        Ok((code, sha256))
    }

    /// Compile (or load from cache), link and describe a component. CPU-heavy: run it off
    /// the async workers.
    pub async fn load_component(
        self: &Arc<Self>,
        wasm: Arc<Vec<u8>>,
    ) -> Result<(WasmComponent, Manifest), LoadError> {
        let (code, sha256) = self.code(wasm.clone()).await?;
        let component = &code.component;
        let export = |interface: &str, function: &str| {
            component
                .get_export_index(None, interface)
                .and_then(|i| component.get_export_index(Some(&i), function))
        };
        let on_upgrade = export(UPGRADE_INTERFACE, "on-upgrade");
        let instance_strategies = export(instances::INTERFACE, instances::FUNCTION);
        let mut wasm_component = WasmComponent {
            engine: self.clone(),
            code,
            warm: std::sync::Mutex::new(Vec::new()),
            on_upgrade,
            instance_strategies,
            strategies: Default::default(),
            sha256,
            size: wasm.len(),
            version: Arc::from(""),
        };
        let manifest = self.describe(&wasm_component).await?;
        wasm_component.version = Arc::from(manifest.version.as_str());
        wasm_component.strategies = instances::strategies(&manifest, &self.config);
        Ok((wasm_component, manifest))
    }

    fn prepare(&self, component: &Component) -> Result<WarrenActorPre<HostState>, LoadError> {
        let instance_pre = self
            .linker
            .instantiate_pre(component)
            .map_err(|e| LoadError::WrongWorld(format!("{e:#}")))?;
        WarrenActorPre::new(instance_pre).map_err(|e| LoadError::WrongWorld(format!("{e:#}")))
    }

    /// A store for one instance, sandboxed: no files, no sockets, no environment;
    /// output goes to `tracing` tagged with `label`.
    fn store(
        &self,
        label: &str,
        turn: Option<TurnHost>,
        deadline: Instant,
        memory_bytes: usize,
        fuel: Option<u64>,
    ) -> Store<HostState> {
        let (stdout, stderr) = GuestOutput::pair(label);
        let output = stdout.clone();
        let wasi = WasiCtxBuilder::new()
            .stdout(stdout)
            .stderr(stderr)
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        let mut store = Store::new(
            &self.engine,
            HostState {
                wasi,
                table: ResourceTable::new(),
                limiter: MemoryLimiter::new(memory_bytes.min(self.config.max_memory_bytes)),
                config: host::config_variables(turn.as_ref().and_then(|t| t.config.as_deref())),
                http: wasmtime_wasi_http::WasiHttpCtx::new(),
                egress: egress::EgressHooks::new(
                    self.egress.clone(),
                    turn.as_ref().map(TurnHost::egress),
                ),
                turn,
                deadline,
                output,
            },
        );
        store.limiter(|s| &mut s.limiter);
        if self.config.fuel {
            // Stores start without fuel; an unlimited tenant gets all there is.
            let _ = store.set_fuel(fuel.unwrap_or(u64::MAX));
        }
        // Yield to other tasks every tick; trap once the deadline has passed.
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(|ctx| {
            if Instant::now() >= ctx.data().deadline {
                Err(wasmtime::Error::msg("deadline exceeded"))
            } else {
                Ok(wasmtime::UpdateDeadline::Yield(1))
            }
        });
        store
    }

    async fn describe(&self, component: &WasmComponent) -> Result<Manifest, LoadError> {
        let deadline = Instant::now() + DESCRIBE_DEADLINE;
        let mut store = self.store("describe", None, deadline, 64 << 20, None);
        let run = async {
            let (actor, raw) = component.instantiate(&mut store).await?;
            // A malformed `on-upgrade` is refused now, not at some actor's first turn.
            if let Some(index) = &component.on_upgrade {
                let _: OnUpgrade = raw
                    .get_typed_func(&mut store, index)
                    .map_err(|e| e.context("its `on-upgrade` export has the wrong type"))?;
            }
            let manifest = actor.warren_actor_actor().call_describe(&mut store).await?;
            let chosen = match &component.instance_strategies {
                Some(index) => {
                    let strategies: instances::InstanceStrategies = raw
                        .get_typed_func(&mut store, index)
                        .map_err(|e| e.context("its `instances` export has the wrong type"))?;
                    strategies.call_async(&mut store, ()).await?.0
                }
                None => Vec::new(),
            };
            Ok::<_, wasmtime::Error>((manifest, chosen))
        };
        let (manifest, chosen) = tokio::time::timeout_at(deadline.into(), run)
            .await
            .map_err(|_| LoadError::Describe("did not return within 5 s".into()))?
            .map_err(|e| LoadError::Describe(format!("{e:#}")))?;
        let mut manifest = manifest::from_wit(manifest).map_err(LoadError::Manifest)?;
        instances::apply(&mut manifest, chosen).map_err(LoadError::Manifest)?;
        Ok(manifest)
    }
}

impl ComponentLoader for WasmEngine {
    fn load(
        self: Arc<Self>,
        wasm: Arc<Vec<u8>>,
    ) -> BackendFuture<'static, Result<LoadedComponent, LoadError>> {
        Box::pin(async move {
            let (component, manifest) = self.load_component(wasm).await?;
            Ok(LoadedComponent {
                sha256: component.sha256.clone(),
                size: component.size,
                backend: Arc::new(component),
                manifest,
            })
        })
    }

    fn cache_counts(&self) -> (u64, u64) {
        WasmEngine::cache_counts(self)
    }

    fn kept(&self) -> KeptUsage {
        self.kept.usage()
    }

    fn kept_by(&self, tenant: &str) -> TenantKept {
        self.kept.usage_of(tenant)
    }
}

impl WasmComponent {
    /// A new instance of the component, typed and untyped.
    async fn instantiate(
        &self,
        store: &mut Store<HostState>,
    ) -> wasmtime::Result<(WarrenActor, Instance)> {
        let raw = self
            .code
            .pre
            .instance_pre()
            .instantiate_async(&mut *store)
            .await?;
        let actor = WarrenActor::new(&mut *store, &raw)?;
        Ok((actor, raw))
    }
}

impl ActorBackend for WasmComponent {
    fn run_turn<'a>(&'a self, turn: Turn<'a>) -> BackendFuture<'a, TurnOutcome> {
        Box::pin(async move {
            self.engine
                .run_turn(
                    self,
                    turn.runtime.clone(),
                    turn.state,
                    turn.invocation,
                    TurnSetting {
                        limits: turn.limits,
                        cache: Some(turn.cache),
                        config: turn.config,
                        egress: turn.egress,
                    },
                )
                .await
        })
    }
}
