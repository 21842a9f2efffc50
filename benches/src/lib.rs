//! Shared pieces of Warren's benchmarks: a closed-loop and fixed-rate HTTP load generator,
//! summaries that print median and percentiles, process helpers, and the in-process setup
//! the figures and the criterion benches share.

pub mod inproc;
pub mod load;
pub mod procs;
pub mod stats;
