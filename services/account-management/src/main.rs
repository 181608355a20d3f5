//! `closeloop-account-management [SETTINGS_FILE]`: the account-management service as its own
//! process.

fn main() -> std::process::ExitCode {
    closeloop_kit::host::main(&closeloop_account_management::SERVICE)
}
