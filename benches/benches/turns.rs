//! Criterion benches of the in-process figures, one call at a time: figure 1 (a turn of a
//! Wasm actor doing nothing), figure 4 (activating a new actor) and figure 6 (a durable
//! turn, relaxed and sync). `cargo bench -p warren-bench` after scripts/build-guests.sh.
//! Throughput with many tasks, HTTP, reminders and processes are in `warren-bench` (see
//! benches/RESULTS.md).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, criterion_group, criterion_main};
use warren_bench::inproc::{call, empty_state, runtime_with};
use warren_bench::procs::guest;
use warren_host::runtime::egress::TenantEgress;
use warren_host::runtime::tenants::Limits;
use warren_host::runtime::{ActorId, Runtime, TurnState};
use warren_host::store::Durability;
use warren_host::wasm::{TurnSetting, WasmConfig};

// The `warren` binary's allocator, so these turns cost what they cost there.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn turns(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let config = |pinned, reuse| WasmConfig {
        pinned_instances: pinned,
        reuse_instances: reuse,
        ..WasmConfig::default()
    };
    let setup = |name: &str, durability, config| {
        let path = dir.path().join(name);
        rt.block_on(runtime_with(&path, durability, &["counter"], config))
            .expect("runtime with the counter guest (run scripts/build-guests.sh)")
    };
    let (fresh, wasm) = setup("fresh", Durability::Relaxed, config(0, false));
    let (kept, _) = setup("kept", Durability::Relaxed, WasmConfig::default());
    let (reused, _) = setup("reused", Durability::Relaxed, config(0, true));
    let (synced, _) = setup("sync", Durability::Sync, WasmConfig::default());
    let bytes = std::fs::read(guest("counter")).expect("counter.wasm");
    let (component, _) = rt
        .block_on(wasm.load_component(Arc::new(bytes)))
        .expect("counter loads");
    let limits = Limits::default();

    let mut group = c.benchmark_group("figure 1: turn of a Wasm actor doing nothing");
    // The floor: a fresh instance and the call, without the runtime core or sled.
    group.bench_function("floor: fresh instance + call", |b| {
        b.to_async(&rt).iter(|| async {
            let actor = ActorId::new("default", "counter", "floor");
            let state = TurnState::new(actor.clone(), empty_state());
            let invocation = call(actor, "get", b"");
            let outcome = wasm
                .run_turn(
                    &component,
                    fresh.clone(),
                    state,
                    &invocation,
                    TurnSetting {
                        limits: &limits,
                        cache: None,
                        config: None,
                        egress: TenantEgress::of("bench", limits.egress()),
                    },
                )
                .await;
            outcome.result.expect("the floor's turn runs")
        })
    });
    for (name, runtime) in [
        ("runtime core, fresh instance", &fresh),
        ("runtime core, instance kept per actor", &kept),
        ("runtime core, instance reused across actors", &reused),
    ] {
        bench_invoke(&mut group, &rt, name, runtime, ("c", "get", b""));
    }
    group.finish();

    let mut group = c.benchmark_group("figure 4: activation of a new actor (add 1)");
    let next = AtomicU64::new(0);
    group.bench_function("fresh actor, default instances", |b| {
        b.to_async(&rt).iter(|| async {
            let id = format!("a{}", next.fetch_add(1, Ordering::Relaxed));
            let actor = ActorId::new("default", "counter", &id);
            kept.invoke(call(actor, "add", b"1")).await.expect("invoke")
        })
    });
    group.finish();

    let mut group = c.benchmark_group("figure 6: durable turn (add 1), one actor");
    for (name, runtime) in [("relaxed", &kept), ("sync", &synced)] {
        bench_invoke(&mut group, &rt, name, runtime, ("durable", "add", b"1"));
    }
    group.finish();
}

/// One bench of `runtime.invoke`: `action` with `payload` on the counter actor `id`.
fn bench_invoke(
    group: &mut BenchmarkGroup<'_, WallTime>,
    rt: &tokio::runtime::Runtime,
    name: &str,
    runtime: &Runtime,
    (id, action, payload): (&str, &str, &[u8]),
) {
    group.bench_function(name, |b| {
        b.to_async(rt).iter(|| async {
            let actor = ActorId::new("default", "counter", id);
            runtime
                .invoke(call(actor, action, payload))
                .await
                .expect("invoke")
        })
    });
}

criterion_group!(benches, turns);
criterion_main!(benches);
