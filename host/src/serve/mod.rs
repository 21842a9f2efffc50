//! `warren serve`: open the store, build the engine, load components, and serve the
//! host's own API and every enabled protocol.

mod args;
mod cluster;
mod store;
mod tls;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::Context;
use warren_dapr::Dapr;
use warren_host::api;
use warren_host::otlp::Exporter;
use warren_host::runtime::tenants::Limits;
use warren_host::runtime::trace::Tracing;
use warren_host::runtime::{DEFAULT_TENANT, Runtime, RuntimeConfig};
use warren_host::wasm::{
    CompileLimits, Compiler, EgressSettings, WasmConfig, WasmEngine, sha256_hex,
};
use warren_opaca::Opaca;
use warren_protocol::listener::{self, ConnectionLimits};
use warren_protocol::{AuthConfig, Host, ListenerTls, Protocol};
use warren_spawn::Spawn;

pub use args::ServeArgs;

/// The main HTTP listener's name, in the log and for its own TLS certificate.
const HTTP_LISTENER: &str = "http";
use args::{LogFormat, ProtocolName};
use store::Store;

/// The protocols a host can speak, as `--protocols` enables them: adding a protocol adds
/// its crate's line here (and its flags to [`ServeArgs`]).
fn protocols(args: &ServeArgs) -> Vec<Box<dyn Protocol>> {
    let mut enabled: Vec<ProtocolName> = Vec::new();
    for name in &args.protocols {
        if !enabled.contains(name) {
            enabled.push(*name);
        }
    }
    enabled
        .into_iter()
        .map(|name| -> Box<dyn Protocol> {
            match name {
                ProtocolName::Dapr => Box::new(Dapr::new(args.dapr.clone())),
                ProtocolName::Spawn => Box::new(Spawn::new(args.spawn.clone())),
                ProtocolName::Opaca => Box::new(Opaca::new(args.opaca.clone())),
            }
        })
        .collect()
}

/// Run the host until a shutdown signal (or its main listener failing).
pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    init_logging(args.log_format);
    store::configure_failpoints()?;
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("cannot create data dir {}", args.data_dir.display()))?;
    let store = store::open_store(&args).await?;
    let (exporter, spans) = start_export(&args)?;
    let runtime = start_runtime(&args, &store, spans).await?;
    let main = tokio::net::TcpListener::bind(args.http)
        .await
        .with_context(|| format!("cannot listen on {}", args.http))?;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let tls = tls::server_tls(&args, &stopped)?;
    let host = Host {
        runtime: runtime.clone(),
        auth: AuthConfig {
            admin_token: args.admin_token.clone(),
            api_token: args.api_token.clone(),
        },
        limits: ConnectionLimits {
            header_read_timeout: args.header_read_timeout,
            max_header_bytes: args.max_header_bytes,
            max_connections: args.max_connections,
        },
        // Set while a cluster host hands its partitions over: HTTP/1 clients are told to
        // close their connections after each answer, so few are open when it stops
        // listening.
        closing: Arc::new(AtomicBool::new(false)),
        stopped,
        clustered: args.cluster.is_some(),
        cluster_secret: args
            .cluster
            .as_ref()
            .and(args.cluster_secret.clone())
            .filter(|secret| !secret.is_empty()),
        tls,
    };
    let mut protocols = protocols(&args);
    let mut routes = Vec::new();
    for protocol in &mut protocols {
        let prepared = protocol.prepare(&host).await;
        routes.extend(prepared.with_context(|| format!("cannot start {}", protocol.name()))?);
    }
    let app = api::router(runtime.clone(), host.auth.clone(), routes);
    let cluster = join(&args, &runtime, &store).await?;
    let reminders = runtime.load_reminders().await?;
    for protocol in &mut protocols {
        let started = protocol.start(&host).await;
        started.with_context(|| format!("cannot start {}", protocol.name()))?;
    }
    announce(&main, &protocols, &args, &store, reminders, &host.tls)?;
    let mut serving = tokio::spawn(listener::serve(
        main,
        listener::closing_connections(app, host.closing.clone()),
        host.limits.clone(),
        host.tls.of(HTTP_LISTENER),
        host.shutdown(),
    ));
    let main_ended = tokio::select! {
        () = shutdown_signal() => false,
        _ = &mut serving => true,
    };
    if let Some(cluster) = &cluster
        && !main_ended
    {
        cluster::hand_over(cluster, &host.closing, args.host_timeout * 3).await;
    }
    let _ = stop.send(true);
    if !main_ended {
        let _ = serving.await;
    }
    stop_everything(protocols, &runtime, cluster, &store).await?;
    if let Some(exporter) = exporter {
        exporter.shutdown().await;
    }
    tracing::info!("stopped");
    Ok(())
}

