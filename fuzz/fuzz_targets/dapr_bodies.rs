//! Dapr JSON bodies (timer and reminder registrations, state transactions): any bytes
//! parse or are refused with an error, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use warren_host::api::dapr_http::{parse_registration, parse_transaction};
use warren_host::runtime::scheduler::JobKind;

fuzz_target!(|body: &[u8]| {
    let _ = parse_transaction(body);
    let _ = parse_registration(JobKind::Reminder, "r", body, "ERR_ACTOR_REMINDER_CREATE");
    let _ = parse_registration(JobKind::Timer, "t", body, "ERR_ACTOR_TIMER_CREATE");
});
