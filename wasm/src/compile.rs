//! Where uploaded components are compiled: in a short-lived child process under limits of
//! memory, CPU time and output size (what `warren serve` does), or in the host's own
//! process (tests and benches). In a child, the host never holds the compiler's peak
//! memory (hundreds of megabytes for a Python component), and a compile bomb or a
//! compiler crash fails only its own deploy.

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wasmtime::{Config, Engine};

/// The engine settings that decide what compiled code looks like. The host's engine and
/// the compiler child both start from these, so the child's artifacts load in the host
/// (which still checks each artifact's compatibility as it loads it).
pub fn code_config(fuel: bool) -> Config {
    let mut cfg = Config::new();
    cfg.epoch_interruption(true)
        .consume_fuel(fuel)
        .memory_init_cow(true);
    cfg
}

/// Limits of one compiler child.
#[derive(Clone, Copy, Debug)]
pub struct CompileLimits {
    /// Its private writable memory (`RLIMIT_DATA`).
    pub memory_bytes: u64,
    /// Its CPU time, all threads together (`RLIMIT_CPU`).
    pub cpu_seconds: u64,
    /// The largest artifact it may write (`RLIMIT_FSIZE`).
    pub output_bytes: u64,
}

impl Default for CompileLimits {
    fn default() -> Self {
        CompileLimits {
            memory_bytes: 2 << 30,
            cpu_seconds: 120,
            output_bytes: 1 << 30,
        }
    }
}

/// Where components are compiled.
#[derive(Clone, Debug, Default)]
pub enum Compiler {
    /// In the host's own process.
    #[default]
    InProcess,
    /// In a child: `PROGRAM compile-component --output FILE [--fuel]`, the `.wasm` on its
    /// standard input (see [`compile_child`]).
    Child {
        /// The program (the `warren` binary itself).
        program: PathBuf,
        /// What each child may use.
        limits: CompileLimits,
    },
}

/// Why a compilation failed.
#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    /// The bytes are not a component wasmtime accepts; the text is its reason.
    #[error("{0}")]
    Invalid(String),
    /// The child did not finish: killed at a limit, or crashed.
    #[error("the compiler {0}")]
    Child(String),
    /// The child could not be run or talked to.
    #[error("cannot run the compiler: {0}")]
    Io(#[from] std::io::Error),
}

/// The exit code of a child that found the input invalid (its reason on stderr).
const INVALID_INPUT: i32 = 2;

/// The compiler child's side: read a `.wasm` from standard input, compile it with the
/// host's code settings and write the artifact to `output`. Exits with 2 when the input
/// is not a component (wasmtime's reason on stderr); killed by the kernel at its limits.
pub fn compile_child(output: &Path, fuel: bool) -> i32 {
    let mut wasm = Vec::new();
    if let Err(e) = std::io::Read::read_to_end(&mut std::io::stdin(), &mut wasm) {
        eprintln!("cannot read the component: {e}");
        return 1;
    }
    let artifact = Engine::new(&code_config(fuel)).and_then(|e| e.precompile_component(&wasm));
    match artifact {
        Ok(bytes) => match std::fs::write(output, bytes) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("cannot write {}: {e}", output.display());
                1
            }
        },
        Err(e) => {
            eprintln!("{e:#}");
            INVALID_INPUT
        }
    }
}