/// The OTLP exporter of `--otlp-endpoint` and the tracing it records into; none (and
/// tracing that only carries callers' traces on) without one.
fn start_export(args: &ServeArgs) -> anyhow::Result<(Option<Exporter>, Tracing)> {
    let Some(endpoint) = &args.otlp_endpoint else {
        return Ok((None, Tracing::default()));
    };
    let instance = args.http.to_string();
    let (exporter, spans) = Exporter::start(
        endpoint,
        args.otlp_ca_cert.as_deref(),
        &instance,
        args.trace_sample_ratio,
    )?;
    tracing::info!(endpoint, "exporting trace spans over OTLP");
    Ok((Some(exporter), spans))
}

/// Once no listener takes new work: each protocol stops (OPACA ends its processes), the
/// runtime shuts down (the turns running finish and commit), the host leaves its
/// cluster, each protocol's listeners close, and the store flushes.
async fn stop_everything(
    mut protocols: Vec<Box<dyn Protocol>>,
    runtime: &Runtime,
    cluster: Option<cluster::Joined>,
    store: &Store,
) -> anyhow::Result<()> {
    for protocol in &mut protocols {
        protocol.stop().await;
    }
    runtime.shutdown().await;
    if let Some(cluster) = cluster {
        cluster.leave().await;
    }
    for protocol in &mut protocols {
        protocol.finish().await;
    }
    store.state_store().flush().await?;
    Ok(())
}

/// The runtime on `store`, with the Wasm engine, the tenants and the components the
/// store holds, and the components `--deploy` names.
async fn start_runtime(
    args: &ServeArgs,
    store: &Store,
    spans: warren_host::runtime::trace::Tracing,
) -> anyhow::Result<Runtime> {
    let wasm = WasmEngine::new(
        WasmConfig {
            max_instances: args.max_instances,
            fuel: args.enable_fuel,
            reuse_instances: args.reuse_instances,
            pinned_instances: args.pinned_instances,
            kept_memory_bytes: args.kept_memory_mib.saturating_mul(1 << 20),
            egress: EgressSettings {
                resolve: args.egress_resolve.iter().cloned().collect(),
                extra_roots: args.egress_ca.clone(),
            },
            compiler: Compiler::Child {
                program: std::env::current_exe().context("cannot find the warren binary")?,
                limits: CompileLimits {
                    memory_bytes: args.compile_memory_mib.saturating_mul(1 << 20),
                    cpu_seconds: args.compile_cpu_seconds,
                    output_bytes: args.compile_output_mib.saturating_mul(1 << 20),
                },
            },
            compile_jobs: args
                .compile_jobs
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get())),
            ..WasmConfig::default()
        },
        &args.data_dir.join("artifacts"),
    )?;
    let runtime = Runtime::new(
        RuntimeConfig {
            tracing: spans,
            metrics: !args.no_metrics,
            idle_timeout: args.idle_timeout,
            reminder_backlog_rate: args.reminder_backlog_rate,
            max_firing_turns: args.max_firing_turns,
            limits: Limits {
                max_memory_bytes: (args.max_memory_mib as u64) << 20,
                max_kept_memory_bytes: args.tenant_kept_memory_mib.saturating_mul(1 << 20),
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
    Ok(runtime)
}

/// Restore what this host (or, in a cluster, any host) recorded before (Spawn
/// registrations, OPACA's Wasm containers), then join the cluster if there is one.
async fn join(
    args: &ServeArgs,
    runtime: &Runtime,
    store: &Store,
) -> anyhow::Result<Option<cluster::Joined>> {
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
    match store {
        Store::Cluster(pg) => Ok(Some(cluster::join_cluster(args, runtime, pg).await?)),
        Store::Sled(_) => Ok(None),
    }
}

/// Log every listener's address, then that the host serves.
fn announce(
    main: &tokio::net::TcpListener,
    protocols: &[Box<dyn Protocol>],
    args: &ServeArgs,
    store: &Store,
    reminders: usize,
    tls: &ListenerTls,
) -> anyhow::Result<()> {
    let http = main.local_addr()?;
    let http_tls = tls.of(HTTP_LISTENER).is_some();
    tracing::info!(listener = %HTTP_LISTENER, address = %http, tls = http_tls, "listening");
    let mut listening = vec![(HTTP_LISTENER, http, http_tls)];
    for protocol in protocols {
        for listener in protocol.listening() {
            let speaks_tls = tls.of(listener.name).is_some();
            tracing::info!(
                listener = %listener.name,
                address = %listener.address,
                protocol = %protocol.name(),
                tls = speaks_tls,
                "listening"
            );
            listening.push((listener.name, listener.address, speaks_tls));
        }
    }
    tls::warn_plaintext(&listening);
    tracing::info!(
        http = %http,
        data_dir = %args.data_dir.display(),
        store = %store.describe(),
        reminders,
        "warren is serving"
    );
    Ok(())
}

/// Resolves once `stopped` turns true (or its sender is gone).
async fn wait_for(mut stopped: tokio::sync::watch::Receiver<bool>) {
    let _ = stopped.wait_for(|s| *s).await;
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
