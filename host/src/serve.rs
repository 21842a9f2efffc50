//! `warren serve`: open the store, build the engine, load components, serve HTTP.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use warren_host::api::listener::{self, ConnectionLimits};
use warren_host::api::opaca::platform::{OpacaConfig, Platform};
use warren_host::api::{AuthConfig, HttpConfig};
use warren_host::backends::dapr_app::AppChannel;
use warren_host::cluster::{Cluster, ClusterConfig, ClusterService};
use warren_host::runtime::tenants::Limits;
use warren_host::runtime::{DEFAULT_TENANT, Runtime, RuntimeConfig};
use warren_host::store::{Durability, PostgresStore, SledStore, StateStore, faults};
use warren_host::wasm::{WasmConfig, WasmEngine, sha256_hex};

/// Options of `warren serve`.
#[derive(clap::Args)]
pub struct ServeArgs {
    /// Where state, components and compiled artifacts live.
    #[arg(long, default_value = "./warren-data", env = "WARREN_DATA_DIR")]
    data_dir: PathBuf,
    /// Address of the HTTP listener (Dapr actor API and admin API).
    #[arg(long, default_value = "127.0.0.1:3500", env = "WARREN_HTTP")]
    http: SocketAddr,
    /// Address of the gRPC listener (Dapr's `dapr.proto.runtime.v1.Dapr` actor RPCs and the
    /// actor streams).
    #[arg(long, default_value = warren_host::api::dapr_grpc::DEFAULT_ADDR, env = "WARREN_GRPC")]
    grpc: SocketAddr,
    /// Deploy this component into the default tenant at start (repeatable).
    #[arg(long = "deploy", value_name = "FILE.wasm")]
    deploy: Vec<PathBuf>,
    /// Join a cluster whose hosts share this PostgreSQL database
    /// (`postgres://USER:PASSWORD@HOST:PORT/DB`): actor state, reminders, tenants and
    /// components then live there, and the data dir keeps only compiled artifacts.
    #[arg(
        long = "cluster",
        env = "WARREN_DATABASE_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    cluster: Option<String>,
    /// Address of the host-to-host listener (cluster mode).
    #[arg(long, default_value = "127.0.0.1:3800", env = "WARREN_CLUSTER_LISTEN")]
    cluster_listen: SocketAddr,
    /// The URL the other hosts reach this one's host-to-host listener at; by default the
    /// listener's address.
    #[arg(long, env = "WARREN_CLUSTER_ADVERTISE")]
    cluster_advertise: Option<String>,
    /// Secret every host of the cluster shares (16 characters at least); host-to-host
    /// calls without it are refused.
    #[arg(long, env = "WARREN_CLUSTER_SECRET", hide_env_values = true)]
    cluster_secret: Option<String>,
    /// How often a cluster host heartbeats and reads the partition table.
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    heartbeat: Duration,
    /// A cluster host silent this long is declared dead; its actors move to the others.
    #[arg(long, default_value = "3s", value_parser = humantime::parse_duration)]
    host_timeout: Duration,
    /// Export trace spans (one per protocol request, one per turn) to this OpenTelemetry
    /// collector over OTLP/gRPC, e.g. `http://127.0.0.1:4317`. Off by default; a caller's
    /// `traceparent` is carried through either way.
    #[arg(long, env = "WARREN_OTLP_ENDPOINT", value_name = "URL")]
    otlp_endpoint: Option<String>,
    /// The share (0 to 1) of the traces starting at this host whose spans are exported; a
    /// request whose `traceparent` arrives keeps its caller's sampled flag.
    #[arg(long, default_value_t = 1.0, env = "WARREN_TRACE_SAMPLE_RATIO", value_parser = sample_ratio)]
    trace_sample_ratio: f64,
    /// A request's headers must arrive within this long of the connection's start or of
    /// its previous request, or the connection is closed (a client trickling them, or one
    /// that sends nothing, holds no connection for long). HTTP and OPACA listeners; the
    /// gRPC listener closes a connection that sends nothing for this long.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    header_read_timeout: Duration,
    /// Largest request head (request line and headers) in bytes; a larger one is answered
    /// 431 (HTTP and OPACA listeners), or refused by HTTP/2 (gRPC: its header list).
    #[arg(long, default_value_t = 64 << 10)]
    max_header_bytes: usize,
    /// Connections each listener (HTTP, OPACA, gRPC) keeps open at once; more wait to be
    /// accepted.
    #[arg(long, default_value_t = 10_000)]
    max_connections: usize,
    /// Count nothing: `/metrics` answers 404 and the console shows no charts. For
    /// measuring what counting costs; on by default.
    #[arg(long)]
    no_metrics: bool,
    /// `text` for people, `json` (one object per line) for log collectors.
    #[arg(long, value_enum, default_value = "text", env = "WARREN_LOG_FORMAT")]
    log_format: LogFormat,
    /// `sync`: a turn is acknowledged once on disk; `relaxed`: flushed periodically.
    /// (Cluster mode commits every turn to PostgreSQL before acknowledging it.)
    #[arg(long, default_value = "sync")]
    durability: Durability,
    /// Deactivate an actor after this long without a turn (e.g. `60m`, `30s`).
    #[arg(long, default_value = "60m", value_parser = humantime::parse_duration)]
    idle_timeout: Duration,
    /// Default wall-clock deadline of a request, including the turns it waits for.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    turn_timeout: Duration,
    /// Meter fuel so tenants can cap a turn's instructions (`fuel_per_turn`); slows guests.
    #[arg(long)]
    enable_fuel: bool,
    /// Keep Wasm instances warm between turns instead of a fresh one per turn: faster, but
    /// a guest's memory can then carry data from one actor's turn to the next.
    #[arg(long)]
    reuse_instances: bool,
    /// Active actors that may keep their Wasm instance between their own turns (at most half
    /// of --max-instances). A kept instance serves only its actor; 0 gives every turn a
    /// fresh instance.
    #[arg(long, default_value_t = 500)]
    pinned_instances: usize,
    /// A Wasm instance whose linear memory grew past this many MiB (or past half its
    /// tenant's memory limit) is not kept for its actor. Python and JavaScript guests
    /// carry an interpreter heap of about 20 MiB: raise it (32) to keep theirs, for turns
    /// 25-60 times faster (benches/RESULTS.md); memory then grows by that much per active
    /// actor, up to --pinned-instances.
    #[arg(long, default_value_t = 8)]
    pinned_max_memory_mib: usize,
    /// Token for the admin API across all tenants. Without it the admin API is open.
    #[arg(long, env = "WARREN_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// Wasm instances that may exist at once.
    #[arg(long, default_value_t = 1000)]
    max_instances: u32,
    /// Default linear memory limit of one Wasm instance, in MiB.
    #[arg(long, default_value_t = 64)]
    max_memory_mib: usize,
    /// Overdue reminders (after downtime) fire at most this many per second.
    #[arg(long, default_value_t = 500)]
    reminder_backlog_rate: u32,
    /// Timer and reminder firings that may run as turns at once; more wait their turn.
    #[arg(long, default_value_t = 1000)]
    max_firing_turns: usize,
    /// Require this token in the `dapr-api-token` header of every request.
    #[arg(long, env = "DAPR_API_TOKEN", hide_env_values = true)]
    api_token: Option<String>,
    /// The app id reported to Dapr clients, and sent to an app-hosted actor app.
    #[arg(long, default_value = "warren")]
    app_id: String,
    /// Host the actor types of the Dapr app listening on this port (app-callback mode).
    #[arg(long)]
    app_port: Option<u16>,
    /// Address of that app.
    #[arg(long, default_value = "127.0.0.1")]
    app_address: String,
    /// Base URL of the Spawn SDK user function that Spawn registrations call back
    /// (Spawn's `USER_FUNCTION_HOST`/`USER_FUNCTION_PORT`).
    #[arg(long, env = "WARREN_SPAWN_USER_FUNCTION", default_value = warren_host::api::spawn::DEFAULT_USER_FUNCTION)]
    spawn_user_function: String,
    /// Token sent to the app as `dapr-api-token` on every callback.
    #[arg(long, env = "APP_API_TOKEN", hide_env_values = true)]
    app_api_token: Option<String>,
    /// Address of the OPACA runtime-platform API.
    #[arg(long, env = "WARREN_OPACA", default_value = warren_host::api::opaca::DEFAULT_ADDR)]
    opaca: SocketAddr,
    /// The OPACA platform's public base URL (OPACA's `PUBLIC_URL`); by default its
    /// listener's address.
    #[arg(long, env = "WARREN_OPACA_PUBLIC_URL")]
    opaca_public_url: Option<String>,
    /// Require a token on every OPACA route but `/login` (OPACA's `REQUIRE_AUTH`).
    #[arg(long)]
    opaca_require_auth: bool,
    /// Answer CORS requests (preflights included) on the OPACA API from this origin, e.g.
    /// `https://ui.example`; repeatable. Without one, no origin is granted.
    #[arg(long = "opaca-cors-origin", value_name = "ORIGIN")]
    opaca_cors_origins: Vec<String>,
    /// The OPACA platform admin's username.
    #[arg(long, default_value = "admin")]
    opaca_admin_user: String,
    /// The OPACA platform admin's password.
    #[arg(
        long,
        env = "WARREN_OPACA_ADMIN_PASSWORD",
        default_value = "admin",
        hide_env_values = true
    )]
    opaca_admin_password: String,
    /// Secret that signs OPACA tokens; random per start when absent (tokens then die
    /// with the process).
    #[arg(long, env = "WARREN_OPACA_SECRET", hide_env_values = true)]
    opaca_secret: Option<String>,
    /// An OPACA image run as a process: `NAME=COMMAND` (the command runs with `sh -c`).
    /// Repeatable.
    #[arg(long = "opaca-image", value_parser = parse_image)]
    opaca_images: Vec<(String, String)>,
    /// OPACA process containers that may run at once, across tenants.
    #[arg(long, default_value_t = 16)]
    opaca_max_processes: usize,
}

