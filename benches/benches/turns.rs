//! Criterion benches of figure 1: one turn of a warm Wasm actor doing nothing (`get`), in
//! process. `cargo bench -p warren-bench` after scripts/build-guests.sh; the figures with
//! many tasks, HTTP and processes are in `warren-bench` (see benches/RESULTS.md).

use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use warren_bench::inproc::{NoStore, call, runtime_with};
use warren_bench::procs::guest;
use warren_host::runtime::tenants::Limits;
use warren_host::runtime::{ActorId, TurnState};
use warren_host::store::Durability;
use warren_host::wasm::WasmConfig;

// The `warren` binary's allocator, so these turns cost what they cost there.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn turns(c: &mut Criterion) {
    let tokio = tokio::runtime::Builder::new_multi_thread()
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
    let setup = |name: &str, config| {
        let path = dir.path().join(name);
        tokio
            .block_on(runtime_with(
                &path,
                Durability::Relaxed,
                &["counter"],
                config,
            ))
            .expect("runtime with the counter guest (run scripts/build-guests.sh)")
    };
    let (fresh, wasm) = setup("fresh", config(0, false));
    let (kept, _) = setup("kept", WasmConfig::default());
    let (reused, _) = setup("reused", config(0, true));
    let bytes = std::fs::read(guest("counter")).expect("counter.wasm");
    let (component, _) = tokio
        .block_on(wasm.load(Arc::new(bytes)))
        .expect("counter loads");
    let limits = Limits::default();

    let mut group = c.benchmark_group("figure 1: turn of a Wasm actor doing nothing");
    // The floor: a fresh instance and the call, without the runtime core or sled.
    group.bench_function("floor: fresh instance + call", |b| {
        b.to_async(&tokio).iter(|| async {
            let actor = ActorId::new("default", "counter", "floor");
            let state = TurnState::new(actor.clone(), Arc::new(NoStore));
            let invocation = call(actor, "get", b"");
            let (result, _) = wasm
                .run_turn(&component, fresh.clone(), state, &invocation, &limits, None)
                .await;
            result.expect("the floor's turn runs")
        })
    });
    for (name, rt) in [
        ("runtime core, fresh instance", &fresh),
        ("runtime core, instance kept per actor", &kept),
        ("runtime core, instance reused across actors", &reused),
    ] {
        group.bench_function(name, |b| {
            b.to_async(&tokio).iter(|| async {
                let actor = ActorId::new("default", "counter", "c");
                rt.invoke(call(actor, "get", b"")).await.expect("invoke")
            })
        });
    }
    group.finish();
}

criterion_group!(benches, turns);
criterion_main!(benches);
