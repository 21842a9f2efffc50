//! `warren-bench nemesis --duration 10m [--seed N]`: the cluster nemesis of the test suite
//! (`tests/all/cluster/nemesis`), run for as long as asked. Three hosts on a PostgreSQL
//! server of their own take a list-append, reminder and bank load through Dapr HTTP,
//! Dapr gRPC and Spawn while faults land; it prints the operations, the faults of each
//! kind with the unavailability after them (p50 and max), and the anomalies the history
//! checker found. The harness and the checker live in the test binary, so that what is
//! run by hand is exactly what CI runs; this builds it and runs that one test.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// The nemesis test's full name in the `all` test binary.
const TEST: &str = "cluster::nemesis::the_cluster_keeps_every_acknowledged_operation_under_faults";

/// Run the nemesis for `duration`, with `seed` (default: the clock, printed at the start).
pub fn nemesis(duration: Duration, seed: Option<u64>) -> anyhow::Result<()> {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .ok_or_else(|| anyhow::anyhow!("benches/ has no parent directory"))?;
    // The hosts deploy the appender and bank guests.
    let built = Command::new(workspace.join("scripts/build-guests.sh"))
        .current_dir(workspace)
        .status()?;
    anyhow::ensure!(built.success(), "scripts/build-guests.sh failed: {built}");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut test = Command::new(cargo);
    test.current_dir(workspace)
        .args(["test", "-p", "warren-host", "--test", "all", "--"])
        .args(["--exact", TEST, "--nocapture"])
        .env(
            "WARREN_NEMESIS_SECONDS",
            duration.as_secs().max(1).to_string(),
        );
    if let Some(seed) = seed {
        test.env("WARREN_NEMESIS_SEED", seed.to_string());
    }
    let status = test.status()?;
    anyhow::ensure!(
        status.success(),
        "the nemesis failed ({status}): see the anomalies above"
    );
    Ok(())
}
