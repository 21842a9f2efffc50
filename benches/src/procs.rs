//! Starting the `warren` binary for a benchmark, and reading memory use.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The `warren` binary built next to this one (same target dir and profile).
pub fn warren_binary() -> PathBuf {
    let me = std::env::current_exe().expect("own path");
    me.with_file_name("warren")
}

/// The guest `.wasm` files built by scripts/build-guests.sh, found from this executable:
/// target/release/warren-bench, or target/release/deps/NAME-HASH for a criterion bench.
pub fn guest(name: &str) -> PathBuf {
    let me = std::env::current_exe().expect("own path");
    let file = Path::new("wasm32-wasip2/release").join(format!("{name}.wasm"));
    let found = me
        .ancestors()
        .map(|dir| dir.join(&file))
        .find(|p| p.exists());
    // Not built yet: name the usual place, so the error says where it was looked for.
    found.unwrap_or_else(|| {
        me.parent()
            .and_then(Path::parent)
            .unwrap_or(&me)
            .join(&file)
    })
}

/// A running `warren serve`; killed on drop.
pub struct Warren {
    pub child: Child,
    /// `host:port` of the HTTP listener.
    pub addr: String,
    /// `host:port` of the gRPC listener.
    pub grpc_addr: String,
    /// `host:port` of the OPACA listener.
    pub opaca_addr: String,
    /// From spawn to the "serving" log line.
    pub started_in: Duration,
}

impl Warren {
    pub fn start(data_dir: &Path, args: &[&str]) -> anyhow::Result<Warren> {
        Self::start_at(data_dir, "127.0.0.1:0", args)
    }

    /// Start listening on `http` (`host:port`).
    pub fn start_at(data_dir: &Path, http: &str, args: &[&str]) -> anyhow::Result<Warren> {
        let begin = Instant::now();
        let mut child = Command::new(warren_binary())
            .arg("serve")
            .arg("--data-dir")
            .arg(data_dir)
            .args([
                "--http",
                http,
                "--grpc",
                "127.0.0.1:0",
                "--opaca",
                "127.0.0.1:0",
            ])
            .args(args)
            .env("RUST_LOG", "warn,warren::serve=info")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let stdout = child.stdout.take().expect("piped");
        let mut lines = BufReader::new(stdout).lines();
        let field = |line: &str, name: &str| {
            line.split(&format!(" {name}="))
                .nth(1)
                .and_then(|rest| rest.split_whitespace().next())
                .unwrap_or_default()
                .to_string()
        };
        // Each listener logs its address, then the host says it serves.
        let mut listening = std::collections::HashMap::new();
        let (addr, grpc_addr, opaca_addr) = loop {
            let line = lines
                .next()
                .ok_or_else(|| anyhow::anyhow!("warren exited"))??;
            if line.contains(" listener=") {
                listening.insert(field(&line, "listener"), field(&line, "address"));
            }
            if line.contains("warren is serving") {
                let mut address = |name: &str| listening.remove(name).unwrap_or_default();
                break (address("http"), address("grpc"), address("opaca"));
            }
        };
        let started_in = begin.elapsed();
        // Keep draining its output so it never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Ok(Warren {
            child,
            addr,
            grpc_addr,
            opaca_addr,
            started_in,
        })
    }

    /// Open file descriptors of the process now.
    pub fn open_fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.child.id()))
            .map(|dir| dir.count())
            .unwrap_or(0)
    }

    /// Resident memory of the process now, in bytes.
    pub fn rss(&self) -> u64 {
        rss_of(&format!("/proc/{}/status", self.child.id()), "VmRSS:")
    }
}

impl Drop for Warren {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `kB` field of a /proc status file, in bytes.
pub fn rss_of(status_file: &str, field: &str) -> u64 {
    std::fs::read_to_string(status_file)
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}
