//! Compile Warren's own protobuf file (host to host) with a pure-Rust compiler (protox), so building needs
//! no system `protoc`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The protocols' own files are compiled in `warren-wire`.
    let files = ["warren_cluster.proto"];
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
