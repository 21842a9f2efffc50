//! The flags of `warren serve`: the host's own, and each protocol's, flattened in.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use warren_dapr::DaprFlags;
use warren_host::store::Durability;
use warren_opaca::OpacaFlags;
use warren_spawn::SpawnFlags;

/// A protocol `warren serve` can speak (`--protocols`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ProtocolName {
    /// Dapr's actor API: HTTP on the main listener, gRPC on `--grpc`.
    Dapr,
    /// The Spawn proxy protocol, on the main listener.
    Spawn,
    /// The OPACA runtime-platform API, on `--opaca`.
    Opaca,
}

/// Options of `warren serve`.
#[derive(clap::Args)]
pub struct ServeArgs {
    /// Where state, components and compiled artifacts live.
    #[arg(long, default_value = "./warren-data", env = "WARREN_DATA_DIR")]
    pub data_dir: PathBuf,
    /// Address of the HTTP listener (Dapr actor API and admin API).
    #[arg(long, default_value = "127.0.0.1:3500", env = "WARREN_HTTP")]
    pub http: SocketAddr,
    /// Deploy this component into the default tenant at start (repeatable).
    #[arg(long = "deploy", value_name = "FILE.wasm")]
    pub deploy: Vec<PathBuf>,
    /// Join a cluster whose hosts share this PostgreSQL database
    /// (`postgres://USER:PASSWORD@HOST:PORT/DB`): actor state, reminders, tenants and
    /// components then live there, and the data dir keeps only compiled artifacts.
    #[arg(
        long = "cluster",
        env = "WARREN_DATABASE_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    pub cluster: Option<String>,
    /// PEM certificate chain served on the HTTP, gRPC and OPACA listeners (but one given
    /// its own below), which then speak TLS only (HTTP/2 by ALPN). Read again when the
    /// file changes, or on SIGHUP.
    #[arg(
        long,
        env = "WARREN_TLS_CERT",
        value_name = "FILE.pem",
        requires = "tls_key"
    )]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of `--tls-cert`.
    #[arg(
        long,
        env = "WARREN_TLS_KEY",
        value_name = "FILE.pem",
        requires = "tls_cert"
    )]
    pub tls_key: Option<PathBuf>,
    /// The HTTP listener's own certificate, instead of `--tls-cert`.
    #[arg(
        long,
        env = "WARREN_HTTP_TLS_CERT",
        value_name = "FILE.pem",
        requires = "http_tls_key"
    )]
    pub http_tls_cert: Option<PathBuf>,
    /// PEM private key of `--http-tls-cert`.
    #[arg(
        long,
        env = "WARREN_HTTP_TLS_KEY",
        value_name = "FILE.pem",
        requires = "http_tls_cert"
    )]
    pub http_tls_key: Option<PathBuf>,
    /// The gRPC listener's own certificate, instead of `--tls-cert`.
    #[arg(
        long,
        env = "WARREN_GRPC_TLS_CERT",
        value_name = "FILE.pem",
        requires = "grpc_tls_key"
    )]
    pub grpc_tls_cert: Option<PathBuf>,
    /// PEM private key of `--grpc-tls-cert`.
    #[arg(
        long,
        env = "WARREN_GRPC_TLS_KEY",
        value_name = "FILE.pem",
        requires = "grpc_tls_cert"
    )]
    pub grpc_tls_key: Option<PathBuf>,
    /// The OPACA listener's own certificate, instead of `--tls-cert`.
    #[arg(
        long,
        env = "WARREN_OPACA_TLS_CERT",
        value_name = "FILE.pem",
        requires = "opaca_tls_key"
    )]
    pub opaca_tls_cert: Option<PathBuf>,
    /// PEM private key of `--opaca-tls-cert`.
    #[arg(
        long,
        env = "WARREN_OPACA_TLS_KEY",
        value_name = "FILE.pem",
        requires = "opaca_tls_cert"
    )]
    pub opaca_tls_key: Option<PathBuf>,
    /// Address of the host-to-host listener (cluster mode).
    #[arg(long, default_value = "127.0.0.1:3800", env = "WARREN_CLUSTER_LISTEN")]
    pub cluster_listen: SocketAddr,
    /// The URL the other hosts reach this one's host-to-host listener at; by default the
    /// listener's address.
    #[arg(long, env = "WARREN_CLUSTER_ADVERTISE")]
    pub cluster_advertise: Option<String>,
    /// The cluster CA's certificate (`warren cluster ca init`): with `--cluster-cert` and
    /// `--cluster-key`, hosts speak mutual TLS to each other and accept only peers whose
    /// certificate this CA issued. The secret is then optional.
    #[arg(long, env = "WARREN_CLUSTER_CA", value_name = "CA.pem", requires_all = ["cluster_cert", "cluster_key"])]
    pub cluster_ca: Option<PathBuf>,
    /// This host's certificate from the cluster CA (`warren cluster cert NAME`); the name
    /// it holds becomes the prefix of the host's id.
    #[arg(
        long,
        env = "WARREN_CLUSTER_CERT",
        value_name = "NAME.pem",
        requires = "cluster_ca"
    )]
    pub cluster_cert: Option<PathBuf>,
    /// The private key of `--cluster-cert`.
    #[arg(
        long,
        env = "WARREN_CLUSTER_KEY",
        value_name = "NAME-key.pem",
        requires = "cluster_ca"
    )]
    pub cluster_key: Option<PathBuf>,
    /// Secret every host of the cluster shares (16 characters at least); host-to-host
    /// calls without it are refused. Required without `--cluster-ca`.
    #[arg(long, env = "WARREN_CLUSTER_SECRET", hide_env_values = true)]
    pub cluster_secret: Option<String>,
    /// How often a cluster host heartbeats and reads the partition table.
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    pub heartbeat: Duration,
    /// A cluster host silent this long is declared dead; its actors move to the others.
    #[arg(long, default_value = "3s", value_parser = humantime::parse_duration)]
    pub host_timeout: Duration,
    /// Export trace spans (one per protocol request, one per turn) to this OpenTelemetry
    /// collector over OTLP/gRPC, e.g. `http://127.0.0.1:4317`. Off by default; a caller's
    /// `traceparent` is carried through either way.
    #[arg(long, env = "WARREN_OTLP_ENDPOINT", value_name = "URL")]
    pub otlp_endpoint: Option<String>,
    /// The CA certificate (PEM) that signed an `https://` OTLP endpoint's certificate;
    /// without it, the system's roots are trusted.
    #[arg(long, env = "WARREN_OTLP_CA_CERT", value_name = "PEM")]
    pub otlp_ca_cert: Option<PathBuf>,
    /// The share (0 to 1) of the traces starting at this host whose spans are exported; a
    /// request whose `traceparent` arrives keeps its caller's sampled flag.
    #[arg(long, default_value_t = 1.0, env = "WARREN_TRACE_SAMPLE_RATIO", value_parser = sample_ratio)]
    pub trace_sample_ratio: f64,
    /// A request's headers must arrive within this long of the connection's start or of
    /// its previous request, or the connection is closed (a client trickling them, or one
    /// that sends nothing, holds no connection for long). HTTP and OPACA listeners; the
    /// gRPC listener closes a connection that sends nothing for this long.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    pub header_read_timeout: Duration,
    /// Largest request head (request line and headers) in bytes; a larger one is answered
    /// 431 (HTTP and OPACA listeners), or refused by HTTP/2 (gRPC: its header list).
    #[arg(long, default_value_t = 64 << 10)]
    pub max_header_bytes: usize,
    /// Connections each listener (HTTP, OPACA, gRPC) keeps open at once; more wait to be
    /// accepted.
    #[arg(long, default_value_t = 10_000)]
    pub max_connections: usize,
    /// Count nothing: `/metrics` answers 404 and the console shows no charts. For
    /// measuring what counting costs; on by default.
    #[arg(long)]
    pub no_metrics: bool,
    /// `text` for people, `json` (one object per line) for log collectors.
    #[arg(long, value_enum, default_value = "text", env = "WARREN_LOG_FORMAT")]
    pub log_format: LogFormat,
    /// `sync`: a turn is acknowledged once on disk; `relaxed`: flushed periodically.
    /// (Cluster mode commits every turn to PostgreSQL before acknowledging it.)
    #[arg(long, default_value = "sync")]
    pub durability: Durability,
    /// Deactivate an actor after this long without a turn (e.g. `60m`, `30s`).
    #[arg(long, default_value = "60m", value_parser = humantime::parse_duration)]
    pub idle_timeout: Duration,
    /// Default wall-clock deadline of a request, including the turns it waits for.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    pub turn_timeout: Duration,
    /// Meter fuel so tenants can cap a turn's instructions (`fuel_per_turn`); slows guests.
    #[arg(long)]
    pub enable_fuel: bool,
    /// Keep Wasm instances warm between turns instead of a fresh one per turn: faster, but
    /// a guest's memory can then carry data from one actor's turn to the next.
    #[arg(long)]
    pub reuse_instances: bool,
    /// Active actors that may keep their Wasm instance between their own turns (at most half
    /// of --max-instances). A kept instance serves only its actor; 0 gives every turn a
    /// fresh instance.
    #[arg(long, default_value_t = 500)]
    pub pinned_instances: usize,
    /// Memory, in MiB, that all Wasm instances kept for their actors may hold together.
    /// Each is charged the pages it made resident (a Rust actor's some tens of KiB, a
    /// Python one's a few MiB); past the budget the least recently used are dropped and
    /// their actors' next turns start fresh. Each tenant has its own share too
    /// (`max_kept_memory_bytes`, default --tenant-kept-memory-mib). 0 keeps none.
    #[arg(long, default_value_t = 1024)]
    pub kept_memory_mib: u64,
    /// Default budget, in MiB, of one tenant's kept instances on this host.
    #[arg(long, default_value_t = 256)]
    pub tenant_kept_memory_mib: u64,
    /// Answer this name with these addresses instead of asking the resolver, for actors'
    /// outbound requests (as curl's --resolve): `NAME=IP[,IP...]`, repeatable. The
    /// addresses are still checked against each tenant's allowed_outbound_hosts.
    #[arg(long = "egress-resolve", value_name = "NAME=IP", value_parser = parse_resolve)]
    pub egress_resolve: Vec<(String, Vec<std::net::IpAddr>)>,
    /// A CA certificate (PEM) to trust for actors' outbound https, besides the system's
    /// roots; repeatable.
    #[arg(long = "egress-ca", value_name = "FILE")]
    pub egress_ca: Vec<PathBuf>,
    /// Memory (private, writable) a compilation of an uploaded component may use, in MiB.
    /// Each compiles in a child process of its own; past this the deploy fails, and the
    /// host never holds the compiler's memory.
    #[arg(long, default_value_t = 2048)]
    pub compile_memory_mib: u64,
    /// CPU time a compilation may use, in seconds (all its threads together).
    #[arg(long, default_value_t = 120)]
    pub compile_cpu_seconds: u64,
    /// The largest compiled artifact a compilation may write, in MiB.
    #[arg(long, default_value_t = 1024)]
    pub compile_output_mib: u64,
    /// Compilations that may run at once (deploys past it wait); default: the cores.
    #[arg(long)]
    pub compile_jobs: Option<usize>,
    /// Token for the admin API across all tenants. Without it the admin API is open.
    #[arg(long, env = "WARREN_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// Wasm instances that may exist at once.
    #[arg(long, default_value_t = 1000)]
    pub max_instances: u32,
    /// Default linear memory limit of one Wasm instance, in MiB.
    #[arg(long, default_value_t = 64)]
    pub max_memory_mib: usize,
    /// Overdue reminders (after downtime) fire at most this many per second.
    #[arg(long, default_value_t = 500)]
    pub reminder_backlog_rate: u32,
    /// Timer and reminder firings that may run as turns at once; more wait their turn.
    #[arg(long, default_value_t = 1000)]
    pub max_firing_turns: usize,
    /// Require this token in the `dapr-api-token` header of every request.
    #[arg(long, env = "DAPR_API_TOKEN", hide_env_values = true)]
    pub api_token: Option<String>,
    /// The protocols this host speaks, comma-separated; each disabled one opens no
    /// listener and serves no route.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "dapr,spawn,opaca",
        env = "WARREN_PROTOCOLS"
    )]
    pub protocols: Vec<ProtocolName>,
    #[command(flatten, next_help_heading = "Dapr")]
    pub dapr: DaprFlags,
    #[command(flatten, next_help_heading = "Spawn")]
    pub spawn: SpawnFlags,
    #[command(flatten, next_help_heading = "OPACA")]
    pub opaca: OpacaFlags,
}

/// How the host writes its log.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum LogFormat {
    /// Plain lines for people.
    Text,
    /// One JSON object per line.
    Json,
}

/// A sampling ratio: a number from 0 to 1.
fn sample_ratio(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(ratio) if (0.0..=1.0).contains(&ratio) => Ok(ratio),
        _ => Err(format!("{text:?} is not a number from 0 to 1")),
    }
}

/// `NAME=IP[,IP...]` of `--egress-resolve`.
fn parse_resolve(text: &str) -> Result<(String, Vec<std::net::IpAddr>), String> {
    let (name, ips) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?} is not NAME=IP[,IP...]"))?;
    let ips = ips
        .split(',')
        .map(|ip| {
            ip.trim()
                .parse()
                .map_err(|_| format!("{ip:?} is not an IP address"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((name.trim().to_string(), ips))
}
