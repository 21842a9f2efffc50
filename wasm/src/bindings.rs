//! Host bindings generated from `wit/actor.wit`.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "warren-actor",
    imports: { default: async | trappable },
    exports: { default: async },
});

pub use warren::actor::types;
