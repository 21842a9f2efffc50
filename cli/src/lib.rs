//! Warren's command-line client: write and build actor projects, and talk to a running
//! host over its HTTP API. A pure HTTP client: no Wasm engine and no database in its
//! dependency tree (checked by the test suite's layering test), so the `warren-cli`
//! binary builds in seconds; the `warren` binary embeds the same commands beside `serve`.

#![warn(missing_docs)]

use std::path::PathBuf;

use anyhow::{Context, bail};

mod build;
mod cluster;
mod config;
mod new;
mod progress;
mod status_text;
mod versions;

pub use build::{BuildArgs, run_build as build};
pub use cluster::{CaCommand, CertArgs, ClusterCommand};
pub use config::ConfigCommand;
pub use new::{NewArgs, run as new};
pub use versions::{VersionsCommand, run as versions};

/// The client's subcommands, the same in `warren` and `warren-cli`.
#[derive(clap::Subcommand)]
pub enum Command {
    /// Write a ready-to-build actor project (rust, python or js) from built-in templates.
    New(NewArgs),
    /// Build the actor project in a directory into NAME.wasm with its language's tool.
    Build(BuildArgs),
    /// Upload a component to a running host.
    Deploy(DeployArgs),
    /// Show the host at a glance: turns/s, p99, failures, actors (the console's front
    /// page; admin token).
    Status(StatusArgs),
    /// List the components of a tenant.
    Components(Target),
    /// A component's kept versions: list, roll back, promote or stop a canary, delete.
    Versions {
        /// What to do with the versions.
        #[command(subcommand)]
        command: VersionsCommand,
    },
    /// Remove a component and its actor types.
    Remove(RemoveArgs),
    /// List the active actors of a tenant.
    Actors(Target),
    /// Invoke an action on an actor and print the reply.
    Invoke(InvokeArgs),
    /// Manage tenants (admin token).
    Tenant {
        /// What to do with tenants.
        #[command(subcommand)]
        command: TenantCommand,
    },
    /// A component's configuration values and secrets, read by its guests through
    /// `wasi:config`: set, get, list, delete.
    Config {
        /// What to do with the values.
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Read an actor's state.
    State {
        /// Which state to read.
        #[command(subcommand)]
        command: StateCommand,
    },
    /// Make a cluster CA and host certificates, for mutual TLS between hosts (offline).
    Cluster {
        /// What to make.
        #[command(subcommand)]
        command: ClusterCommand,
    },
}

/// Run one client command to its end.
pub async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::New(a) => new(a),
        Command::Build(a) => build(a),
        Command::Deploy(a) => deploy(a).await,
        Command::Status(a) => status(a).await,
        Command::Components(t) => components(t).await,
        Command::Versions { command } => versions(command).await,
        Command::Remove(a) => remove(a).await,
        Command::Actors(t) => actors(t).await,
        Command::Invoke(a) => invoke(a).await,
        Command::State { command } => state(command).await,
        Command::Tenant { command } => tenant(command).await,
        Command::Config { command } => config::run(command).await,
        Command::Cluster { command } => cluster::run(command),
    }
}

/// Which host and tenant a command talks to.
#[derive(clap::Args)]
pub struct Target {
    /// Base URL of the host.
    #[arg(long, default_value = "http://127.0.0.1:3500", env = "WARREN_URL")]
    url: String,
    /// Tenant to act in (with the admin token; a tenant token implies its own, and without
    /// a token it is `default`).
    #[arg(long)]
    tenant: Option<String>,
    /// Admin or tenant token, sent as a bearer token.
    #[arg(long, env = "WARREN_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// A CA certificate (PEM) to trust for an `https://` host, beside the system's.
    #[arg(long, env = "WARREN_CA_CERT", value_name = "CA.pem", value_parser = ca_certificate)]
    ca_cert: Option<reqwest::Certificate>,
}

/// The CA certificate in the PEM file at `path`, read when the command line is parsed.
fn ca_certificate(path: &str) -> Result<reqwest::Certificate, String> {
    let pem = std::fs::read(path).map_err(|e| format!("cannot read {path}: {e}"))?;
    reqwest::Certificate::from_pem(&pem)
        .map_err(|e| format!("{path} holds no PEM certificate: {e}"))
}

impl Target {
    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let mut client = reqwest::Client::builder();
        if let Some(ca) = &self.ca_cert {
            client = client.add_root_certificate(ca.clone());
        }
        // Building fails only if the TLS backend cannot start; the default client says so
        // on the request.
        let client = client.build().unwrap_or_default();
        let request = client.request(method, format!("{}{path}", self.url));
        match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    /// A request scoped to the tenant: the admin token needs `tenant=`, a tenant token not.
    fn scoped(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let request = self.request(method, path);
        match &self.tenant {
            Some(tenant) => request.query(&[("tenant", tenant)]),
            None => request,
        }
    }
}