/// The URL a listener is reached at; a wildcard address means this host, on loopback.
fn base_url(mut addr: SocketAddr) -> String {
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    format!("http://{addr}")
}

fn parse_image(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, command)) if !name.trim().is_empty() && !command.trim().is_empty() => {
            Ok((name.trim().to_string(), command.trim().to_string()))
        }
        _ => Err(format!("{text:?} is not NAME=COMMAND")),
    }
}

/// How the host writes its log.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

fn init_logging(format: LogFormat) {
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let logs = tracing_subscriber::fmt().with_env_filter(filter);
    match format {
        LogFormat::Text => logs
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
            .init(),
        // Fields at the top level, so collectors index `actor`, `tenant`, ... directly.
        LogFormat::Json => logs.json().flatten_event(true).init(),
    }
}

/// A sampling ratio: a number from 0 to 1.
fn sample_ratio(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(ratio) if (0.0..=1.0).contains(&ratio) => Ok(ratio),
        _ => Err(format!("{text:?} is not a number from 0 to 1")),
    }
}

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    init_logging(args.log_format);
    configure_failpoints()?;

    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("cannot create data dir {}", args.data_dir.display()))?;
    let store = open_store(&args).await?;
    let wasm = WasmEngine::new(
        WasmConfig {
            max_instances: args.max_instances,
            fuel: args.enable_fuel,
            reuse_instances: args.reuse_instances,
            pinned_instances: args.pinned_instances,
            pinned_max_memory_bytes: args.pinned_max_memory_mib.saturating_mul(1 << 20),
            ..WasmConfig::default()
        },
        &args.data_dir.join("artifacts"),
    )?;
    let (exporter, spans) = match &args.otlp_endpoint {
        Some(endpoint) => {
            let instance = args.http.to_string();
            let (exporter, spans) =
                warren_host::otlp::Exporter::start(endpoint, &instance, args.trace_sample_ratio)?;
            tracing::info!(endpoint, "exporting trace spans over OTLP");
            (Some(exporter), spans)
        }
        None => (None, Default::default()),
    };
    let runtime = Runtime::new(
        RuntimeConfig {
            tracing: spans,
            metrics: !args.no_metrics,
            idle_timeout: args.idle_timeout,
            reminder_backlog_rate: args.reminder_backlog_rate,
            max_firing_turns: args.max_firing_turns,
            limits: Limits {
                max_memory_bytes: (args.max_memory_mib as u64) << 20,
                turn_timeout_ms: args.turn_timeout.as_millis() as u64,
                ..Limits::default()
            },
        },
        store.state_store(),
        wasm,
    );
    runtime.load_tenants().await?;
    runtime.load_stored_components().await?;
    for path in &args.deploy {
        deploy_file(&runtime, path).await?;
    }
    let listener = tokio::net::TcpListener::bind(args.http)
        .await
        .with_context(|| format!("cannot listen on {}", args.http))?;
    let grpc_listener = tokio::net::TcpListener::bind(args.grpc)
        .await
        .with_context(|| format!("cannot listen on {} for gRPC", args.grpc))?;
    let opaca_listener = tokio::net::TcpListener::bind(args.opaca)
        .await
        .with_context(|| format!("cannot listen on {} for OPACA", args.opaca))?;
    let platform = Platform::new(
        runtime.clone(),
        OpacaConfig {
            public_url: args.opaca_public_url.clone(),
            require_auth: args.opaca_require_auth,
            admin_user: args.opaca_admin_user.clone(),
            admin_password: args.opaca_admin_password.clone(),
            secret: opaca_secret(&args),
            images: args.opaca_images.iter().cloned().collect(),
            max_processes: args.opaca_max_processes,
            cors_origins: args.opaca_cors_origins.clone(),
            shared: matches!(store, Store::Cluster(_)),
        },
        base_url(opaca_listener.local_addr()?),
    );
    // Wasm agents call the platform through the runtime (`warren:actor/platform`).
    runtime.set_agent_platform(std::sync::Arc::new(
        warren_host::api::opaca::agent_calls::AgentCalls::new(&platform),
    ));
    let http = HttpConfig {
        auth: AuthConfig {
            admin_token: args.admin_token.clone(),
            api_token: args.api_token.clone(),
        },
        app_id: args.app_id.clone(),
        spawn_user_function: args.spawn_user_function.clone(),
    };
    let app = warren_host::api::router(runtime.clone(), http.clone());
    // What this host (or, in a cluster, any host) recorded before: Spawn registrations,
    // OPACA's Wasm containers.
    let restored = runtime
        .follow_records()
        .await
        .context("cannot read the stored registrations")?;
    if restored > 0 {
        tracing::info!(restored, "registrations restored from the store");
    }
    // Joined only now, when every registered type is hosted here: a partition this host
    // takes is served at once, forwards and firings included. Before reminders are
    // read: in a cluster, only the partitions this host holds fire.
    let cluster = match &store {
        Store::Cluster(pg) => Some(join_cluster(&args, &runtime, pg).await?),
        Store::Sled(_) => None,
    };
    let reminders = runtime.load_reminders().await?;
    if let Some(port) = args.app_port {
        let url = format!("http://{}:{port}", args.app_address);
        let app = AppChannel::new(&url, &args.app_id, args.app_api_token.clone())?;
        tokio::spawn(connect_app(runtime.clone(), Arc::new(app)));
    }
    if args.opaca_require_auth && args.opaca_admin_password == "admin" {
        tracing::warn!(
            "OPACA requires login, but its admin password is the default; set --opaca-admin-password"
        );
    }
    tracing::info!(
        http = %listener.local_addr()?,
        grpc = %grpc_listener.local_addr()?,
        opaca = %opaca_listener.local_addr()?,
        data_dir = %args.data_dir.display(),
        store = %store.describe(),
        reminders,
        "warren is serving"
    );
    let limits = ConnectionLimits {
        header_read_timeout: args.header_read_timeout,
        max_header_bytes: args.max_header_bytes,
        max_connections: args.max_connections,
    };
    let (stop, stopped) = tokio::sync::watch::channel(false);
    // Set while a cluster host hands its partitions over: HTTP/1 clients are told to
    // close their connections after each answer, so few are open when it stops listening.
    let closing = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut dapr_http = tokio::spawn(listener::serve(
        listener,
        listener::closing_connections(app, closing.clone()),
        limits.clone(),
        wait_for(stopped.clone()),
    ));
    let grpc = tokio::spawn({
        let serving = warren_host::api::dapr_grpc::serve(
            runtime.clone(),
            http.auth.clone(),
            grpc_listener,
            limits.clone(),
            wait_for(stopped.clone()),
        );
        async move {
            if let Err(e) = serving.await {
                tracing::error!(error = %e, "the gRPC listener failed");
            }
        }
    });
    let opaca = tokio::spawn(listener::serve(
        opaca_listener,
        listener::closing_connections(
            warren_host::api::observed(
                warren_host::api::opaca::router(platform.clone()),
                &runtime,
                "opaca",
            ),
            closing.clone(),
        ),
        limits,
        wait_for(stopped.clone()),
    ));
    let http_ended = tokio::select! {
        () = shutdown_signal() => false,
        _ = &mut dapr_http => true,
    };
    if let Some(cluster) = &cluster
        && !http_ended
    {
        hand_over(cluster, &closing, args.host_timeout * 3).await;
    }
    let _ = stop.send(true);
    if !http_ended {
        let _ = dapr_http.await;
    }
    let _ = tokio::time::timeout(Duration::from_secs(2), opaca).await;
    platform.stop_all().await;
    runtime.shutdown().await;
    if let Some(mut cluster) = cluster {
        if let Err(e) = cluster.member.leave().await {
            tracing::error!(error = %e, "leaving the cluster failed; the others will declare this host dead");
        }
        let _ = cluster.stop.send(true);
        let _ = tokio::time::timeout(Duration::from_secs(2), &mut cluster.serving).await;
    }
    // Open actor streams end with the process; the gRPC server does not wait for them.
    let _ = tokio::time::timeout(Duration::from_secs(2), grpc).await;
    store.state_store().flush().await?;
    if let Some(exporter) = exporter {
        exporter.shutdown().await;
    }
    tracing::info!("stopped");
    Ok(())
}

