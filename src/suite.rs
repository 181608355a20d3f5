//! The suite: every service in one process on its default port with its own SQLite database
//! (`up`), one service in the foreground (`serve`), and local tokens (`token`). All of them go
//! through [`SERVICES`]: adding a service to the suite is one line there.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use closeloop_kit::Role;
use closeloop_kit::auth::{AuthSettings, TokenIssuer, load_or_create_secret, read_secret};
use closeloop_kit::host::{self, ServiceDef};
use tokio::sync::watch;

/// The services of the suite, in the order of their ports.
pub const SERVICES: &[&ServiceDef] = &[
    &closeloop_opportunities::SERVICE,
    &closeloop_contracts_payments::SERVICE,
    &closeloop_handoff::SERVICE,
    &closeloop_account_management::SERVICE,
];

/// Default port of the first service (opportunities); each next service takes the next port.
pub const BASE_PORT: u16 = 50051;

/// Where `closeloop up` keeps the local signing secret, under its data folder.
const SECRET_FILE: &str = "jwt-secret";

fn find(name: &str) -> anyhow::Result<&'static ServiceDef> {
    SERVICES
        .iter()
        .copied()
        .find(|def| def.name == name)
        .ok_or_else(|| {
            let names: Vec<&str> = SERVICES.iter().map(|def| def.name).collect();
            anyhow::anyhow!("unknown service {name:?}; available: {}", names.join(", "))
        })
}

/// Whether `auth` verifies tokens with something configured (a secret or a public key).
fn key_configured(auth: &AuthSettings) -> bool {
    auth.hs256_secret.as_deref().is_some_and(|s| !s.is_empty())
        || auth
            .public_key_pem
            .as_deref()
            .is_some_and(|s| !s.is_empty())
}

/// `closeloop up`.
pub async fn up(
    config: Option<&Path>,
    data_dir: &Path,
    host: &str,
    base_port: u16,
) -> anyhow::Result<()> {
    // What `closeloop demo` needs besides its defaults to find this suite (printed below).
    let mut demo_args = String::new();
    if host != "127.0.0.1" || base_port != BASE_PORT {
        let host = if host.contains(':') && !host.starts_with('[') {
            format!("[{host}]")
        } else {
            host.to_owned()
        };
        demo_args.push_str(&format!(" --target {host}:{base_port}"));
    }
    let default_data_dir = data_dir == Path::new("data");
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating the data folder {}", data_dir.display()))?;
    let data_dir = data_dir
        .canonicalize()
        .with_context(|| format!("resolving {}", data_dir.display()))?;

    let ports: Vec<u16> = (0..SERVICES.len())
        .map(|i| base_port.saturating_add(i as u16))
        .collect();
    let all = wire(config, &data_dir, host, &ports, |def| {
        format!(
            "sqlite://{}",
            data_dir.join(format!("{}.db", def.name)).display()
        )
    })?;

    let telemetry = closeloop_kit::telemetry::init("closeloop", &all[0].1.common.telemetry)
        .context("starting telemetry")?;

    let (stop_tx, stop_rx) = watch::channel(false);
    let mut running: Vec<(&ServiceDef, SocketAddr, _)> = Vec::new();
    for (def, settings) in all {
        let bound = host::build(def, settings)
            .await
            .with_context(|| format!("starting {}", def.name))?;
        let addr = bound.local_addr();
        let mut stop = stop_rx.clone();
        let task = tokio::spawn(bound.run_until(async move {
            let _ = stop.wait_for(|stop| *stop).await;
        }));
        running.push((def, addr, task));
    }

    println!(
        "closeloop is up. Databases and the signing secret are in {}.",
        data_dir.display()
    );
    println!();
    for (def, addr, _) in &running {
        println!("  {:<18} {addr}  {}", def.name, def.grpc.join(", "));
    }
    println!();
    println!("Every call needs a bearer token (health and reflection do not). Get one with:");
    println!("  TOKEN=$(closeloop token --subject alice --role sales_rep)");
    println!("and call, for example:");
    if let Some((_, addr, _)) = running.first() {
        println!(
            "  grpcurl -plaintext -H \"authorization: Bearer $TOKEN\" {addr} \
             closeloop.opportunities.v1.OpportunityService/ListOpportunities"
        );
    }
    if !default_data_dir {
        demo_args.push_str(&format!(" --data-dir {}", data_dir.display()));
    }
    println!();
    println!("Drive one whole loop through the four services, as the real roles would:");
    println!("  closeloop demo{demo_args}");
    println!();
    println!("Ctrl-C stops the suite (in-flight calls finish first).");

    closeloop_kit::server::shutdown_signal().await;
    let _ = stop_tx.send(true);
    let mut failures = Vec::new();
    for (def, _, task) in running {
        match task.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                failures.push(format!("{}: {}", def.name, closeloop_kit::error::Chain(&e)))
            }
            Err(e) => failures.push(format!("{}: {e}", def.name)),
        }
    }
    telemetry.shutdown().await;
    if !failures.is_empty() {
        bail!("{}", failures.join("; "));
    }
    Ok(())
}