/// `warren tenant`: tenants and their tokens, under `/admin/v1/tenants` (admin token).
#[derive(clap::Subcommand)]
pub enum TenantCommand {
    /// Create a tenant, optionally with limits as JSON (e.g. '{"max_components": 5}').
    Create {
        /// Tenant name.
        name: String,
        /// Limits as a JSON object (e.g. '{"max_components": 5}'); those it leaves out take
        /// the host's defaults.
        #[arg(long)]
        limits: Option<String>,
        /// The host to ask, with the admin token.
        #[command(flatten)]
        target: Target,
    },
    /// List tenants with their limits and usage.
    List {
        /// The host to ask, with the admin token.
        #[command(flatten)]
        target: Target,
    },
    /// Change some limits of a tenant (JSON object of limits).
    Update {
        /// Tenant name.
        name: String,
        /// The limits to change, as a JSON object (e.g. '{"max_components": 5}').
        limits: String,
        /// The host to ask, with the admin token.
        #[command(flatten)]
        target: Target,
    },
    /// Delete a tenant with its components, state and reminders.
    Delete {
        /// Tenant name.
        name: String,
        /// The host to ask, with the admin token.
        #[command(flatten)]
        target: Target,
    },
    /// Issue a new token for a tenant; it is printed once and stored only hashed.
    Token {
        /// Tenant name.
        name: String,
        /// The host to ask, with the admin token.
        #[command(flatten)]
        target: Target,
    },
    /// Revoke a tenant's token by id.
    Revoke {
        /// Tenant name.
        name: String,
        /// The token's id, as printed when it was issued.
        id: String,
        /// The host to ask, with the admin token.
        #[command(flatten)]
        target: Target,
    },
}

/// Arguments of `warren deploy`, which uploads to `POST /admin/v1/components`.
#[derive(clap::Args)]
pub struct DeployArgs {
    /// The component's `.wasm` file.
    file: PathBuf,
    /// Component name (defaults to the name in its manifest).
    #[arg(long)]
    name: Option<String>,
    /// Replace the component even if the new version drops an actor type or an action
    /// that active actors, reminders or timers still use.
    #[arg(long)]
    force: bool,
    /// Deploy as a canary: the new version serves this percentage (1-99) of the actor ids,
    /// the current one the rest, until `warren versions promote` or `stop-canary`.
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=99))]
    canary: Option<u8>,
    /// The host and tenant to deploy to.
    #[command(flatten)]
    target: Target,
}

/// Arguments of `warren remove`, which sends `DELETE /admin/v1/components/{name}`.
#[derive(clap::Args)]
pub struct RemoveArgs {
    /// Component name.
    name: String,
    /// The host and tenant the component is in.
    #[command(flatten)]
    target: Target,
}

/// Arguments of `warren invoke`, which calls the Dapr route
/// `POST /v1.0/actors/{type}/{id}/method/{action}`.
#[derive(clap::Args)]
pub struct InvokeArgs {
    /// The actor, as `TYPE/ID`.
    actor: String,
    /// The action to run.
    action: String,
    /// Payload (sent as is; JSON for the examples).
    #[arg(long, default_value = "")]
    data: String,
    /// The host to call, and the token to call with.
    #[command(flatten)]
    target: Target,
}

/// `warren state`: an actor's state, read over the Dapr route
/// `GET /v1.0/actors/{type}/{id}/state/{key}`.
#[derive(clap::Subcommand)]
pub enum StateCommand {
    /// Print the value of one state key.
    Get {
        /// The actor, as `TYPE/ID`.
        actor: String,
        /// The state key.
        key: String,
        /// The host to ask, and the token to ask with.
        #[command(flatten)]
        target: Target,
    },
}

fn split_actor(actor: &str) -> anyhow::Result<(&str, &str)> {
    actor
        .split_once('/')
        .filter(|(t, i)| !t.is_empty() && !i.is_empty())
        .with_context(|| format!("actor must be TYPE/ID, got {actor:?}"))
}

/// Print a successful body, or fail with the server's message.
async fn finish(response: reqwest::Response) -> anyhow::Result<()> {
    let status = response.status();
    let body = response.text().await?;
    if !status.is_success() {
        bail!("{status}: {body}");
    }
    if !body.is_empty() {
        println!("{body}");
    }
    Ok(())
}

