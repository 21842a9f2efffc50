//! Component upload validation: any bytes are refused with a message or load as a
//! component, never panic or hang.
#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use warren_host::wasm::{WasmConfig, WasmEngine};

struct Fixture {
    rt: tokio::runtime::Runtime,
    engine: Arc<WasmEngine>,
    _cache: tempfile::TempDir,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let cache = tempfile::tempdir().unwrap();
        let config = WasmConfig { max_instances: 8, ..WasmConfig::default() };
        let engine = rt.block_on(async { WasmEngine::new(config, cache.path()) }).unwrap();
        Fixture { rt, engine, _cache: cache }
    })
}

fuzz_target!(|wasm: &[u8]| {
    let f = fixture();
    let _ = f.rt.block_on(f.engine.load_component(Arc::new(wasm.to_vec())));
});
