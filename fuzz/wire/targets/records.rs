//! What is read back from the store: an actor record (with or without the reminder
//! changes of its last commit) and a timer or reminder record. Any bytes decode or are
//! refused as corrupt, never a panic; a record that decodes encodes back to a record that
//! decodes to the same thing; a job read back can fire and fail at any time.
#![no_main]

use libfuzzer_sys::fuzz_target;
use warren_wire::jobs::Job;
use warren_wire::record::ActorRecord;

fuzz_target!(|bytes: &[u8]| {
    let _ = ActorRecord::carries_reminders(bytes);
    let _ = ActorRecord::decode(bytes);
    if let Ok((record, changes)) = ActorRecord::decode_with(bytes) {
        let again = ActorRecord::decode_with(&record.encode_with(&changes))
            .expect("an encoded record decodes");
        assert_eq!(again.0.version, record.version);
        assert_eq!(again.0.size(), record.size());
        assert_eq!(again.1.len(), changes.len());
    }
    if let Ok(job) = serde_json::from_slice::<Job>(bytes) {
        let _ = job.action();
        for now in [
            job.due_ms,
            job.due_ms.saturating_add(1),
            0,
            i64::MIN,
            i64::MAX,
        ] {
            let _ = job.clone().advanced(now);
            let _ = job.clone().failed(now);
        }
    }
});
