//! Dapr's HTTP bodies: a state transaction, and a timer or reminder registration (under
//! any name): parsed or refused with an error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use warren_wire::dapr_bodies::{parse_registration, parse_transaction};
use warren_wire::jobs::JobKind;

fuzz_target!(|input: (&str, &[u8])| {
    let (name, body) = input;
    let _ = parse_transaction(body);
    let now = chrono::Utc::now();
    for kind in [JobKind::Reminder, JobKind::Timer] {
        if let Ok(registration) = parse_registration(kind, name, body, now) {
            // What a registration schedules must be able to fire and fail.
            let job = registration.job;
            let due = job.due_ms;
            let _ = job.clone().advanced(due);
            let _ = job.failed(due);
        }
    }
});
