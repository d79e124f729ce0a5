use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::{Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use outreach_api::audit_chain::{self, WholeChain};
use outreach_auth::{DevIssuer, DevProvider, Role, TokenRequest};
use outreach_intake::sample::{Mode, Publisher};
use outreach_projections::ProjectionRunner;
use peer_outreach::privacy_migrate::progress::Progress;
use peer_outreach::privacy_migrate::{self, Position};
use peer_outreach::{database, runner_settings, telemetry, Service, Settings};

// Projections decode every event into a JSON tree on one thread and drop it on another; with
// glibc's malloc that cost a rebuild about 40% of its CPU.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// peer-outreach: routine, confidential peer-support outreach after patient-safety events.
#[derive(Parser)]
#[command(version)]
struct Cli {
    /// A TOML file overriding the defaults (see config/default.toml).
    #[arg(long, global = true, env = "PEER_OUTREACH_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Apply migrations, then run intake, projections and the HTTP API (the default).
    Run,
    /// Apply the database migrations as the owner (database.migration_url), grant the runtime
    /// role (database.url) exactly its privileges, and exit.
    Migrate,
    /// Create the incidents and dead-letter topics if they are missing.
    CreateTopics,
    /// The members' data keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Personal data in the event store.
    Privacy {
        #[command(subcommand)]
        command: PrivacyCommand,
    },
    /// Read models.
    Projections {
        #[command(subcommand)]
        command: ProjectionCommand,
    },
    /// A development identity provider for local runs: its own key pair, and tokens from it.
    DevIssuer {
        /// Where its key pair and public key set are kept.
        #[arg(long, global = true, default_value = ".dev-issuer")]
        dir: PathBuf,
        #[command(subcommand)]
        command: DevIssuerCommand,
    },
    /// The access audit of reads of personal data.
    AccessAudit {
        #[command(subcommand)]
        command: AccessAuditCommand,
    },
    /// Publish sample CloudEvents (by default every file in schemas/examples) to the incidents topic.
    Publish {
        /// Files or directories of CloudEvents in structured JSON.
        #[arg(default_value = "schemas/examples")]
        paths: Vec<PathBuf>,
        #[arg(long, value_enum, default_value_t = PublishMode::Structured)]
        mode: PublishMode,
    },
}

#[derive(Subcommand)]
enum ProjectionCommand {
    /// List the projections and how far each is behind.
    List,
    /// Drop a read model and rebuild it from the event store.
    Rebuild { name: String },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Move every data key (and the blind index's key) from the configured key-encryption key
    /// (privacy.key_encryption_key) to a new one, in batches of one transaction each, as the
    /// owner (database.migration_url). Resumable: a key already under the new KEK is skipped,
    /// so after a kill run it again. Then configure the new KEK, and destroy the old one.
    Rewrap {
        /// Where the new key-encryption key is: `file:PATH` or `env:VARIABLE` (32 bytes in
        /// base64). `keys generate` makes one.
        #[arg(long)]
        to: String,
        /// Keys per transaction.
        #[arg(long, default_value_t = 500)]
        batch: i64,
    },
    /// Print a fresh key-encryption key (base64), for a file or a secret store.
    Generate,
}

#[derive(Subcommand)]
enum PrivacyCommand {
    /// Seal what events stored before issue 27 keep in the clear (run once, as the owner).
    ///
    /// A case opening's member profile, the staff ids of members' records and of reports:
    /// each is sealed under the member's live key, or replaced by null where the member has no
    /// key (purged) or the part is from before a purge of a member named again since; a
    /// purge's staff id becomes "". No key is made. Connects as the owner
    /// (database.migration_url): the runtime role cannot rewrite events. In batches of one
    /// transaction each, progress on stderr; resumable: what is sealed is skipped, so after a
    /// kill run it again. Then the cases and member records stored before issue 27, whose ids
    /// were derived from staff ids, are renamed: to the id their member's live key derives, or
    /// a random one; every row naming them is rewritten with them, the access audit included
    /// (verified first, re-chained after, the rewrite recorded in it). No read model needs
    /// rebuilding.
    Migrate {
        /// Events (sealing), or cases and member records (renaming), per transaction.
        #[arg(long, default_value_t = 500)]
        batch: i64,
    },
}

#[derive(Subcommand)]
enum AccessAuditCommand {
    /// Walk the audit's whole hash chain: exits non-zero naming the first entry that was
    /// altered, removed or put in out of place; prints the newest entry's hash otherwise.
    Verify,
}

#[derive(Subcommand)]
enum DevIssuerCommand {
    /// Make the key pair (once; kept in --dir) and print the settings that trust it.
    Init {
        /// Print the settings as `export` lines for a shell to `eval`.
        #[arg(long)]
        env: bool,
        /// Also print the dashboard's sign-in settings for the issuer served here by
        /// `dev-issuer serve`, e.g. http://127.0.0.1:8090.
        #[arg(long)]
        provider: Option<String>,
        /// Where the service serves (for the dashboard's redirect URI).
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        service: String,
    },
    /// Serve the issuer as an OpenID provider for signing in to the dashboard locally:
    /// discovery, keys, a development-only authorize page and a token endpoint (PKCE).
    Serve {
        #[arg(long, default_value = "127.0.0.1:8090")]
        listen: std::net::SocketAddr,
        /// How long the tokens it issues are valid, in minutes.
        #[arg(long, default_value_t = 480)]
        minutes: u64,
    },
    /// Print a signed token for someone with the given role.
    Token {
        /// director, program-manager, peer-supporter, safety-office, care-team-member, service
        #[arg(long)]
        role: Role,
        /// The hospital staff id: a supporter's cases and a member's own record are found by it.
        #[arg(long)]
        staff_id: Option<String>,
        /// Who the token is for; defaults to `dev|<role>`.
        #[arg(long)]
        subject: Option<String>,
        /// How long the token is valid, in minutes.
        #[arg(long, default_value_t = 480)]
        minutes: i64,
    },
}

/// The client id the dashboard has with the development issuer.
const DEV_CLIENT_ID: &str = "peer-outreach-dashboard";

#[derive(Clone, Copy, ValueEnum)]
enum PublishMode {
    Structured,
    Binary,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // The development issuer needs no configuration, database or broker.
    if let Some(Command::DevIssuer { dir, command }) = &cli.command {
        return dev_issuer(dir, command).await;
    }
    if let Some(Command::Keys {
        command: KeysCommand::Generate,
    }) = &cli.command
    {
        println!(
            "{}",
            outreach_privacy::KeyEncryptionKey::generate().to_base64()
        );
        return Ok(());
    }
    let settings = Settings::load(cli.config.as_deref()).context("loading configuration")?;
    let _telemetry = telemetry::init(&settings)?;
    // Every command that touches data keys wraps and unwraps them under it (`run` requires it).
    outreach_privacy::KeyEncryptionKey::install(
        settings
            .privacy
            .key_encryption_key()
            .context("privacy.key_encryption_key")?,
    );
    outreach_privacy::KeyEncryptionKey::install_previous(
        settings
            .privacy
            .previous_key_encryption_key()
            .context("privacy.previous_key_encryption_key")?,
    );
    match cli.command.unwrap_or(Command::Run) {
        Command::Run => {
            let service = Service::start(&settings).await?;
            println!("peer-outreach is serving on http://{}", service.addr);
            service.run_until(shutdown_signal()).await;
        }
        Command::Migrate => {
            database::migrate(&settings.database).await?;
            println!("migrations applied; the runtime role holds exactly its privileges");
        }
        Command::CreateTopics => {
            let topics = settings.topics();
            let connection = settings.kafka.connection();
            outreach_intake::admin::ensure_topics(&connection, &topics).await?;
            let names: Vec<&str> = topics.iter().map(|topic| topic.name.as_str()).collect();
            println!("topics exist: {}", names.join(", "));
            for differs in outreach_intake::admin::check_topics(&connection, &topics).await {
                println!("warning: {differs}");
            }
        }
        Command::Projections { command } => projections(&settings, command).await?,
        Command::Keys {
            command: KeysCommand::Rewrap { to, batch },
        } => rewrap(&settings, &to, batch).await?,
        Command::Privacy {
            command: PrivacyCommand::Migrate { batch },
        } => privacy_migrate(&settings, batch).await?,
        Command::Keys {
            command: KeysCommand::Generate,
        } => unreachable!("handled before the configuration is read"),
        Command::DevIssuer { .. } => unreachable!("handled before the configuration is read"),
        Command::AccessAudit {
            command: AccessAuditCommand::Verify,
        } => {
            // Reading is all it does: the runtime role may.
            let pool = database::connect(&settings.database).await?;
            match audit_chain::verify_whole_chain(&pool).await? {
                WholeChain::Intact { entries, head } => {
                    println!("the access audit verifies: {entries} entries, chained intact");
                    if let Some((entry_id, hash)) = head {
                        println!(
                            "the newest, entry {entry_id}, has the hash {hash}: keep it outside \
                             the database to show later that nothing before it was rewritten"
                        );
                    }
                }
                WholeChain::Broken(broken) => {
                    bail!("the access audit does not verify: {broken}")
                }
            }
        }
        Command::Publish { paths, mode } => {
            let mode = match mode {
                PublishMode::Structured => Mode::Structured,
                PublishMode::Binary => Mode::Binary,
            };
            let publisher = Publisher::new(
                &settings.kafka.connection(),
                &settings.kafka.incidents_topic,
            )?;
            let mut sent = 0;
            for path in paths {
                sent += if path.is_dir() {
                    publisher.publish_dir(&path, mode).await?
                } else {
                    let text = std::fs::read_to_string(&path)
                        .with_context(|| path.display().to_string())?;
                    publisher
                        .publish(&serde_json::from_str(&text)?, mode)
                        .await?;
                    1
                };
            }
            println!(
                "published {sent} events to {}",
                settings.kafka.incidents_topic
            );
        }
    }
    Ok(())
}

async fn dev_issuer(dir: &Path, command: &DevIssuerCommand) -> anyhow::Result<()> {
    let issuer = DevIssuer::load_or_generate(dir)?;
    match command {
        DevIssuerCommand::Serve { listen, minutes } => {
            DevProvider::check_listen_address(*listen)?;
            let listener = tokio::net::TcpListener::bind(listen)
                .await
                .with_context(|| format!("binding {listen}"))?;
            let base = format!("http://{}", listener.local_addr()?);
            let provider = std::sync::Arc::new(
                DevProvider::new(std::sync::Arc::new(issuer), &base)
                    .token_lifetime(std::time::Duration::from_secs(minutes * 60)),
            );
            println!("the development issuer signs anyone in at {base}/authorize (development only; Ctrl-C stops it)");
            provider.serve(listener, shutdown_signal()).await?;
        }
        DevIssuerCommand::Init {
            env,
            provider,
            service,
        } => {
            let settings = issuer.settings(&std::fs::canonicalize(dir)?);
            let jwks_uri = settings.jwks_uri.unwrap_or_default();
            // The dashboard signs in through the provider `dev-issuer serve` runs.
            let sign_in = provider.as_deref().map(|provider| {
                let provider = provider.trim_end_matches('/');
                [
                    ("CLIENT_ID", DEV_CLIENT_ID.to_owned()),
                    (
                        "REDIRECT_URI",
                        format!(
                            "{}/dashboard/sign-in/callback",
                            service.trim_end_matches('/')
                        ),
                    ),
                    ("AUTHORIZATION_ENDPOINT", format!("{provider}/authorize")),
                    ("TOKEN_ENDPOINT", format!("{provider}/token")),
                ]
            });
            if *env {
                println!("export PEER_OUTREACH__AUTH__ISSUER='{}'", settings.issuer);
                println!(
                    "export PEER_OUTREACH__AUTH__AUDIENCE='{}'",
                    settings.audience
                );
                println!("export PEER_OUTREACH__AUTH__JWKS_URI='{jwks_uri}'");
                println!("export PEER_OUTREACH__AUTH__ALLOW_DEVELOPMENT_ISSUER=true");
                for (key, value) in sign_in.iter().flatten() {
                    println!("export PEER_OUTREACH__DASHBOARD__SIGN_IN__{key}='{value}'");
                }
            } else {
                println!("A development issuer is kept in {}.", dir.display());
                println!("Trust it (never in production) with, in a config file:\n");
                println!("[auth]");
                println!("issuer = \"{}\"", settings.issuer);
                println!("audience = \"{}\"", settings.audience);
                println!("jwks_uri = \"{jwks_uri}\"");
                println!("# A development issuer is trusted only with this, on loopback only:");
                println!("allow_development_issuer = true\n");
                println!(
                    "or with `eval \"$(peer-outreach dev-issuer init --env)\"`. Then mint a token:"
                );
                println!(
                    "  peer-outreach dev-issuer token --role program-manager --staff-id E90002"
                );
                println!("and call the API with `Authorization: Bearer <token>`.");
                if let Some(sign_in) = &sign_in {
                    println!("\nThe dashboard signs in through `dev-issuer serve` with:\n");
                    println!("[dashboard.sign_in]");
                    for (key, value) in sign_in {
                        println!("{} = \"{value}\"", key.to_lowercase());
                    }
                }
            }
        }
        DevIssuerCommand::Token {
            role,
            staff_id,
            subject,
            minutes,
        } => {
            let role = *role;
            let mut request = TokenRequest::new(
                subject
                    .clone()
                    .unwrap_or_else(|| format!("dev|{}", role.code())),
                role,
            );
            request.staff_id = staff_id.clone();
            request.expires_in = minutes * 60;
            println!("{}", issuer.mint(&request)?);
        }
    }
    Ok(())
}

/// A key-encryption key from `file:PATH` or `env:VARIABLE`.
fn key_encryption_key_from(source: &str) -> anyhow::Result<outreach_privacy::KeyEncryptionKey> {
    let text = if let Some(path) = source.strip_prefix("file:") {
        std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?
    } else if let Some(variable) = source.strip_prefix("env:") {
        std::env::var(variable).with_context(|| format!("reading ${variable}"))?
    } else {
        bail!("--to is file:PATH or env:VARIABLE, not {source:?}");
    };
    Ok(outreach_privacy::KeyEncryptionKey::parse(&text)?)
}

/// `peer-outreach keys rewrap`: batches until no key is left under another KEK.
async fn rewrap(settings: &Settings, to: &str, batch: i64) -> anyhow::Result<()> {
    if batch < 1 {
        bail!("--batch is at least 1");
    }
    let current = settings
        .privacy
        .required_key_encryption_key()
        .context("the key-encryption key the keys are under now")?;
    let to = key_encryption_key_from(to).context("the new key-encryption key (--to)")?;
    // During an overlap the configured KEK is already the new one: the keys move off the
    // previous one (those a running service made meanwhile are under the new one already).
    let from = match settings.privacy.previous_key_encryption_key()? {
        Some(previous) if current.id() == to.id() => previous,
        _ if current.id() == to.id() => bail!(
            "--to is the key-encryption key already configured ({}): nothing to move",
            current.id()
        ),
        _ => current,
    };
    let owner = database::owner_pool(&settings.database).await?;
    let mut db = owner.acquire().await?;
    let total = outreach_privacy::under_other_keks(&mut db, &to).await?;
    drop(db);
    println!(
        "rewrapping {total} keys from key-encryption key {} to {}",
        from.id(),
        to.id()
    );
    let mut moved = 0;
    loop {
        let mut tx = owner.begin().await?;
        let done = outreach_privacy::rewrap_batch(&mut tx, &from, &to, batch).await?;
        tx.commit().await?;
        if done == 0 {
            break;
        }
        moved += done;
        println!("rewrapped {moved} of {total} keys");
    }
    println!(
        "every key is under key-encryption key {}: configure it as privacy.key_encryption_key \
         (and no privacy.previous_key_encryption_key), \
         then destroy key-encryption key {} (and with it every backup's keys taken under it)",
        to.id(),
        from.id()
    );
    Ok(())
}

/// `peer-outreach privacy migrate`: seals, then renames, batches until nothing is left.
async fn privacy_migrate(settings: &Settings, batch: i64) -> anyhow::Result<()> {
    if batch < 1 {
        bail!("--batch is at least 1");
    }
    // Events are rewritten in place: only the owner may (the runtime role inserts only).
    let owner = database::owner_pool(&settings.database).await?;
    let total = privacy_migrate::to_examine(&mut *owner.acquire().await?).await?;
    let progress = Progress::new(
        "events to examine for personal parts in the clear",
        total as u64,
    );
    let (mut after, mut examined, mut rewritten) = (Position::start(), 0, 0);
    loop {
        let mut tx = owner.begin().await?;
        let done = privacy_migrate::migrate_batch(&mut tx, &after, batch)
            .await
            .context("sealing a batch of events")?;
        tx.commit().await?;
        let Some(last) = done.last else { break };
        after = last;
        examined += done.examined;
        rewritten += done.rewritten;
        progress.at(examined, || {
            format!("examined {examined} of {total} events, rewrote {rewritten}")
        });
    }
    progress.finish();
    println!("every event is in today's shape: {rewritten} of {examined} events rewritten");

    let left = privacy_migrate::to_rename(&mut *owner.acquire().await?).await?;
    // The access audit's chain is verified before the first id in it is rewritten.
    let audit_under_way = privacy_migrate::audit::begin(&owner, left > 0).await?;
    let progress = Progress::new("cases and member records to rename", left as u64);
    let mut renamed = privacy_migrate::RenameBatch::default();
    loop {
        let mut tx = owner.begin().await?;
        let done = privacy_migrate::rename_batch(&mut tx, batch)
            .await
            .context("renaming a batch of cases and member records")?;
        tx.commit().await?;
        if done.aggregates == 0 {
            break;
        }
        renamed.aggregates += done.aggregates;
        renamed.derived += done.derived;
        renamed.rows_elsewhere += done.rows_elsewhere;
        renamed.audit_entries += done.audit_entries;
        let count = renamed.aggregates;
        progress.at(count, || format!("renamed {count} of {left} aggregates"));
    }
    progress.finish();
    println!(
        "renamed {} cases and member records stored with ids derived from staff ids: {} to the \
         id their member's live key derives, the rest (no live key) to random ids; {} rows \
         elsewhere and {} access audit entries rewritten",
        renamed.aggregates, renamed.derived, renamed.rows_elsewhere, renamed.audit_entries
    );
    if audit_under_way {
        if let Some(done) = privacy_migrate::audit::finish(&owner).await? {
            println!(
                "the access audit is re-chained ({} entries got new hashes) and verifies; entry \
                 {} records the rewrite and the head it replaced",
                done.entries_rechained, done.record
            );
        }
    }
    println!("no read model needs rebuilding");
    Ok(())
}

async fn projections(settings: &Settings, command: ProjectionCommand) -> anyhow::Result<()> {
    let pool = database::prepare(&settings.database).await?;
    let setup = settings.projection_setup();
    match command {
        ProjectionCommand::List => {
            for projection in outreach_projections::all(&setup) {
                let runner =
                    ProjectionRunner::new(pool.clone(), projection, runner_settings(settings));
                println!(
                    "{:<20} {} events behind",
                    runner.name(),
                    runner.lag().await?
                );
            }
        }
        ProjectionCommand::Rebuild { name } => {
            let Some(projection) = outreach_projections::by_name(&name, &setup) else {
                let known: Vec<_> = outreach_projections::all(&setup)
                    .iter()
                    .map(|p| p.name())
                    .collect();
                bail!("no projection named {name:?}; known: {}", known.join(", "));
            };
            let runner = ProjectionRunner::new(pool, projection, runner_settings(settings));
            let bar = ProgressBar::new(0).with_style(
                ProgressStyle::with_template(
                    "{msg} [{bar:40}] {pos}/{len} events ({per_sec}, eta {eta})",
                )?
                .progress_chars("=> "),
            );
            bar.set_message(format!("rebuilding {name}"));
            let applied = runner
                .rebuild(|done, total| {
                    bar.set_length(total);
                    bar.set_position(done);
                })
                .await?;
            bar.finish();
            println!("{name} rebuilt from {applied} events");
        }
    }
    Ok(())
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .expect("installing the SIGTERM handler");
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}
