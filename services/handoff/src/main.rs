//! `closeloop-handoff [SETTINGS_FILE]`: the handoff service as its own process.

fn main() -> std::process::ExitCode {
    closeloop_kit::host::main(&closeloop_handoff::SERVICE)
}
