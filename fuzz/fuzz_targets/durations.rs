//! Dapr time formats: any string parses or is refused, never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use warren_host::runtime::durations::{parse_due_time, parse_period, parse_ttl};

fuzz_target!(|text: &str| {
    let now = chrono::Utc::now();
    let _ = parse_due_time(text, now);
    let _ = parse_ttl(text, now);
    let _ = parse_period(text);
});
