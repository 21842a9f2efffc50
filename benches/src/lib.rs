//! Shared pieces of Warren's benchmarks: a closed-loop and fixed-rate HTTP load generator,
//! summaries that print median and percentiles, and process helpers.

pub mod inproc;
pub mod load;
pub mod procs;
pub mod stats;
