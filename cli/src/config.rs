//! `warren config`: a component's configuration values and secrets, which its guests
//! read through `wasi:config/store`.

use std::io::Read;

use anyhow::Context;
use reqwest::Method;

use super::{Target, finish};

/// `warren config`: values of a component, under `/admin/v1/components/{name}/config`.
#[derive(clap::Subcommand)]
pub enum ConfigCommand {
    /// Set a value; the component's next turn sees it, no redeploy needed.
    Set {
        /// Component name.
        component: String,
        /// The value's key: letters, digits, '_', '.' or '-'.
        key: String,
        /// The value; `-` reads it from standard input (keeps a secret out of the shell's
        /// history).
        value: String,
        /// A secret: used by the component, never shown again by the host.
        #[arg(long)]
        secret: bool,
        /// The host and tenant the component is in.
        #[command(flatten)]
        target: Target,
    },
    /// Print one value (a secret shows only that it is set).
    Get {
        /// Component name.
        component: String,
        /// The value's key.
        key: String,
        /// The host and tenant the component is in.
        #[command(flatten)]
        target: Target,
    },
    /// List a component's values (secrets without their values).
    List {
        /// Component name.
        component: String,
        /// The host and tenant the component is in.
        #[command(flatten)]
        target: Target,
    },
    /// Delete a value.
    Delete {
        /// Component name.
        component: String,
        /// The value's key.
        key: String,
        /// The host and tenant the component is in.
        #[command(flatten)]
        target: Target,
    },
}

/// Run a `warren config` subcommand and print the host's answer.
pub async fn run(command: ConfigCommand) -> anyhow::Result<()> {
    let path = |component: &str| format!("/admin/v1/components/{component}/config");
    let request = match command {
        ConfigCommand::Set {
            component,
            key,
            value,
            secret,
            target,
        } => {
            let value = if value == "-" { read_stdin()? } else { value };
            let body = serde_json::json!({ "value": value, "secret": secret });
            target
                .scoped(Method::PUT, &format!("{}/{key}", path(&component)))
                .json(&body)
        }
        ConfigCommand::Get {
            component,
            key,
            target,
        } => target.scoped(Method::GET, &format!("{}/{key}", path(&component))),
        ConfigCommand::List { component, target } => target.scoped(Method::GET, &path(&component)),
        ConfigCommand::Delete {
            component,
            key,
            target,
        } => target.scoped(Method::DELETE, &format!("{}/{key}", path(&component))),
    };
    finish(request.send().await?).await
}

/// A value given on standard input, without its final line break.
fn read_stdin() -> anyhow::Result<String> {
    let mut value = String::new();
    std::io::stdin()
        .read_to_string(&mut value)
        .context("cannot read the value from standard input")?;
    Ok(value.strip_suffix('\n').unwrap_or(&value).to_string())
}
