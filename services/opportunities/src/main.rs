//! `closeloop-opportunities [SETTINGS_FILE]`: the opportunities service as its own process.

fn main() -> std::process::ExitCode {
    closeloop_kit::host::main(&closeloop_opportunities::SERVICE)
}
