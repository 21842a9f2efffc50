//! `warren-cli`: the client commands of `warren`, without the host.

use clap::Parser;

/// Talk to a running Warren host, or write and build actor projects.
#[derive(Parser)]
#[command(name = "warren-cli", version, about)]
struct Args {
    #[command(subcommand)]
    command: warren_cli::Command,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(warren_cli::run(args.command))
}
