//! peer-outreach-bench: the real service (its release binary, as a child process) measured
//! beside two references taken in the same run on the same PostgreSQL: a naive cqrs-es
//! pipeline, and the limit of what the database can commit. Machines here are noisy, so the
//! ratios are what count.
//!
//! Phases (`--only`): catch-up (a backlog on the topic until every case is in the outreach read
//! model), readyz (`GET /v1/cases` while the outreach read model is rebuilt, with and without
//! 1,000 `/readyz` calls at once), latency (a steady rate, produce to the case visible through
//! the API), rebuild (each projection from zero, `peer-outreach projections rebuild NAME` as a
//! child so its memory can be read), limit, naive. Rebuild and limit use the catch-up run's events, so they run the
//! catch-up (without reporting it) when it is not selected.

mod latency;
mod limit;
mod naive;
mod readyz;
mod reports;
mod service;
mod summary;
mod table;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::{Parser, ValueEnum};
use futures::{StreamExt, TryStreamExt};
use outreach_auth::{Role, TokenRequest};
use outreach_intake::sample::{encode, Encoded, Mode};
use outreach_intake::Policies;
use outreach_test_support::free_port;
use outreach_test_support::tansu::Tansu;
use peer_outreach::settings::DatabaseSettings;
use peer_outreach::Settings;
use sqlx::{Connection, PgConnection, PgPool};

use crate::latency::{measure_latency, warm_up};
use crate::reports::Rng;
use crate::service::Environment;
use crate::summary::Measured;
use crate::table::{ms, Table};

#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// Reports already on the topic when the service starts (catch-up).
    #[arg(long, default_value_t = 100_000)]
    reports: u64,
    /// Reports per second in the latency phase.
    #[arg(long, default_value_t = 200)]
    rate: u64,
    /// How long the latency phase produces its timed reports.
    #[arg(long, default_value_t = 30)]
    latency_seconds: u64,
    /// How long the latency phase produces at the same rate before it times any report: the
    /// steady state, not the service's first second at the rate (its pool opening connections,
    /// each new database session reading its catalogs), which held the worst ~1% of a 30 s
    /// window.
    #[arg(long, default_value_t = 5)]
    latency_warm_up_seconds: u64,
    /// Time one report in this many in the latency phase (every report is produced). Each
    /// timed report polls the API every 10 ms until its case shows, so timing all of them would
    /// load the service with the probes' own requests (at 200 reports/s, thousands a second).
    #[arg(long, default_value_t = 4)]
    probe_every: u64,
    /// The service's `kafka.fetch_wait_max_ms` in every phase. Default: the service's own (20,
    /// for Apache Kafka, which answers a fetch as soon as data arrives), except 5 in the
    /// latency phase on the bench's own tansu, which holds every fetch that long, so that the
    /// wait is the floor of the latency there.
    #[arg(long)]
    fetch_wait_max_ms: Option<u64>,
    /// Phases to run (default: all).
    #[arg(long, value_delimiter = ',')]
    only: Vec<Phase>,
    /// Reports the naive pipeline processes (default: the same as --reports, at most 10,000:
    /// it runs one at a time and its rate does not depend on the backlog's size).
    #[arg(long)]
    naive_reports: Option<u64>,
    /// Also write the table as Markdown here.
    #[arg(long)]
    markdown: Option<PathBuf>,
    /// Write each timed report of the latency phase here as CSV: when it was produced, its
    /// latency and its stages (ms), to see when the slow ones came and where they waited.
    #[arg(long)]
    samples: Option<PathBuf>,
    /// The service binary (default: `peer-outreach` beside this one).
    #[arg(long)]
    binary: Option<PathBuf>,
    /// A running broker to use (e.g. Apache Kafka). Default: a tansu of the run's own, started
    /// on a free port with a fresh store in a temporary folder and removed afterwards, because
    /// tansu's SQLite store slows as it grows and every run adds its whole backlog.
    #[arg(long, env = "KAFKA_BROKERS")]
    brokers: Option<String>,
    /// The PostgreSQL server, without a database name.
    #[arg(
        long,
        env = "DATABASE_URL_BASE",
        default_value = "postgres://postgres@127.0.0.1:5432"
    )]
    database: String,
    /// Keep the run's databases afterwards (to look at them).
    #[arg(long)]
    keep: bool,
    #[arg(long, default_value_t = 8)]
    seed: u64,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Phase {
    CatchUp,
    Readyz,
    Latency,
    Rebuild,
    Limit,
    Naive,
}