/// Compile `wasm` in a child of `program` under `limits`, writing its artifact to
/// `output`. The child is killed if the host drops this future or after four times its
/// CPU limit of wall time.
pub async fn compile_in_child(
    program: &Path,
    limits: CompileLimits,
    wasm: &[u8],
    output: &Path,
    fuel: bool,
) -> Result<(), CompileError> {
    let mut command = tokio::process::Command::new(program);
    command
        .arg("compile-component")
        .arg("--output")
        .arg(output)
        .args(fuel.then_some("--fuel"))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    // SAFETY: between fork and exec the closure only calls setrlimit, which is
    // async-signal-safe, and allocates nothing.
    unsafe {
        command.pre_exec(move || apply_limits(limits));
    }
    let mut child = command.spawn()?;
    let mut stdin = child.stdin.take().ok_or_else(no_pipe)?;
    let mut stderr = child.stderr.take().ok_or_else(no_pipe)?;
    let wall = Duration::from_secs(limits.cpu_seconds.saturating_mul(4).saturating_add(10));
    let run = async {
        // A child that dies early closes its stdin: its exit status says why.
        let _ = stdin.write_all(wasm).await;
        drop(stdin);
        let mut said = Vec::new();
        let _ = (&mut stderr).take(64 << 10).read_to_end(&mut said).await;
        let status = child.wait().await?;
        Ok::<_, std::io::Error>((status, said))
    };
    let (status, said) = tokio::time::timeout(wall, run).await.map_err(|_| {
        CompileError::Child(format!(
            "took longer than {} s and was stopped",
            wall.as_secs()
        ))
    })??;
    let said = String::from_utf8_lossy(&said).trim().to_string();
    if status.success() {
        return Ok(());
    }
    // wasmtime reports some failed allocations as errors of the input: not those.
    if status.code() == Some(INVALID_INPUT) && !out_of_memory(&said) {
        return Err(CompileError::Invalid(said));
    }
    Err(CompileError::Child(why_it_failed(status, &said, limits)))
}

/// A missing pipe of a child spawned with one.
fn no_pipe() -> std::io::Error {
    std::io::Error::other("the child has no pipe")
}

/// Set the child's limits (run between fork and exec); no core file of a crash.
fn apply_limits(limits: CompileLimits) -> std::io::Result<()> {
    let set = |resource, soft: u64, hard: u64| {
        let limit = libc::rlimit {
            rlim_cur: soft,
            rlim_max: hard,
        };
        // SAFETY: a plain system call on a valid struct.
        match unsafe { libc::setrlimit(resource, &limit) } {
            0 => Ok(()),
            _ => Err(std::io::Error::last_os_error()),
        }
    };
    set(libc::RLIMIT_DATA, limits.memory_bytes, limits.memory_bytes)?;
    // SIGXCPU at the soft limit, SIGKILL a second later.
    let cpu = limits.cpu_seconds.max(1);
    set(libc::RLIMIT_CPU, cpu, cpu + 1)?;
    set(libc::RLIMIT_FSIZE, limits.output_bytes, limits.output_bytes)?;
    set(libc::RLIMIT_CORE, 0, 0)
}

/// Whether the child said it could not allocate (Rust's allocation failure message, or
/// wasmtime's).
fn out_of_memory(said: &str) -> bool {
    said.contains("memory allocation") || said.contains("out of memory")
}

/// What a child's failure means, in words for the deployer.
fn why_it_failed(status: std::process::ExitStatus, said: &str, limits: CompileLimits) -> String {
    let last = said.lines().last().unwrap_or("").to_string();
    let mib = |bytes: u64| bytes >> 20;
    match status.signal() {
        _ if out_of_memory(said) => format!(
            "ran out of its memory limit of {} MiB (--compile-memory-mib)",
            mib(limits.memory_bytes)
        ),
        Some(libc::SIGXCPU) => format!(
            "used up its CPU time limit of {} s (--compile-cpu-seconds)",
            limits.cpu_seconds
        ),
        Some(libc::SIGKILL) => format!(
            "was killed: at its CPU time limit of {} s (--compile-cpu-seconds), or by the system",
            limits.cpu_seconds
        ),
        Some(libc::SIGXFSZ) => format!(
            "wrote past its output limit of {} MiB (--compile-output-mib)",
            mib(limits.output_bytes)
        ),
        Some(signal) => format!("crashed (signal {signal}): {last}"),
        None => format!("failed ({status}): {last}"),
    }
}
