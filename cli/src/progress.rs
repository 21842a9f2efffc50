//! `warren deploy`'s progress on stderr: the upload, then the wait while the host compiles.
//! A live bar on a terminal; plain lines otherwise (logs, CI).

use std::io::IsTerminal;
use std::path::Path;
use std::time::{Duration, Instant};

use futures::Stream;
use indicatif::{ProgressBar, ProgressStyle};

/// Bytes handed to the connection at a time.
const CHUNK: usize = 64 * 1024;

/// The progress of one deploy.
pub struct Deploy {
    bar: Option<ProgressBar>,
    started: Instant,
    file: String,
}

impl Deploy {
    /// Start showing the deploy of `file`, `size` bytes.
    pub fn start(file: &Path, size: u64) -> Self {
        let file = file.display().to_string();
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(size);
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} {msg} [{bar:30}] {bytes}/{total_bytes} {elapsed}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            bar.set_message(format!("uploading {file}"));
            bar.enable_steady_tick(Duration::from_millis(100));
            bar
        });
        if bar.is_none() {
            eprintln!("uploading {file} ({size} bytes)");
        }
        Deploy {
            bar,
            started: Instant::now(),
            file,
        }
    }

    /// The request body: `wasm` in chunks, advancing the bar; once the last chunk is
    /// handed over, the host is compiling.
    pub fn upload(
        &self,
        wasm: Vec<u8>,
    ) -> impl Stream<Item = Result<bytes::Bytes, std::io::Error>> + Send + 'static {
        let bar = self.bar.clone();
        let wasm = bytes::Bytes::from(wasm);
        let chunks: Vec<bytes::Bytes> = (0..wasm.len())
            .step_by(CHUNK)
            .map(|at| wasm.slice(at..wasm.len().min(at + CHUNK)))
            .collect();
        let last = chunks.len().saturating_sub(1);
        futures::stream::iter(chunks.into_iter().enumerate().map(move |(i, chunk)| {
            if let Some(bar) = &bar {
                bar.inc(chunk.len() as u64);
            }
            if i == last {
                compiling(bar.as_ref());
            }
            Ok(chunk)
        }))
    }

    /// The host answered: `ok` when it deployed the component.
    pub fn done(self, ok: bool) {
        let took = self.started.elapsed().as_secs_f64();
        let line = if ok {
            format!("deployed {} in {took:.1} s", self.file)
        } else {
            format!("deploying {} failed after {took:.1} s", self.file)
        };
        match self.bar {
            Some(bar) => bar.finish_with_message(line),
            None => eprintln!("{line}"),
        }
    }
}

/// The upload is through: the host compiles now.
fn compiling(bar: Option<&ProgressBar>) {
    match bar {
        Some(bar) => {
            bar.set_style(
                ProgressStyle::with_template("{spinner} {msg} {elapsed}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.set_message("uploaded; the host is compiling");
        }
        None => eprintln!("uploaded; the host is compiling"),
    }
}
