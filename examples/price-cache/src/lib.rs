//! A price cache: actor `price/{symbol}` keeps the last quote of its symbol, fetched from
//! a price API over HTTP, in its state.
//!
//! - `get` answers the kept quote, fetching a new one first when it is older than the
//!   configuration value `max_age_s` (default 60); if the API fails, it answers the kept
//!   quote marked `"stale": true` (or fails when it has none).
//! - `refresh` fetches now; `watch` takes a period (`"30s"`) and refreshes on a reminder.
//!
//! The API is the configuration value `api_url` (`warren config set price-cache api_url
//! http://...`); it answers `GET {api_url}/price/{symbol}` with JSON. The tenant's
//! `allowed_outbound_hosts` must name it. `scripts/run.sh` starts a local one.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use warren_guest::prelude::*;

struct PriceCache;

/// What the actor keeps: the API's answer and when it came.
#[derive(Serialize, Deserialize)]
struct Quote {
    quote: serde_json::Value,
    fetched_at_ms: u64,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    stale: bool,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Fetch the symbol's quote from the API and keep it.
fn refresh(symbol: &str) -> Result<Quote, Error> {
    let api = config::require("api_url")?;
    let url = format!("{}/price/{symbol}", api.trim_end_matches('/'));
    let response = http::Request::new("GET", &url)
        .header("accept", "application/json")
        .send()?;
    if response.status != 200 {
        return Err(Error::Failed(format!("{url} answered {}", response.status)));
    }
    let quote: serde_json::Value = serde_json::from_slice(&response.body)
        .map_err(|e| Error::Failed(format!("{url} answered no JSON: {e}")))?;
    let kept = Quote {
        quote,
        fetched_at_ms: now_ms(),
        stale: false,
    };
    state::set_json("quote", &kept)?;
    Ok(kept)
}

/// The kept quote, fetched again when older than `max_age_s`.
fn get(symbol: &str) -> Result<Quote, Error> {
    let max_age_ms = config::get("max_age_s")?
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or(60)
        * 1000;
    let kept: Option<Quote> = state::get_json("quote")?;
    match kept {
        Some(q) if now_ms().saturating_sub(q.fetched_at_ms) <= max_age_ms => Ok(q),
        kept => match (refresh(symbol), kept) {
            (Ok(fresh), _) => Ok(fresh),
            (Err(_), Some(old)) => Ok(Quote { stale: true, ..old }),
            (Err(e), None) => Err(e),
        },
    }
}

impl Actor for PriceCache {
    fn manifest() -> Manifest {
        Manifest::new("price-cache").with_type(
            ActorType::new("price")
                .description("The last quote of one symbol, from an HTTP price API")
                .actions(["get", "refresh", "watch"]),
        )
    }

    fn handle(ctx: &Context, action: &str, payload: &[u8]) -> Result<Vec<u8>, Error> {
        let symbol = ctx.target.id.as_str();
        match action {
            "get" => to_json(&get(symbol)?),
            "refresh" => to_json(&refresh(symbol)?),
            "watch" => {
                let every: String = json(payload)?;
                schedule::set_reminder("refresh", &every, &every, "", b"")?;
                to_json(&format!("refreshing {symbol} every {every}"))
            }
            other => Err(Error::NotFound(format!("price has no action {other:?}"))),
        }
    }
}

warren_guest::actor!(PriceCache);