/// The settings of every service of [`SERVICES`] as `closeloop up` runs them: each on `host` at
/// its port in `ports` (in the order of [`SERVICES`]) with the database `database` names, its
/// peers pointing at the others, tokens verified with the configured key or else the signing
/// secret kept in `data_dir` (created there if missing).
///
/// # Errors
/// When the settings do not load or the secret cannot be read or created.
pub fn wire(
    config: Option<&Path>,
    data_dir: &Path,
    host: &str,
    ports: &[u16],
    database: impl Fn(&ServiceDef) -> String,
) -> anyhow::Result<Vec<(&'static ServiceDef, host::Settings)>> {
    let mut all = Vec::with_capacity(SERVICES.len());
    for (def, port) in SERVICES.iter().copied().zip(ports) {
        let mut settings = host::load_settings(def, config)
            .with_context(|| format!("loading the settings of {}", def.name))?;
        if !key_configured(&settings.common.auth) {
            let path = data_dir.join(SECRET_FILE);
            let secret = load_or_create_secret(&path).with_context(|| {
                format!("reading or creating the signing secret {}", path.display())
            })?;
            settings.common.auth.hs256_secret = Some(secret);
        }
        settings.common.server.listen = format!("{host}:{port}");
        settings.common.database.url = database(def);
        // A peer is the service of the suite that serves its gRPC services.
        for peer in def.peers {
            if let Some(i) = SERVICES
                .iter()
                .position(|d| peer.services.iter().any(|s| d.grpc.contains(s)))
            {
                settings.set_peer(peer.name, format!("http://{host}:{}", ports[i]));
            }
        }
        all.push((def, settings));
    }
    Ok(all)
}

/// `closeloop serve <service>`.
pub async fn serve(config: Option<&Path>, name: &str) -> anyhow::Result<()> {
    let def = find(name)?;
    let settings = host::load_settings(def, config).context("loading settings")?;
    Ok(host::serve(def, settings).await?)
}

/// `closeloop token`: a token the running suite accepts, signed with the secret it uses (see
/// [`issuer`]).
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
    println!("{}", issuer(config, data_dir)?.mint(subject, roles, ttl));
    Ok(())
}

/// Mints tokens the running suite accepts: signed with the configured `auth.hs256_secret`, or
/// the one `closeloop up` keeps in its data folder. It never creates a secret: a token signed
/// with a new one would be refused by the suite.
///
/// # Errors
/// When the settings do not load, tokens are verified with a public key (minted elsewhere), or
/// there is no secret to sign with.
pub fn issuer(config: Option<&Path>, data_dir: &Path) -> anyhow::Result<TokenIssuer> {
    let mut auth = host::load_settings(SERVICES[0], config)
        .context("loading settings")?
        .common
        .auth;
    let has_secret = auth.hs256_secret.as_deref().is_some_and(|s| !s.is_empty());
    if !has_secret {
        if auth
            .public_key_pem
            .as_deref()
            .is_some_and(|s| !s.is_empty())
        {
            bail!("tokens are verified with a public key here; mint them with the key's owner");
        }
        let path = data_dir.join(SECRET_FILE);
        let secret = read_secret(&path)
            .with_context(|| format!("reading the signing secret {}", path.display()))?;
        let Some(secret) = secret else {
            bail!(
                "no signing secret at {} (looked there because neither auth.hs256_secret nor \
                 CLOSELOOP_AUTH__HS256_SECRET is set). Start the suite first (`closeloop up` \
                 creates it), or point --data-dir at the running suite's data folder, or set the \
                 secret the suite uses",
                path.display()
            );
        };
        auth.hs256_secret = Some(secret);
    }
    Ok(TokenIssuer::new(&auth)?)
}

/// `closeloop outbox <service> list|retry`: `retry` is `None` to list, `Some(None)` to retry
/// every parked command, `Some(Some(id))` to retry one.
pub async fn outbox(
    config: Option<&Path>,
    name: &str,
    data_dir: Option<&Path>,
    retry: Option<Option<String>>,
) -> anyhow::Result<()> {
    use closeloop_kit::outbox;
    let def = find(name)?;
    let mut settings = host::load_settings(def, config).context("loading settings")?;
    if let Some(dir) = data_dir {
        let file = dir.join(format!("{}.db", def.name));
        if !file.exists() {
            bail!("no database of {} at {}", def.name, file.display());
        }
        settings.common.database.url = format!("sqlite://{}", file.display());
    }
    // Opened, never migrated: an operator's command must not change the schema under the
    // replicas that run on it.
    let db = closeloop_kit::db::Db::connect(&settings.common.database)
        .await
        .context("opening the database")?;
    let result = async {
        match retry {
            Some(id) => {
                let n = outbox::retry(&db, id.as_deref()).await?;
                match id {
                    Some(id) if n == 0 => bail!("no parked command {id}"),
                    _ => println!("{n} command(s) back in line; the relay delivers them next"),
                }
            }
            None => {
                for peer in def.peers {
                    let b = outbox::backlog(&db, Some(peer.name)).await?;
                    println!(
                        "{:<14} pending {:>6}  parked {:>6}  oldest pending {} s",
                        peer.name,
                        b.pending,
                        b.parked,
                        b.lag.as_secs()
                    );
                }
                let unassigned = outbox::backlog(&db, Some("")).await?;
                if unassigned.pending > 0 {
                    println!(
                        "{:<14} pending {:>6}  (written by an older build; the relay of the peer \
                         serving each topic takes them over)",
                        "(no peer yet)", unassigned.pending
                    );
                }
                for p in outbox::parked(&db, 1000).await? {
                    println!(
                        "parked {}  {} -> {}  after {} attempt(s): {} {}",
                        p.id, p.topic, p.destination, p.attempts, p.code, p.message
                    );
                }
            }
        }
        Ok(())
    }
    .await;
    db.close().await;
    result
}