/// `warren deploy`: upload the component, showing the upload's progress, and print the
/// host's answer.
pub async fn deploy(args: DeployArgs) -> anyhow::Result<()> {
    let wasm = std::fs::read(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let mut request = args
        .target
        .scoped(reqwest::Method::POST, "/admin/v1/components");
    if args.force {
        request = request.query(&[("force", "true")]);
    }
    if let Some(name) = &args.name {
        request = request.query(&[("name", name)]);
    }
    if let Some(percent) = args.canary {
        request = request.query(&[("canary", percent)]);
    }
    // Kept with the version, beside the credential the host checks.
    if let Ok(user) = std::env::var("USER") {
        request = request.header("x-warren-deployer", user);
    }
    let progress = progress::Deploy::start(&args.file, wasm.len() as u64);
    let body = reqwest::Body::wrap_stream(progress.upload(wasm));
    let response = request.body(body).send().await;
    progress.done(response.as_ref().is_ok_and(|r| r.status().is_success()));
    finish(response?).await
}

/// Arguments of `warren status`, which reads `GET /admin/v1/status`.
#[derive(clap::Args)]
pub struct StatusArgs {
    /// Print the host's answer as JSON instead.
    #[arg(long)]
    json: bool,
    /// The host to ask, with the admin token.
    #[command(flatten)]
    target: Target,
}

/// `warren status`: the figures of the console's front page.
pub async fn status(args: StatusArgs) -> anyhow::Result<()> {
    let response = args
        .target
        .request(reqwest::Method::GET, "/admin/v1/status")
        .send()
        .await?;
    let status = response.status();
    let body = response.text().await?;
    if !status.is_success() {
        bail!("{status}: {body}");
    }
    if args.json {
        println!("{body}");
        return Ok(());
    }
    let view: serde_json::Value =
        serde_json::from_str(&body).context("the host's status is not JSON")?;
    print!("{}", status_text::render(&args.target.url, &view));
    Ok(())
}

/// `warren components`: print the tenant's components (`GET /admin/v1/components`).
pub async fn components(target: Target) -> anyhow::Result<()> {
    let request = target.scoped(reqwest::Method::GET, "/admin/v1/components");
    finish(request.send().await?).await
}

/// `warren actors`: print the tenant's active actors (`GET /admin/v1/actors`).
pub async fn actors(target: Target) -> anyhow::Result<()> {
    let request = target.scoped(reqwest::Method::GET, "/admin/v1/actors");
    finish(request.send().await?).await
}

/// `warren remove`: remove a component and its actor types.
pub async fn remove(args: RemoveArgs) -> anyhow::Result<()> {
    let path = format!("/admin/v1/components/{}", args.name);
    let request = args.target.scoped(reqwest::Method::DELETE, &path);
    finish(request.send().await?).await
}

fn limits_json(text: &str) -> anyhow::Result<serde_json::Value> {
    let value: serde_json::Value =
        serde_json::from_str(text).with_context(|| format!("limits are not JSON: {text}"))?;
    anyhow::ensure!(value.is_object(), "limits must be a JSON object");
    Ok(value)
}

/// Run a `warren tenant` subcommand and print the host's answer.
pub async fn tenant(command: TenantCommand) -> anyhow::Result<()> {
    use reqwest::Method;
    let request = match command {
        TenantCommand::Create {
            name,
            limits,
            target,
        } => {
            let limits = limits
                .as_deref()
                .map(limits_json)
                .transpose()?
                .unwrap_or_else(|| serde_json::json!({}));
            let body = serde_json::json!({ "name": name, "limits": limits });
            target
                .request(Method::POST, "/admin/v1/tenants")
                .json(&body)
        }
        TenantCommand::List { target } => target.request(Method::GET, "/admin/v1/tenants"),
        TenantCommand::Update {
            name,
            limits,
            target,
        } => target
            .request(Method::PATCH, &format!("/admin/v1/tenants/{name}"))
            .json(&limits_json(&limits)?),
        TenantCommand::Delete { name, target } => {
            target.request(Method::DELETE, &format!("/admin/v1/tenants/{name}"))
        }
        TenantCommand::Token { name, target } => {
            target.request(Method::POST, &format!("/admin/v1/tenants/{name}/tokens"))
        }
        TenantCommand::Revoke { name, id, target } => target.request(
            Method::DELETE,
            &format!("/admin/v1/tenants/{name}/tokens/{id}"),
        ),
    };
    finish(request.send().await?).await
}

/// `warren invoke`: run an action on an actor and print its reply.
pub async fn invoke(args: InvokeArgs) -> anyhow::Result<()> {
    let (actor_type, id) = split_actor(&args.actor)?;
    let path = format!("/v1.0/actors/{actor_type}/{id}/method/{}", args.action);
    let request = args.target.request(reqwest::Method::POST, &path);
    finish(request.body(args.data).send().await?).await
}

/// `warren state get`: print the value of one state key; fails when the key is unset.
pub async fn state(command: StateCommand) -> anyhow::Result<()> {
    let StateCommand::Get { actor, key, target } = command;
    let (actor_type, id) = split_actor(&actor)?;
    let path = format!("/v1.0/actors/{actor_type}/{id}/state/{key}");
    let response = target.request(reqwest::Method::GET, &path).send().await?;
    if response.status() == reqwest::StatusCode::NO_CONTENT {
        bail!("{actor} has no state key {key:?}");
    }
    finish(response).await
}
