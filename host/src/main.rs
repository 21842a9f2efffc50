//! The `warren` command: run the host, or talk to a running one.

mod cli;
mod serve;

// sled copies tree nodes on every write and a fresh instance allocates its store and WASI
// context: glibc's malloc and free were about a quarter of the reminder profile, and
// mimalloc nearly doubled the firing rate. Built without transparent huge pages, which
// tripled idle RSS.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{Parser, Subcommand};

/// Warren hosts virtual actors written as WebAssembly components.
#[derive(Parser)]
#[command(name = "warren", version, about)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the host.
    Serve(Box<serve::ServeArgs>),
    /// Write a ready-to-build actor project (rust, python or js) from built-in templates.
    New(cli::NewArgs),
    /// Build the actor project in a directory into NAME.wasm with its language's tool.
    Build(cli::BuildArgs),
    /// Upload a component to a running host.
    Deploy(cli::DeployArgs),
    /// Show the host at a glance: turns/s, p99, failures, actors (the console's front
    /// page; admin token).
    Status(cli::StatusArgs),
    /// List the components of a tenant.
    Components(cli::Target),
    /// A component's kept versions: list, roll back, promote or stop a canary, delete.
    Versions {
        #[command(subcommand)]
        command: cli::VersionsCommand,
    },
    /// Remove a component and its actor types.
    Remove(cli::RemoveArgs),
    /// List the active actors of a tenant.
    Actors(cli::Target),
    /// Invoke an action on an actor and print the reply.
    Invoke(cli::InvokeArgs),
    /// Manage tenants (admin token).
    Tenant {
        #[command(subcommand)]
        command: cli::TenantCommand,
    },
    /// Read an actor's state.
    State {
        #[command(subcommand)]
        command: cli::StateCommand,
    },
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        match args.command {
            Command::Serve(a) => serve::run(*a).await,
            Command::New(a) => cli::new(a),
            Command::Build(a) => cli::build(a),
            Command::Deploy(a) => cli::deploy(a).await,
            Command::Status(a) => cli::status(a).await,
            Command::Components(t) => cli::components(t).await,
            Command::Versions { command } => cli::versions(command).await,
            Command::Remove(a) => cli::remove(a).await,
            Command::Actors(t) => cli::actors(t).await,
            Command::Invoke(a) => cli::invoke(a).await,
            Command::State { command } => cli::state(command).await,
            Command::Tenant { command } => cli::tenant(command).await,
        }
    })
}
