//! Compile the protocols' protobuf files with a pure-Rust compiler (protox), so building
//! needs no system `protoc`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = [
        "dapr_common.proto",
        "dapr_runtime.proto",
        "dapr_actors.proto",
        "spawn.proto",
    ];
    for file in files {
        println!("cargo:rerun-if-changed=proto/{file}");
    }
    let descriptors = protox::compile(files, ["proto"])?;
    tonic_prost_build::configure()
        .build_server(true)
        // The client is for tests and tools that drive Warren from Rust.
        .build_client(true)
        .compile_fds(descriptors)?;
    Ok(())
}
