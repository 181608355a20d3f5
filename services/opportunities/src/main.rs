//! `closeloop-opportunities`: the opportunities service as its own process.

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let file = std::env::args_os().nth(1).map(std::path::PathBuf::from);
    let settings = match closeloop_opportunities::load_settings(file.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("closeloop-opportunities: settings: {e}");
            return ExitCode::from(2);
        }
    };
    let telemetry = match closeloop_kit::telemetry::init(
        closeloop_opportunities::SERVICE_NAME,
        &settings.common.telemetry,
    ) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("closeloop-opportunities: {e}");
            return ExitCode::from(2);
        }
    };
    let outcome = match closeloop_opportunities::build(settings).await {
        Ok(service) => {
            service
                .run_until(closeloop_kit::server::shutdown_signal())
                .await
        }
        Err(e) => Err(e),
    };
    telemetry.shutdown().await;
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %closeloop_kit::error::Chain(&e), "closeloop-opportunities failed");
            eprintln!(
                "closeloop-opportunities: {}",
                closeloop_kit::error::Chain(&e)
            );
            ExitCode::FAILURE
        }
    }
}
