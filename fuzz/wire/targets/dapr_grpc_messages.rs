//! Dapr's gRPC actor requests: any bytes decode as each request message or are refused,
//! and what decodes is translated as the adapter does (state changes, timer and reminder
//! jobs with their failure policy), never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use prost::Message;
use warren_wire::dapr_grpc::{reminder_job, timer_job, transaction};
use warren_wire::dapr_proto::runtime as pb;

fuzz_target!(|bytes: &[u8]| {
    let now = chrono::Utc::now();
    let _ = pb::InvokeActorRequest::decode(bytes);
    let _ = pb::GetActorStateRequest::decode(bytes);
    let _ = pb::UnregisterActorTimerRequest::decode(bytes);
    let _ = pb::UnregisterActorReminderRequest::decode(bytes);
    let _ = pb::GetActorReminderRequest::decode(bytes);
    if let Ok(request) = pb::ExecuteActorStateTransactionRequest::decode(bytes) {
        let _ = transaction(request.operations);
    }
    if let Ok(request) = pb::RegisterActorTimerRequest::decode(bytes)
        && let Ok(job) = timer_job(request, now)
    {
        let _ = job.clone().advanced(job.due_ms);
        let _ = job.failed(now.timestamp_millis());
    }
    if let Ok(request) = pb::RegisterActorReminderRequest::decode(bytes)
        && let Ok(job) = reminder_job(request, now)
    {
        let _ = job.clone().advanced(job.due_ms);
        let _ = job.failed(now.timestamp_millis());
    }
});