/// The store a host runs on: sled in the data dir, or a cluster's PostgreSQL database.
enum Store {
    Sled(Arc<SledStore>),
    Cluster(Arc<PostgresStore>),
}

impl Store {
    fn state_store(&self) -> Arc<dyn StateStore> {
        match self {
            Store::Sled(s) => s.clone(),
            Store::Cluster(s) => s.clone(),
        }
    }

    fn describe(&self) -> String {
        match self {
            Store::Sled(s) => format!("sled ({:?})", s.durability()).to_lowercase(),
            Store::Cluster(_) => "postgresql (cluster)".into(),
        }
    }
}

/// The store's failpoints from `FAILPOINTS`, in a build that has them (tests); elsewhere
/// the variable is refused rather than silently ignored.
fn configure_failpoints() -> anyhow::Result<()> {
    let Ok(spec) = std::env::var("FAILPOINTS") else {
        return Ok(());
    };
    if !faults::COMPILED_IN {
        anyhow::bail!("FAILPOINTS is set, but this build has no failpoints (feature `failpoints`)");
    }
    let set = faults::configure(&spec).map_err(anyhow::Error::msg)?;
    tracing::warn!(failpoints = %spec, set, "store failpoints configured: faults will be injected");
    Ok(())
}

async fn open_store(args: &ServeArgs) -> anyhow::Result<Store> {
    let Some(url) = &args.cluster else {
        let store = SledStore::open(&args.data_dir.join("store"), args.durability)
            .with_context(|| format!("cannot open the store in {}", args.data_dir.display()))?;
        return Ok(Store::Sled(store));
    };
    let secret = args.cluster_secret.as_deref().unwrap_or_default();
    anyhow::ensure!(
        !secret.is_empty(),
        "cluster mode needs --cluster-secret (or WARREN_CLUSTER_SECRET), shared by every host"
    );
    warren_host::cluster::check_secret(secret)?;
    let config: tokio_postgres::Config = url
        .parse()
        .context("--cluster is not a PostgreSQL URL (postgres://USER:PASSWORD@HOST:PORT/DB)")?;
    let store = PostgresStore::connect_config(config)
        .await
        .context("cannot open the cluster database")?;
    Ok(Store::Cluster(store))
}

