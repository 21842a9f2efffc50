//! Dapr's time formats (due times, periods, TTLs, Go durations): any string parses or is
//! refused, never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use warren_wire::durations::{parse_due_time, parse_go, parse_period, parse_ttl};

fuzz_target!(|text: &str| {
    let now = chrono::Utc::now();
    let _ = parse_due_time(text, now);
    let _ = parse_ttl(text, now);
    let _ = parse_period(text);
    let _ = parse_go(text);
});
