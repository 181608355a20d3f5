//! Compiles the benchmark's echo service (`src/bench/echo.proto`) with the vendored `protoc`,
//! the way `shared/proto/build.rs` compiles the public API. The echo service is a measuring
//! instrument, not part of the API contract, so it lives beside the benchmark and not under
//! `proto/`.

use std::path::Path;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/bench");
    let proto = dir.join("echo.proto");

    let mut config = tonic_prost_build::Config::new();
    config.protoc_executable(protoc_bin_vendored::protoc_bin_path()?);
    // `bytes` fields as `bytes::Bytes`: the client clones the payload per call for free, so the
    // echo baseline measures the transport and not a memcpy.
    config.bytes(["."]);

    tonic_prost_build::configure().compile_with_config(config, &[&proto], &[&dir])?;

    println!("cargo:rerun-if-changed={}", proto.display());
    Ok(())
}
