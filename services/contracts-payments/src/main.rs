//! `closeloop-contracts-payments [SETTINGS_FILE]`: the contracts-and-payments service as its own
//! process.

fn main() -> std::process::ExitCode {
    closeloop_kit::host::main(&closeloop_contracts_payments::SERVICE)
}