/// A joined cluster and its host-to-host listener.
struct Joined {
    member: Cluster,
    stop: tokio::sync::watch::Sender<bool>,
    serving: tokio::task::JoinHandle<()>,
}

async fn join_cluster(
    args: &ServeArgs,
    runtime: &Runtime,
    store: &Arc<PostgresStore>,
) -> anyhow::Result<Joined> {
    let listener = tokio::net::TcpListener::bind(args.cluster_listen)
        .await
        .with_context(|| format!("cannot listen on {} for the cluster", args.cluster_listen))?;
    let address = match &args.cluster_advertise {
        Some(url) => url.clone(),
        None => base_url(listener.local_addr()?),
    };
    let secret = args.cluster_secret.clone().unwrap_or_default();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    // Serving first: the other hosts forward here as soon as this host holds partitions.
    let serving = tokio::spawn({
        let serving = warren_host::cluster::serve(
            ClusterService::new(runtime.clone(), &secret),
            listener,
            wait_for(stopped),
        );
        async move {
            if let Err(e) = serving.await {
                tracing::error!(error = %e, "the cluster listener failed");
            }
        }
    });
    let member = Cluster::join(
        ClusterConfig {
            host_id: format!("host-{}", uuid::Uuid::new_v4().simple()),
            address,
            secret,
            heartbeat: args.heartbeat,
            host_timeout: args.host_timeout,
        },
        runtime,
        store,
    )
    .await
    .context("cannot join the cluster")?;
    Ok(Joined {
        member,
        stop,
        serving,
    })
}

