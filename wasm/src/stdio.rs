//! Guest stdout and stderr, sent to `tracing` with the actor's identity.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

use warren_core::runtime::activity::{FAILURE_LINE_CHARS, FAILURE_LINES};
use warren_core::runtime::config::ComponentConfig;

/// Bytes of output one turn may log; the rest is dropped (and counted) so a chatty guest
/// cannot flood the host's logs.
const TURN_OUTPUT_BUDGET: usize = 16 * 1024;

/// Who writes: the actor, the trace of its turn when it has one, and its component's
/// configuration (whose secrets never reach the log).
#[derive(Clone)]
struct Writer {
    actor: Arc<str>,
    trace_id: Option<Arc<str>>,
    config: Option<Arc<ComponentConfig>>,
}

/// One of a turn's output streams.
#[derive(Clone)]
pub struct GuestOutput {
    /// Whose turn writes; changes with each turn of a kept or reused instance.
    writer: Arc<Mutex<Writer>>,
    stream: &'static str,
    budget: Arc<AtomicUsize>,
    /// The turn's first lines, kept in case the turn fails.
    lines: Arc<Mutex<Vec<String>>>,
}

impl GuestOutput {
    /// The stdout and stderr of one turn of `actor`, sharing one budget.
    pub fn pair(actor: &str) -> (GuestOutput, GuestOutput) {
        let writer = Arc::new(Mutex::new(Writer {
            actor: actor.into(),
            trace_id: None,
            config: None,
        }));
        let budget = Arc::new(AtomicUsize::new(TURN_OUTPUT_BUDGET));
        let lines = Arc::new(Mutex::new(Vec::new()));
        let out = GuestOutput {
            writer: writer.clone(),
            stream: "stdout",
            budget: budget.clone(),
            lines: lines.clone(),
        };
        let err = GuestOutput {
            writer,
            stream: "stderr",
            budget,
            lines,
        };
        (out, err)
    }

    /// Start a new turn of `actor` (in trace `trace_id`, if traced, and with its
    /// component's `config`, if it has any) on the same streams.
    pub fn relabel(
        &self,
        actor: &str,
        trace_id: Option<&str>,
        config: Option<Arc<ComponentConfig>>,
    ) {
        *self.writer.lock().unwrap_or_else(|p| p.into_inner()) = Writer {
            actor: actor.into(),
            trace_id: trace_id.map(Arc::from),
            config,
        };
        self.budget.store(TURN_OUTPUT_BUDGET, Ordering::Relaxed);
        self.lines.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    /// The lines the turn wrote so far (the first [`FAILURE_LINES`]), each prefixed with
    /// its stream; the next turn starts without them.
    pub fn take_lines(&self) -> Vec<String> {
        std::mem::take(&mut *self.lines.lock().unwrap_or_else(|p| p.into_inner()))
    }

    fn keep(&self, text: &str) {
        let mut lines = self.lines.lock().unwrap_or_else(|p| p.into_inner());
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            if lines.len() == FAILURE_LINES {
                break;
            }
            let line: String = line.chars().take(FAILURE_LINE_CHARS).collect();
            lines.push(format!("{}: {line}", self.stream));
        }
    }

    fn log(&self, bytes: &[u8]) {
        let Writer {
            actor,
            trace_id,
            config,
        } = self
            .writer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let trace_id = trace_id.as_deref();
        let left = self.budget.load(Ordering::Relaxed);
        if left == 0 {
            return;
        }
        let take = bytes.len().min(left);
        self.budget.fetch_sub(take, Ordering::Relaxed);
        let text = String::from_utf8_lossy(&bytes[..take]);
        // A secret written in one piece is redacted; one split across writes is not
        // recognised (README says so).
        let text = match &config {
            Some(config) => config.redact(&text).into_owned(),
            None => text.into_owned(),
        };
        let text = text.trim_end_matches('\n');
        if !text.is_empty() {
            self.keep(text);
            tracing::info!(target: "warren::guest", actor = %actor, stream = self.stream, trace_id, "{text}");
        }
        if take < bytes.len() {
            tracing::warn!(target: "warren::guest", actor = %actor, "turn output over {TURN_OUTPUT_BUDGET} bytes; the rest is dropped");
        }
    }
}

impl IsTerminal for GuestOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestOutput {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }

    /// Written straight to the log: the default adapter buffers in a background task,
    /// and a turn's instance is dropped before that task would run.
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }
}

impl OutputStream for GuestOutput {
    fn write(&mut self, bytes: bytes::Bytes) -> StreamResult<()> {
        self.log(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(64 * 1024)
    }
}

#[async_trait::async_trait]
impl Pollable for GuestOutput {
    async fn ready(&mut self) {}
}

impl AsyncWrite for GuestOutput {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.log(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
