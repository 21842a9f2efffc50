//! `warren-bench`: every figure of benches/RESULTS.md, each printed with its baseline
//! measured in the same run. `warren-bench [FIGURE...]` with figures `invoke`, `http`,
//! `app`, `activation`, `reminders`, `durable`, `startup`, `cluster`, `observe`, `languages`,
//! `tls` (default: all; `cluster` needs PostgreSQL, see `figures/cluster.rs`). `warren-bench
//! soak --duration 30m` runs the soak instead (`soak.rs`); `warren-bench nemesis --duration
//! 10m --seed N` the cluster nemesis and its history checker (`nemesis.rs`).

mod figures;
mod nemesis;
mod soak;

// The same allocator as the `warren` binary, so in-process figures measure what it runs.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::time::Duration;

use clap::Parser;

#[derive(Parser)]
struct Args {
    /// Figures to run (default: all).
    figures: Vec<String>,
    /// How long each measured configuration runs.
    #[arg(long, default_value = "3s", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// Distinct actors touched by the activation figure.
    #[arg(long, default_value_t = 1_000_000)]
    actors: u64,
    /// Reminders registered by the reminder figure.
    #[arg(long, default_value_t = 100_000)]
    reminders: u64,
    /// Reminders stored before the start the stored figure measures.
    #[arg(long, default_value_t = 1_000_000)]
    stored_reminders: u64,
    /// The nemesis's seed (default: the clock; the run prints it).
    #[arg(long)]
    seed: Option<u64>,
    /// How often the soak prints its figures.
    #[arg(long, default_value = "1m", value_parser = humantime::parse_duration)]
    report_every: Duration,
}

fn main() -> anyhow::Result<()> {
    let mut argv = std::env::args().skip(1);
    // Helper processes this binary re-executes itself as.
    match argv.next().as_deref() {
        Some("bare-server") => return figures::bare_server(),
        Some("hop-echo") => return figures::hop_echo(),
        Some("counter-app") => return figures::counter_app(argv.next().unwrap_or_default()),
        Some("reminder-pass") => return figures::reminder_pass_process(argv),
        Some("stored-start") => return figures::stored_start_process(argv),
        _ => {}
    }
    let args = Args::parse();
    if args.figures == ["nemesis"] {
        return nemesis::nemesis(args.duration, args.seed);
    }
    let all = [
        "invoke",
        "http",
        "app",
        "activation",
        "reminders",
        "stored",
        "durable",
        "startup",
        "cluster",
        "observe",
        "languages",
        "tls",
        "egress",
        "deploy-memory",
        "density",
    ];
    let chosen: Vec<&str> = if args.figures.is_empty() {
        all.to_vec()
    } else {
        args.figures.iter().map(String::as_str).collect()
    };
    println!(
        "warren-bench on {} cores; each line: throughput, median (p50), p90, p99; ratios against the baseline measured in the same run",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    if chosen == ["soak"] {
        return rt.block_on(soak::soak(args.duration, args.report_every));
    }
    for figure in chosen {
        println!("\n== {figure}");
        rt.block_on(async {
            match figure {
                "invoke" => figures::invoke(args.duration).await,
                "http" => figures::http(args.duration).await,
                "app" => figures::app(args.duration).await,
                "activation" => figures::activation(args.actors).await,
                "reminders" => figures::reminders(args.reminders).await,
                "stored" => figures::stored(args.stored_reminders).await,
                "durable" => figures::durable(args.duration).await,
                "startup" => figures::startup().await,
                "cluster" => figures::cluster(args.duration).await,
                "observe" => figures::observe(args.duration).await,
                "languages" => figures::languages(args.duration).await,
                "tls" => figures::tls(args.duration).await,
                "egress" => figures::egress(args.duration).await,
                "deploy-memory" => figures::deploy_memory().await,
                "density" => figures::density(args.duration).await,
                other => anyhow::bail!("unknown figure {other:?}; known: {all:?}"),
            }
        })?;
    }
    Ok(())
}
