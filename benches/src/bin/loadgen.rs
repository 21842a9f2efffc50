//! `loadgen`: drive any HTTP endpoint with N keep-alive connections, closed loop or at a
//! fixed rate, and print throughput with median, p90 and p99 latency.
//!
//!   loadgen --addr 127.0.0.1:3500 --path /v1.0/actors/counter/c{c}/method/get -c 64 -d 10s
//!   loadgen --addr 127.0.0.1:3500 --path ... --rate 10000

use std::time::Duration;

use bytes::Bytes;
use clap::Parser;
use warren_bench::load::{LoadSpec, run};

#[derive(Parser)]
struct Args {
    /// Server as host:port.
    #[arg(long)]
    addr: String,
    /// Request path; `{c}` becomes the connection index.
    #[arg(long)]
    path: String,
    #[arg(long, default_value = "POST")]
    method: String,
    #[arg(long, default_value = "")]
    body: String,
    /// Extra header as `name: value` (repeatable).
    #[arg(long = "header")]
    headers: Vec<String>,
    #[arg(short, long, default_value_t = 32)]
    connections: usize,
    #[arg(short, long, default_value = "10s", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// Total requests per second; closed loop without it.
    #[arg(long)]
    rate: Option<f64>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let headers = args
        .headers
        .iter()
        .filter_map(|h| h.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let summary = run(LoadSpec {
        name: format!("{} {}", args.method, args.path),
        addr: args.addr,
        method: args.method.parse()?,
        path: args.path,
        actors: Vec::new(),
        body: Bytes::from(args.body),
        headers,
        connections: args.connections,
        duration: args.duration,
        rate: args.rate,
        tls: None,
    })
    .await?;
    summary.print(None);
    Ok(())
}
