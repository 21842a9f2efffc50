//! `warren versions`: a component's kept versions, rollback, canaries.

use reqwest::Method;

use super::{Target, finish};

/// `warren versions`: a component's kept versions, under
/// `/admin/v1/components/{name}`.
#[derive(clap::Subcommand)]
pub enum VersionsCommand {
    /// List a component's kept versions: number, declared version, hash, time, deployer,
    /// and which is current or a canary.
    List {
        /// Component name.
        name: String,
        /// The host and tenant the component is in.
        #[command(flatten)]
        target: Target,
    },
    /// Make a kept version the one serving every actor (roll back, or forward again).
    Use {
        /// Component name.
        name: String,
        /// The version's number (see `list`).
        number: u64,
        /// Go ahead even if that version drops an actor type or action still in use.
        #[arg(long)]
        force: bool,
        /// The host and tenant the component is in.
        #[command(flatten)]
        target: Target,
    },
    /// Make the running canary the version serving every actor.
    Promote {
        /// Component name.
        name: String,
        /// Go ahead even if the canary drops an actor type or action still in use.
        #[arg(long)]
        force: bool,
        /// The host and tenant the component is in.
        #[command(flatten)]
        target: Target,
    },
    /// Stop the running canary: every actor goes back to the current version.
    StopCanary {
        /// Component name.
        name: String,
        /// The host and tenant the component is in.
        #[command(flatten)]
        target: Target,
    },
    /// Delete a kept version (not the current one, nor a running canary).
    Delete {
        /// Component name.
        name: String,
        /// The version's number.
        number: u64,
        /// The host and tenant the component is in.
        #[command(flatten)]
        target: Target,
    },
}

/// Run a `warren versions` subcommand.
pub async fn run(command: VersionsCommand) -> anyhow::Result<()> {
    let base = |name: &str| format!("/admin/v1/components/{name}");
    let force = |force: bool| if force { "true" } else { "false" };
    let request = match command {
        VersionsCommand::List { name, target } => {
            target.scoped(Method::GET, &format!("{}/versions", base(&name)))
        }
        VersionsCommand::Use {
            name,
            number,
            force: f,
            target,
        } => target
            .scoped(Method::PUT, &format!("{}/current", base(&name)))
            .query(&[
                ("version", number.to_string().as_str()),
                ("force", force(f)),
            ]),
        VersionsCommand::Promote {
            name,
            force: f,
            target,
        } => target
            .scoped(Method::POST, &format!("{}/canary/promote", base(&name)))
            .query(&[("force", force(f))]),
        VersionsCommand::StopCanary { name, target } => {
            target.scoped(Method::DELETE, &format!("{}/canary", base(&name)))
        }
        VersionsCommand::Delete {
            name,
            number,
            target,
        } => target.scoped(
            Method::DELETE,
            &format!("{}/versions/{number}", base(&name)),
        ),
    };
    finish(request.send().await?).await
}
