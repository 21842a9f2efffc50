//! What the clients did and saw: one record per operation, with when it was sent and
//! when its answer came, on a clock shared by every client and by the nemesis.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What an operation asked of a list actor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    Append(String),
    Read,
}

/// What came back. Any failure is taken as unknown: the turn may have run.
#[derive(Clone, Debug)]
pub enum Outcome {
    /// The list the actor answered with.
    Ok(Vec<String>),
    /// An error or no answer in time.
    Unknown(String),
}

/// One operation on a list actor.
#[derive(Clone, Debug)]
pub struct Op {
    pub client: usize,
    pub actor: String,
    pub kind: Kind,
    /// `http`, `grpc` or `spawn`.
    pub protocol: &'static str,
    /// The index of the host it was sent to.
    pub host: usize,
    pub invoked: Duration,
    pub completed: Duration,
    pub outcome: Outcome,
}

impl Op {
    /// The list seen, if the operation succeeded.
    pub fn seen(&self) -> Option<&[String]> {
        match &self.outcome {
            Outcome::Ok(list) => Some(list),
            Outcome::Unknown(_) => None,
        }
    }
}

impl std::fmt::Display for Op {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match &self.kind {
            Kind::Append(e) => format!("append {e}"),
            Kind::Read => "read".to_string(),
        };
        let outcome = match &self.outcome {
            Outcome::Ok(list) => format!("ok {} items, last {:?}", list.len(), list.last()),
            Outcome::Unknown(why) => format!("unknown: {why}"),
        };
        write!(
            f,
            "[{:>8.3}s..{:>8.3}s] client {} via {} to host {}: {} {kind} -> {outcome}",
            self.invoked.as_secs_f64(),
            self.completed.as_secs_f64(),
            self.client,
            self.protocol,
            self.host,
            self.actor,
        )
    }
}

/// A one-shot reminder a client registered; when it fires, it appends `element`.
#[derive(Clone, Debug)]
pub struct Reminder {
    pub actor: String,
    pub element: String,
    pub due: Duration,
    /// Registration acknowledged (else unknown).
    pub acknowledged: bool,
}

/// A bank transfer a client asked for.
#[derive(Clone, Debug)]
pub struct Transfer {
    pub amount: i64,
    pub acknowledged: bool,
}

/// A fault the nemesis applied, from its start to its healing.
#[derive(Clone, Debug)]
pub struct Fault {
    pub kind: &'static str,
    pub host: Option<usize>,
    pub start: Duration,
    pub end: Duration,
}

/// Everything recorded in one run.
pub struct History {
    pub started: Instant,
    pub ops: Mutex<Vec<Op>>,
    pub reminders: Mutex<Vec<Reminder>>,
    pub transfers: Mutex<Vec<Transfer>>,
    pub faults: Mutex<Vec<Fault>>,
}

impl History {
    pub fn new() -> Self {
        History {
            started: Instant::now(),
            ops: Mutex::default(),
            reminders: Mutex::default(),
            transfers: Mutex::default(),
            faults: Mutex::default(),
        }
    }

    /// Time since the run started.
    pub fn now(&self) -> Duration {
        self.started.elapsed()
    }
}
