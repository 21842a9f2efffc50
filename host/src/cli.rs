//! Client subcommands: talk to a running host over its HTTP API.

use std::path::PathBuf;

use anyhow::{Context, bail};

/// Which host and tenant a command talks to.
#[derive(clap::Args)]
pub struct Target {
    /// Base URL of the host.
    #[arg(long, default_value = "http://127.0.0.1:3500", env = "WARREN_URL")]
    url: String,
    /// Tenant to act in.
    #[arg(long, default_value = "default")]
    tenant: String,
}

#[derive(clap::Args)]
pub struct DeployArgs {
    /// The component's `.wasm` file.
    file: PathBuf,
    /// Component name (defaults to the name in its manifest).
    #[arg(long)]
    name: Option<String>,
    #[command(flatten)]
    target: Target,
}

#[derive(clap::Args)]
pub struct RemoveArgs {
    /// Component name.
    name: String,
    #[command(flatten)]
    target: Target,
}

#[derive(clap::Args)]
pub struct InvokeArgs {
    /// The actor, as `TYPE/ID`.
    actor: String,
    /// The action to run.
    action: String,
    /// Payload (sent as is; JSON for the examples).
    #[arg(long, default_value = "")]
    data: String,
    #[command(flatten)]
    target: Target,
}

#[derive(clap::Subcommand)]
pub enum StateCommand {
    /// Print the value of one state key.
    Get {
        /// The actor, as `TYPE/ID`.
        actor: String,
        key: String,
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

pub async fn deploy(args: DeployArgs) -> anyhow::Result<()> {
    let wasm = std::fs::read(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let mut query = vec![("tenant", args.target.tenant.clone())];
    if let Some(name) = args.name {
        query.push(("name", name));
    }
    let response = reqwest::Client::new()
        .post(format!("{}/admin/v1/components", args.target.url))
        .query(&query)
        .body(wasm)
        .send()
        .await?;
    finish(response).await
}

pub async fn components(target: Target) -> anyhow::Result<()> {
    let response = reqwest::Client::new()
        .get(format!("{}/admin/v1/components", target.url))
        .query(&[("tenant", &target.tenant)])
        .send()
        .await?;
    finish(response).await
}

pub async fn actors(target: Target) -> anyhow::Result<()> {
    let response = reqwest::Client::new()
        .get(format!("{}/admin/v1/actors", target.url))
        .query(&[("tenant", &target.tenant)])
        .send()
        .await?;
    finish(response).await
}

pub async fn remove(args: RemoveArgs) -> anyhow::Result<()> {
    let response = reqwest::Client::new()
        .delete(format!(
            "{}/admin/v1/components/{}",
            args.target.url, args.name
        ))
        .query(&[("tenant", &args.target.tenant)])
        .send()
        .await?;
    finish(response).await
}

pub async fn invoke(args: InvokeArgs) -> anyhow::Result<()> {
    let (actor_type, id) = split_actor(&args.actor)?;
    let response = reqwest::Client::new()
        .post(format!(
            "{}/v1.0/actors/{actor_type}/{id}/method/{}",
            args.target.url, args.action
        ))
        .body(args.data)
        .send()
        .await?;
    finish(response).await
}

pub async fn state(command: StateCommand) -> anyhow::Result<()> {
    let StateCommand::Get { actor, key, target } = command;
    let (actor_type, id) = split_actor(&actor)?;
    let response = reqwest::Client::new()
        .get(format!(
            "{}/v1.0/actors/{actor_type}/{id}/state/{key}",
            target.url
        ))
        .send()
        .await?;
    if response.status() == reqwest::StatusCode::NO_CONTENT {
        bail!("{actor} has no state key {key:?}");
    }
    finish(response).await
}
