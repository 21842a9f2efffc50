//! The `warren` command: run the host, or talk to a running one.

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
    /// Compile a component read from stdin into an artifact (run by the host, under
    /// limits, for each upload).
    #[command(hide = true)]
    CompileComponent {
        /// Where to write the artifact.
        #[arg(long)]
        output: std::path::PathBuf,
        /// Compile for a host that meters fuel.
        #[arg(long)]
        fuel: bool,
    },
    #[command(flatten)]
    Client(warren_cli::Command),
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // The compiler child needs no async runtime: it compiles, writes and exits.
    if let Command::CompileComponent { output, fuel } = &args.command {
        std::process::exit(warren_host::wasm::compile_child(output, *fuel));
    }
    if matches!(args.command, Command::Serve(_)) {
        return_freed_memory_periodically()?;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        match args.command {
            Command::Serve(a) => serve::run(*a).await,
            Command::Client(command) => warren_cli::run(command).await,
            Command::CompileComponent { .. } => Ok(()),
        }
    })
}

/// How often the host hands memory freed since back to the system.
const RETURN_FREED_MEMORY_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

/// mimalloc returns freed memory to the system lazily, from the thread that next allocates
/// in it: the buffers of a deploy (an upload of tens of MiB, its copies, the describe
/// call's instance) stayed resident on idle threads for good, half again the host's
/// memory after one Python component. A thread of its own collects every few seconds.
fn return_freed_memory_periodically() -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("warren-free-memory".into())
        .spawn(|| {
            loop {
                std::thread::sleep(RETURN_FREED_MEMORY_EVERY);
                // SAFETY: a plain call into the allocator, safe from any thread.
                unsafe { libmimalloc_sys::mi_collect(true) };
            }
        })
        .map(drop)
}