/// Read the app's `/dapr/config` (retrying until the app is up) and host its actor types.
async fn connect_app(runtime: Runtime, app: Arc<AppChannel>) {
    let mut warned = false;
    loop {
        match app.manifest().await {
            Ok(manifest) => {
                match runtime.register_external(DEFAULT_TENANT, manifest, app.clone()) {
                    Ok(info) => {
                        tracing::info!(types = ?info.actor_types, "hosting the app's actor types")
                    }
                    Err(e) => tracing::error!(error = %e, "cannot host the app's actor types"),
                }
                return;
            }
            Err(e) => {
                if !warned {
                    tracing::warn!(error = %e, "app not ready; retrying");
                    warned = true;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
}

/// Deploy a file named on the command line, unless the same bytes already run under the
/// same name (the usual case on a restart).
async fn deploy_file(runtime: &Runtime, path: &PathBuf) -> anyhow::Result<()> {
    let wasm = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let sha = sha256_hex(&wasm);
    if let Some(c) = runtime
        .components(DEFAULT_TENANT)
        .into_iter()
        .find(|c| c.sha256 == sha)
    {
        tracing::info!(path = %path.display(), name = %c.name, "already deployed");
        return Ok(());
    }
    let info = runtime
        .deploy(
            DEFAULT_TENANT,
            None,
            wasm,
            warren_host::runtime::DeployOptions {
                deployed_by: format!("--deploy {}", path.display()),
                ..Default::default()
            },
        )
        .await
        .with_context(|| format!("cannot deploy {}", path.display()))?;
    tracing::info!(path = %path.display(), name = %info.name, types = ?info.actor_types, "deployed from the command line");
    Ok(())
}

/// The OPACA token secret: the one given, or in a cluster one derived from the cluster
/// secret (so a token from one host is good on every host); none otherwise (random per
/// start).
fn opaca_secret(args: &ServeArgs) -> Option<String> {
    use sha2::Digest;
    if args.opaca_secret.is_some() || args.cluster.is_none() {
        return args.opaca_secret.clone();
    }
    let secret = args.cluster_secret.as_deref().unwrap_or_default();
    Some(hex::encode(sha2::Sha256::digest(
        format!("warren opaca tokens:{secret}").as_bytes(),
    )))
}

/// The first step of a clean leave: hand the partitions over (at most `within`) while
/// every listener still serves, so what arrives meanwhile is forwarded to the new owners;
/// HTTP/1 answers say `Connection: close` meanwhile. The listeners stop after it.
async fn hand_over(cluster: &Joined, closing: &std::sync::atomic::AtomicBool, within: Duration) {
    closing.store(true, std::sync::atomic::Ordering::Release);
    let started = std::time::Instant::now();
    let handed = cluster.member.hand_over(within).await;
    tracing::info!(
        handed_over = handed,
        took_ms = started.elapsed().as_millis() as u64,
        "partitions handed over"
    );
}

/// Resolves once `stopped` turns true (or its sender is gone).
async fn wait_for(mut stopped: tokio::sync::watch::Receiver<bool>) {
    let _ = stopped.wait_for(|s| *s).await;
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
