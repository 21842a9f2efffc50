//! Latency summaries printed the same way by every benchmark.

use std::time::Duration;

use hdrhistogram::Histogram;

/// A latency histogram in nanoseconds (1 ns .. 100 s, 3 significant digits).
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 100_000_000_000, 3).expect("valid histogram bounds")
}

/// What one measured configuration did.
#[derive(Clone, Debug)]
pub struct Summary {
    pub name: String,
    pub count: u64,
    pub elapsed: Duration,
    pub p50: Duration,
    pub p90: Duration,
    pub p99: Duration,
    pub errors: u64,
}

impl Summary {
    pub fn new(name: &str, hist: &Histogram<u64>, elapsed: Duration, errors: u64) -> Self {
        let q = |q: f64| Duration::from_nanos(hist.value_at_quantile(q));
        Summary {
            name: name.to_string(),
            count: hist.len(),
            elapsed,
            p50: q(0.50),
            p90: q(0.90),
            p99: q(0.99),
            errors,
        }
    }

    /// Operations per second.
    pub fn rate(&self) -> f64 {
        self.count as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Throughput and median latency as ratios to `baseline`'s.
    pub fn ratios(&self, baseline: &Summary) -> (f64, f64) {
        (
            self.rate() / baseline.rate().max(1e-9),
            self.p50.as_secs_f64() / baseline.p50.as_secs_f64().max(1e-12),
        )
    }

    /// Print one line; with a baseline, the throughput and median ratios to it.
    pub fn print(&self, baseline: Option<&Summary>) {
        let ratio = baseline
            .map(|b| {
                let (throughput, median) = self.ratios(b);
                format!(
                    "  | vs {}: throughput x{throughput:.2}, median x{median:.2}",
                    b.name
                )
            })
            .unwrap_or_default();
        println!(
            "{:<44} n={:<8} {:>10.0}/s  median(p50) {:>9}  p90 {:>9}  p99 {:>9}  errors {}{}",
            self.name,
            self.count,
            self.rate(),
            fmt(self.p50),
            fmt(self.p90),
            fmt(self.p99),
            self.errors,
            ratio
        );
    }
}

/// A duration in the unit that reads best.
pub fn fmt(d: Duration) -> String {
    let ns = d.as_nanos();
    if ns < 10_000 {
        format!("{ns}ns")
    } else if ns < 10_000_000 {
        format!("{:.1}µs", ns as f64 / 1e3)
    } else {
        format!("{:.2}ms", ns as f64 / 1e6)
    }
}
