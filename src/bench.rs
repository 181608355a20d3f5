//! `closeloop bench`: measures the opportunities service against the limits it cannot beat.

/// Benchmark options.
#[derive(clap::Args)]
pub struct Args {}

/// Runs the benchmark.
pub async fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("the benchmark is not built yet")
}
