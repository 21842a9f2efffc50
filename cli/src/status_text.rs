//! `warren status` as text: the figures of the console's front page.

use std::fmt::Write;

use serde_json::Value;

fn number(v: &Value) -> String {
    match v.as_f64() {
        Some(n) if n.fract() == 0.0 => format!("{n:.0}"),
        Some(n) => format!("{n:.1}"),
        None => "–".to_string(),
    }
}

fn ms(v: &Value) -> String {
    match v.as_f64() {
        Some(n) => format!("{n} ms"),
        None => "–".to_string(),
    }
}

fn mib(v: &Value) -> String {
    match v.as_f64() {
        Some(n) => format!("{:.1} MiB", n / f64::from(1 << 20)),
        None => "–".to_string(),
    }
}

/// The figures of the status, named.
fn rows(view: &Value) -> [(&'static str, String); 12] {
    [
        ("turns/s (last 10 s)", number(&view["turns_per_second"])),
        ("p99 latency (last minute)", ms(&view["p99_ms"])),
        (
            "failed turns/s (last 10 s)",
            number(&view["failed_per_second"]),
        ),
        ("turns since start", number(&view["turns_total"])),
        ("failed turns since start", number(&view["failed_total"])),
        ("active actors", number(&view["active_actors"])),
        ("kept instances", number(&view["kept_instances"])),
        (
            "kept memory / budget",
            format!(
                "{} / {} (evicted {})",
                mib(&view["kept_memory_bytes"]),
                mib(&view["kept_memory_budget_bytes"]),
                number(&view["kept_evictions"])
            ),
        ),
        ("tenants", number(&view["tenants"])),
        ("components", number(&view["components"])),
        ("actor types", number(&view["actor_types"])),
        (
            "compiled / artifact cache hits",
            format!(
                "{} / {}",
                number(&view["components_compiled"]),
                number(&view["artifact_cache_hits"])
            ),
        ),
    ]
}

/// The host at `url` as `view` (the admin API's `/admin/v1/status`) describes it.
pub fn render(url: &str, view: &Value) -> String {
    let mut out = String::new();
    let up = view["uptime_seconds"].as_u64().unwrap_or(0);
    let _ = writeln!(
        out,
        "warren {} at {url}, up {}h{:02}m{:02}s",
        view["version"].as_str().unwrap_or("?"),
        up / 3600,
        (up / 60) % 60,
        up % 60
    );
    for (name, value) in rows(view) {
        let _ = writeln!(out, "  {name:<32}{value}");
    }
    let failures = view["failures"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    if failures.is_empty() {
        let _ = writeln!(out, "no failed turns since start");
        return out;
    }
    let _ = writeln!(out, "last failed turns (newest first):");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    for f in failures.iter().take(10) {
        let ago = (now - f["at_ms"].as_i64().unwrap_or(now)).max(0) / 1000;
        let _ = writeln!(
            out,
            "  {ago:>5} s ago  {}/{}/{} {} [{}]: {}",
            f["tenant"].as_str().unwrap_or(""),
            f["actor_type"].as_str().unwrap_or(""),
            f["actor_id"].as_str().unwrap_or(""),
            f["action"].as_str().unwrap_or(""),
            f["outcome"].as_str().unwrap_or(""),
            f["message"]
                .as_str()
                .unwrap_or("")
                .lines()
                .next()
                .unwrap_or("")
                .chars()
                .take(160)
                .collect::<String>()
        );
        for line in f["output"].as_array().into_iter().flatten() {
            let _ = writeln!(out, "           | {}", line.as_str().unwrap_or(""));
        }
    }
    out
}