/// The latency phase's fetch wait on the bench's own tansu (see `--fetch-wait-max-ms`).
const TANSU_FETCH_WAIT_MAX_MS: u64 = 5;
/// How often the catch-up watcher counts the read model; the catch-up time is this precise.
const COUNT_INTERVAL: Duration = Duration::from_millis(200);
/// How often a latency probe asks the API for its case; latencies are this precise.
const PROBE_INTERVAL: Duration = Duration::from_millis(10);
const PROBE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the read model may stand still before the catch-up counts as stalled.
const STALL_TIMEOUT: Duration = Duration::from_secs(120);

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let mut databases = Vec::new();
    let outcome = run(&cli, &mut databases).await;
    // Also after a failure: a run leaves no databases behind unless asked to.
    if !cli.keep {
        for name in &databases {
            if let Err(error) = drop_database(&cli.database, name).await {
                eprintln!("could not drop {name}: {error}");
            }
        }
    } else {
        eprintln!("kept databases: {}", databases.join(", "));
    }
    outcome
}

async fn run(cli: &Cli, databases: &mut Vec<String>) -> anyhow::Result<()> {
    let only = if cli.only.is_empty() {
        vec![
            Phase::CatchUp,
            Phase::Readyz,
            Phase::Latency,
            Phase::Rebuild,
            Phase::Limit,
            Phase::Naive,
        ]
    } else {
        cli.only.clone()
    };
    let wants = |phase| only.contains(&phase);
    let needs_service = wants(Phase::CatchUp)
        || wants(Phase::Readyz)
        || wants(Phase::Latency)
        || wants(Phase::Rebuild)
        || wants(Phase::Limit);

    // The service's own defaults: its pool size is the limit's concurrency.
    let defaults = Settings::load(None).context("the service's default settings")?;
    let connections = defaults.database.max_connections;
    let id = uuid::Uuid::new_v4().simple().to_string()[..10].to_string();
    let binary = match &cli.binary {
        Some(path) => path.clone(),
        None => std::env::current_exe()?
            .parent()
            .context("the bench runs from a directory")?
            .join("peer-outreach"),
    };
    if needs_service && !binary.exists() {
        bail!(
            "{} is missing: `cargo build --release -p peer-outreach` first",
            binary.display()
        );
    }
    let profile = if binary.to_string_lossy().contains("/debug/") {
        "debug"
    } else {
        "release"
    };
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    eprintln!(
        "run {id}: {} reports, {} reports/s for {} s, service {} ({profile}), {cores} cores",
        cli.reports,
        cli.rate,
        cli.latency_seconds,
        binary.display()
    );

    // The backlog, generated and encoded once; the naive pipeline takes the same records.
    let mut rng = Rng::new(cli.seed);
    let backlog: Vec<reports::Report> = (0..cli.reports)
        .map(|n| reports::report(&format!("B{id}"), n, &mut rng))
        .collect();
    let expected_cases: u64 = backlog.iter().map(|r| r.staff_ids.len() as u64).sum();
    let records: Vec<(String, Encoded)> = backlog
        .iter()
        .map(|r| -> anyhow::Result<(String, Encoded)> {
            Ok((r.report_id.clone(), encode(&r.event, Mode::Structured)?))
        })
        .collect::<anyhow::Result<_>>()?;
    drop(backlog);
    let bytes: usize = records.iter().map(|(_, e)| e.payload.len()).sum();
    eprintln!(
        "{} reports naming {expected_cases} staff, {} bytes each on average",
        records.len(),
        bytes / records.len().max(1)
    );

    // Kept until the run ends: dropping it stops the broker and removes its store.
    let (mut own_broker, brokers, broker_note) = match &cli.brokers {
        Some(brokers) => (None, brokers.clone(), format!("the broker at {brokers}")),
        None if needs_service => {
            let broker = OwnBroker::start(&id)?;
            let brokers = broker.brokers();
            eprintln!("tansu on {brokers}, store in {}", broker.dir.display());
            (
                Some(broker),
                brokers,
                "tansu (Kafka API, SQLite storage) of the run's own, on a fresh store".to_string(),
            )
        }
        None => (None, String::new(), "no broker".to_string()),
    };

    let mut table = Table::default();
    let mut notes: Vec<String> = vec![format!(
        "{cores} cores; service {profile} build; PostgreSQL and {broker_note} on the same machine; run {id}"
    )];

    let catch_up_db = format!("bench_{id}");
    let catch_up_url = format!("{}/{catch_up_db}", cli.database);
    let mut catch_up: Option<CatchUp> = None;
    let mut latency: Option<Vec<Duration>> = None;
    let mut latency_stages: Vec<(&'static str, Vec<Duration>)> = Vec::new();
    let mut latency_timeouts = 0;
    let mut service_peak_kib = None;
    // Outlives the service that uses it (dropped after it), so the service never sees it go.
    let mut latency_broker: Option<OwnBroker> = None;
    // Whether the latency phase ran on a service of its own (on its own broker).
    let mut restarted_for_latency = false;
    let mut rebuilds = Vec::new();
    let mut readyz_result = None;
    let (mut env, issuer) = Environment::new(
        binary,
        catch_up_url.clone(),
        brokers.clone(),
        id.clone(),
        defaults.kafka.partitions,
    )?;

    env.fetch_wait_max_ms = cli.fetch_wait_max_ms;
    if needs_service {
        databases.push(catch_up_db.clone());
        let mut publisher = Arc::new(env.topics_and_publisher().await?);
        let produced = Instant::now();
        futures::stream::iter(records.iter())
            .map(|(key, encoded)| publisher.publish_raw(Some(key.as_str()), encoded))
            .buffer_unordered(1000)
            .try_collect::<Vec<()>>()
            .await?;
        eprintln!(
            "produced {} reports in {:.1} s",
            records.len(),
            produced.elapsed().as_secs_f64()
        );

        let mut process = env.spawn_service()?;
        let started = Instant::now();
        let pool = PgPool::connect(&catch_up_url).await?;
        let mut first_case = None;
        let (mut last_count, mut last_change) = (0, Instant::now());
        loop {
            let cases: i64 = sqlx::query_scalar("SELECT count(*) FROM outreach_cases")
                .fetch_one(&pool)
                .await?;
            if cases > 0 && first_case.is_none() {
                first_case = Some(started.elapsed());
            }
            if cases as u64 >= expected_cases {
                break;
            }
            if cases != last_count {
                (last_count, last_change) = (cases, Instant::now());
            }
            // A stalled pipeline (a consumer group that never rejoins, a projection that keeps
            // failing) would otherwise hang the run; the service's stderr says why.
            if last_change.elapsed() > STALL_TIMEOUT {
                bail!(
                    "catch-up stalled at {cases} of {expected_cases} cases for {} s",
                    STALL_TIMEOUT.as_secs()
                );
            }
            tokio::time::sleep(COUNT_INTERVAL).await;
        }
        let elapsed = started.elapsed();
        let events: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
            .fetch_one(&pool)
            .await?;
        let transactions: i64 =
            sqlx::query_scalar("SELECT count(DISTINCT transaction_id) FROM events")
                .fetch_one(&pool)
                .await?;
        let result = CatchUp {
            reports: records.len() as u64,
            cases: expected_cases,
            events: events as u64,
            transactions: transactions as u64,
            elapsed,
            first_case: first_case.unwrap_or_default(),
            peak_kib: process.peak_rss_kib(),
        };
        eprintln!(
            "caught up: {} cases, {} events in {} transactions, {:.1} s (first case after {:.1} s)",
            result.cases,
            result.events,
            result.transactions,
            elapsed.as_secs_f64(),
            result.first_case.as_secs_f64()
        );
        catch_up = Some(result);

        if wants(Phase::Readyz) {
            wait_for_every_projection(&pool).await?;
            let token = issuer.mint(&TokenRequest::new("bench", Role::Director))?;
            let run = readyz::measure(&env, &process.addr, &token, "outreach").await?;
            eprintln!(
                "readyz: GET /v1/cases p50 {} alone, {} rebuilding, {} rebuilding with {} /readyz (their p99 {})",
                ms(percentile(&run.alone, 0.5)),
                ms(percentile(&run.rebuilding, 0.5)),
                ms(percentile(&run.rebuilding_with_probes, 0.5)),
                run.probes.len(),
                ms(percentile(&run.probes, 0.99)),
            );
            readyz_result = Some(run);
        }

        if wants(Phase::Latency) {
            // Latency is the steady state's: the other projections first finish the backlog
            // the outreach read model is through, so the phase does not time their catch-up.
            let settled = Instant::now();
            wait_for_every_projection(&pool).await?;
            eprintln!(
                "every projection caught up {:.1} s later",
                settled.elapsed().as_secs_f64()
            );
            if let Some(note) = vacuum_as_autovacuum_would(&pool).await? {
                notes.push(note);
            }
            let token = issuer.mint(&TokenRequest::new("bench", Role::Director))?;
            // On a tansu of the run's own, the steady rate goes to a second, fresh tansu, and
            // the service is restarted on it with the event store as the catch-up left it.
            // tansu's SQLite store slows as it grows (after the backlog, its produce
            // acknowledgement alone had p99 271 ms); Apache Kafka appends to segment files
            // and does not. A broker given with --brokers is used as it is.
            latency_broker = if own_broker.is_some() {
                process.stop();
                drop(own_broker.take());
                let broker = OwnBroker::start(&format!("{id}-latency"))?;
                let fetch_wait = cli.fetch_wait_max_ms.unwrap_or(TANSU_FETCH_WAIT_MAX_MS);
                let env = env
                    .with_brokers(broker.brokers())
                    .with_fetch_wait_max_ms(Some(fetch_wait));
                eprintln!("latency: tansu on {}, a fresh store", broker.brokers());
                notes.push(format!(
                    "latency: the service's kafka.fetch_wait_max_ms = {fetch_wait} (default {}): \
                     tansu holds every fetch this long",
                    defaults.kafka.fetch_wait_max_ms
                ));
                publisher = Arc::new(env.topics_and_publisher().await?);
                process = env.spawn_service()?;
                warm_up(&publisher, &pool, &process.addr, &token, &id, cli.seed).await?;
                notes.push(
                    "latency: on a second tansu of the run's own with a fresh store (the \
                     catch-up's backlog slows tansu's SQLite store, not Apache Kafka's logs); \
                     the service restarted on it with the catch-up's event store; one report \
                     seen through the API before the timed ones (the consumer group joined)"
                        .to_string(),
                );
                restarted_for_latency = true;
                Some(broker)
            } else {
                None
            };
            let run = measure_latency(&publisher, &pool, &process.addr, &token, &id, cli).await?;
            latency_stages = run.stages(&pool, cli.samples.as_deref()).await?;
            latency = Some(run.sorted);
            latency_timeouts = run.timeouts;
            service_peak_kib = process.peak_rss_kib();
        }
        drop(process);
        drop(latency_broker.take());
        pool.close().await;

        if wants(Phase::Rebuild) {
            for projection in outreach_projections::all(&defaults.projection_setup()) {
                let name = projection.name();
                let rebuilt = env.rebuild(name)?;
                eprintln!(
                    "rebuilt {name}: {} events in {:.2} s, peak RSS {} KiB",
                    rebuilt.events,
                    rebuilt.elapsed.as_secs_f64(),
                    rebuilt.peak_kib
                );
                rebuilds.push((name, rebuilt));
            }
        }
    }

    let mut limit_result = None;
    if wants(Phase::Limit) {
        let name = format!("bench_{id}_limit");
        databases.push(name.clone());
        let url = format!("{}/{name}", cli.database);
        // One role, the server's, as a local run has it: the limit phase truncates the events.
        let pool = peer_outreach::database::prepare(&DatabaseSettings {
            url: url.clone(),
            migration_url: None,
            max_connections: connections,
            create_database: true,
            migrate_on_start: true,
        })
        .await?;
        let source = PgPool::connect(&catch_up_url).await?;
        let rows = Arc::new(limit::load_rows(&source, i64::MAX).await?);
        source.close().await;
        eprintln!(
            "limit: {} rows, one per transaction, {connections} connections",
            rows.len()
        );
        let single = limit::single_row_commits(&url, rows.clone(), connections as usize).await?;
        let copy = limit::copy(&pool, &rows).await?;
        eprintln!(
            "limit: single-row {:.1} s, COPY {:.2} s",
            single.elapsed.as_secs_f64(),
            copy.as_secs_f64()
        );
        limit_result = Some(Limit {
            rows: rows.len() as u64,
            single,
            copy,
        });
        pool.close().await;
    }

    let mut naive_result = None;
    if wants(Phase::Naive) {
        let name = format!("bench_{id}_naive");
        databases.push(name.clone());
        create_database(&cli.database, &name).await?;
        let pool = PgPool::connect(&format!("{}/{name}", cli.database)).await?;
        naive::create_schema(&pool).await?;
        let count = cli
            .naive_reports
            .unwrap_or(cli.reports.min(10_000))
            .min(records.len() as u64) as usize;
        let intake = Policies {
            trigger: defaults.policy.trigger.clone(),
            eligibility: defaults.policy.eligibility.clone(),
            urgency: defaults.policy.urgency.clone(),
            ..Default::default()
        };
        let run = naive::run(
            &pool,
            &records[..count],
            &intake,
            &defaults.policy.case_policies(),
        )
        .await?;
        eprintln!(
            "naive: {} reports, {} cases, {} events in {:.1} s; view replayed from {} events in {:.2} s",
            run.reports,
            run.cases,
            run.events,
            run.elapsed.as_secs_f64(),
            run.replayed_events,
            run.replay_elapsed.as_secs_f64()
        );
        naive_result = Some(run);
        pool.close().await;
    }

    summary::write(
        &Measured {
            cli,
            only: &only,
            connections,
            catch_up,
            latency,
            latency_stages,
            latency_timeouts,
            service_peak_kib,
            restarted_for_latency,
            rebuilds,
            readyz_result,
            limit_result,
            naive_result,
        },
        &mut table,
        &mut notes,
    );

    println!("{}", table.text());
    for note in &notes {
        println!("- {note}");
    }
    if let Some(path) = &cli.markdown {
        let mut markdown = table.markdown();
        markdown.push('\n');
        for note in &notes {
            markdown.push_str(&format!("- {note}\n"));
        }
        std::fs::write(path, markdown).with_context(|| path.display().to_string())?;
    }

    env.cleanup();
    Ok(())
}

struct CatchUp {
    reports: u64,
    cases: u64,
    events: u64,
    transactions: u64,
    elapsed: Duration,
    first_case: Duration,
    peak_kib: Option<u64>,
}

struct Limit {
    rows: u64,
    single: limit::SingleRows,
    copy: Duration,
}

/// A tansu of the run's own, in a temporary folder removed with it.
struct OwnBroker {
    tansu: Option<Tansu>,
    dir: PathBuf,
}

impl OwnBroker {
    fn start(id: &str) -> anyhow::Result<OwnBroker> {
        let dir = std::env::temp_dir().join(format!("peer-outreach-bench-tansu-{id}"));
        let tansu = Tansu::start(&dir, free_port())
            .context("starting tansu (or give --brokers HOST:PORT)")?;
        Ok(OwnBroker {
            tansu: Some(tansu),
            dir,
        })
    }

    fn brokers(&self) -> String {
        self.tansu.as_ref().map(Tansu::brokers).unwrap_or_default()
    }
}

impl Drop for OwnBroker {
    fn drop(&mut self) {
        drop(self.tansu.take());
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// On a PostgreSQL with autovacuum off (this machine's), runs what autovacuum runs on a default
/// installation within a minute of a backlog like the catch-up's: `VACUUM (ANALYZE)`. Without
/// it the steady state is measured on tables the planner has no statistics of (it guesses a
/// range holds a third of a table and scans all of it) and whose visibility maps are empty
/// (an index-only count reads the heap). Says what it did, for the notes.
async fn vacuum_as_autovacuum_would(pool: &PgPool) -> anyhow::Result<Option<String>> {
    let autovacuum: String = sqlx::query_scalar("SELECT current_setting('autovacuum')")
        .fetch_one(pool)
        .await?;
    if autovacuum == "on" {
        return Ok(None);
    }
    let started = Instant::now();
    sqlx::raw_sql("VACUUM (ANALYZE)").execute(pool).await?;
    let took = started.elapsed().as_secs_f64();
    eprintln!("autovacuum is off here: VACUUM (ANALYZE) after the catch-up took {took:.1} s");
    // The backlog leaves gigabytes of dirty pages; written out by a checkpoint during the timed
    // window, they stalled every commit for a second or two at a time (COMMIT 30-99 ms in
    // bursts, all connections at once). What is timed is the steady rate, not that.
    let started = Instant::now();
    sqlx::raw_sql("CHECKPOINT").execute(pool).await?;
    let checkpoint = started.elapsed().as_secs_f64();
    eprintln!("CHECKPOINT after the catch-up took {checkpoint:.1} s");
    Ok(Some(format!(
        "latency: this PostgreSQL runs with autovacuum off, so after the catch-up the bench ran \
         VACUUM (ANALYZE) ({took:.1} s), as autovacuum does on a default installation, then a \
         CHECKPOINT ({checkpoint:.1} s) so that the backlog's dirty pages are not written out \
         during the timed window"
    )))
}

/// The `q` quantile of sorted durations (nearest rank); 1.0 is the maximum.
fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn ratio(value: f64, reference: f64, name: &str) -> String {
    format!("{:.2}x {name}", value / reference)
}

fn fmt_rate(rate: f64) -> String {
    // Thousands separated, as the README's figures are.
    let whole = rate.round() as u64;
    let digits = whole.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

async fn create_database(base: &str, name: &str) -> anyhow::Result<()> {
    let mut admin = PgConnection::connect(&format!("{base}/postgres")).await?;
    sqlx::query(&format!(r#"CREATE DATABASE "{name}""#))
        .execute(&mut admin)
        .await?;
    admin.close().await?;
    Ok(())
}

async fn drop_database(base: &str, name: &str) -> anyhow::Result<()> {
    let mut admin = PgConnection::connect(&format!("{base}/postgres")).await?;
    sqlx::query(&format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#))
        .execute(&mut admin)
        .await?;
    admin.close().await?;
    Ok(())
}

/// Waits until every projection's checkpoint is at the last stored event (or the stall timeout
/// passes without one of them moving).
async fn wait_for_every_projection(pool: &PgPool) -> anyhow::Result<()> {
    let (mut last_behind, mut last_change) = (i64::MAX, Instant::now());
    loop {
        // Events beyond the checkpoint of the projection furthest behind.
        let behind: i64 = sqlx::query_scalar(
            "SELECT coalesce(max(behind), 0) FROM (
                 SELECT (SELECT count(*) FROM events e
                          WHERE (e.transaction_id, e.global_position)
                              > (c.transaction_id, c.global_position)) AS behind
                   FROM projection_checkpoints c) lag",
        )
        .fetch_one(pool)
        .await?;
        if behind == 0 {
            return Ok(());
        }
        if behind != last_behind {
            (last_behind, last_change) = (behind, Instant::now());
        }
        if last_change.elapsed() > STALL_TIMEOUT {
            bail!("a projection stalled {behind} events behind");
        }
        tokio::time::sleep(COUNT_INTERVAL).await;
    }
}
