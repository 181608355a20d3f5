//! Running the suite: every service in one process on its default port with its own SQLite
//! database (`up`), one service in the foreground (`serve`), and local tokens (`token`).

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use closeloop_kit::Role;
use closeloop_kit::auth::{TokenIssuer, load_or_create_secret};
use tokio::sync::watch;

/// Default port of the first service (opportunities); each next service takes the next port.
pub const BASE_PORT: u16 = 50051;

const SECRET_FILE: &str = "jwt-secret";

/// Fills in what the local suite decides itself: the signing secret (created on first run under
/// the data folder unless configured) and the database file.
fn local_secret(
    auth: &mut closeloop_kit::auth::AuthSettings,
    data_dir: &Path,
) -> anyhow::Result<()> {
    let configured = auth.hs256_secret.as_deref().is_some_and(|s| !s.is_empty())
        || auth
            .public_key_pem
            .as_deref()
            .is_some_and(|s| !s.is_empty());
    if !configured {
        let path = data_dir.join(SECRET_FILE);
        let secret = load_or_create_secret(&path).with_context(|| {
            format!("reading or creating the signing secret {}", path.display())
        })?;
        auth.hs256_secret = Some(secret);
    }
    Ok(())
}

/// `closeloop up`.
pub async fn up(
    config: Option<&Path>,
    data_dir: &Path,
    host: &str,
    base_port: u16,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating the data folder {}", data_dir.display()))?;
    let data_dir = data_dir
        .canonicalize()
        .with_context(|| format!("resolving {}", data_dir.display()))?;

    let mut opportunities =
        closeloop_opportunities::load_settings(config).context("loading settings")?;
    local_secret(&mut opportunities.common.auth, &data_dir)?;
    opportunities.common.server.listen = format!("{host}:{base_port}");
    opportunities.common.database.url =
        format!("sqlite://{}", data_dir.join("opportunities.db").display());

    let telemetry = closeloop_kit::telemetry::init("closeloop", &opportunities.common.telemetry)
        .context("starting telemetry")?;

    let (stop_tx, stop_rx) = watch::channel(false);
    let until_stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };

    let service = closeloop_opportunities::build(opportunities)
        .await
        .context("starting opportunities")?;
    let opportunities_addr = service.local_addr();
    let opportunities_task = tokio::spawn(service.run_until(until_stopped(stop_rx.clone())));

    println!(
        "closeloop is up. Databases and the signing secret are in {}.",
        data_dir.display()
    );
    println!();
    println!(
        "  opportunities  {opportunities_addr}  closeloop.opportunities.v1.OpportunityService"
    );
    println!();
    println!("Every call needs a bearer token (health and reflection do not). Get one with:");
    println!("  TOKEN=$(closeloop token --subject alice --role sales_rep)");
    println!("and call, for example:");
    println!(
        "  grpcurl -plaintext -H \"authorization: Bearer $TOKEN\" {opportunities_addr} \
         closeloop.opportunities.v1.OpportunityService/ListOpportunities"
    );
    println!();
    println!("Ctrl-C stops the suite (in-flight calls finish first).");

    closeloop_kit::server::shutdown_signal().await;
    let _ = stop_tx.send(true);
    let result = opportunities_task.await.context("opportunities task")?;
    telemetry.shutdown().await;
    result.context("opportunities")?;
    Ok(())
}

/// `closeloop serve <service>`.
pub async fn serve(config: Option<&Path>, service: &str) -> anyhow::Result<()> {
    match service {
        "opportunities" => {
            let settings =
                closeloop_opportunities::load_settings(config).context("loading settings")?;
            let telemetry = closeloop_kit::telemetry::init(
                closeloop_opportunities::SERVICE_NAME,
                &settings.common.telemetry,
            )
            .context("starting telemetry")?;
            let result = async {
                let service = closeloop_opportunities::build(settings).await?;
                tracing::info!(addr = %service.local_addr(), "opportunities listening");
                service
                    .run_until(closeloop_kit::server::shutdown_signal())
                    .await
            }
            .await;
            telemetry.shutdown().await;
            Ok(result?)
        }
        other => bail!("unknown service {other:?}; available: opportunities"),
    }
}

/// `closeloop token`.
pub fn token(
    config: Option<&Path>,
    data_dir: &Path,
    subject: &str,
    roles: &[Role],
    ttl: Duration,
) -> anyhow::Result<()> {
    if subject.trim().is_empty() {
        bail!("--subject must not be empty");
    }
    let mut settings =
        closeloop_opportunities::load_settings(config).context("loading settings")?;
    if settings
        .common
        .auth
        .public_key_pem
        .as_deref()
        .is_some_and(|s| !s.is_empty())
        && settings
            .common
            .auth
            .hs256_secret
            .as_deref()
            .is_none_or(str::is_empty)
    {
        bail!("tokens are verified with a public key here; mint them with the key's owner");
    }
    local_secret(&mut settings.common.auth, data_dir)?;
    let issuer = TokenIssuer::new(&settings.common.auth)?;
    println!("{}", issuer.mint(subject, roles, ttl));
    Ok(())
}
