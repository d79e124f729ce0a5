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

mod limit;
mod naive;
mod readyz;
mod reports;
mod service;
mod table;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::{Parser, ValueEnum};
use futures::{StreamExt, TryStreamExt};
use outreach_auth::{Role, TokenRequest};
use outreach_intake::sample::{encode, Encoded, Mode, Publisher};
use outreach_intake::Policies;
use outreach_test_support::free_port;
use outreach_test_support::tansu::Tansu;
use peer_outreach::settings::DatabaseSettings;
use peer_outreach::Settings;
use sqlx::{Connection, PgConnection, PgPool};

use crate::reports::Rng;
use crate::service::Environment;
use crate::table::{ms, per_second, Table};

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

    // The table.
    let naive_events_rate = naive_result
        .as_ref()
        .map(|n| per_second(n.events, n.elapsed));
    let limit_rate = limit_result
        .as_ref()
        .map(|l| per_second(l.rows, l.single.elapsed));
    let copy_rate = limit_result.as_ref().map(|l| per_second(l.rows, l.copy));
    if let Some(n) = &naive_result {
        notes.push(format!(
            "naive: the project's aggregates (report, member, case) through cqrs-es CqrsFramework on postgres-es, a GenericQuery case view, one report at a time, decoded from the same records in memory (no Kafka); {} reports, {} cases, {} events",
            n.reports, n.cases, n.events
        ));
    }
    if let Some(l) = &limit_result {
        notes.push(format!(
            "limit: the catch-up run's {} event rows into the service's events table in a fresh database, one row per transaction over {connections} connections (the service's pool), then one COPY: {} rows/s",
            l.rows,
            fmt_rate(copy_rate.unwrap_or_default())
        ));
    }
    if wants(Phase::CatchUp) {
        if let Some(c) = &catch_up {
            let reports_rate = per_second(c.reports, c.elapsed);
            let events_rate = per_second(c.events, c.elapsed);
            table.row(
                "catch-up: reports/s",
                fmt_rate(reports_rate),
                naive_result
                    .as_ref()
                    .map(|n| fmt_rate(per_second(n.reports, n.elapsed))),
                None,
                naive_result
                    .as_ref()
                    .map(|n| ratio(reports_rate, per_second(n.reports, n.elapsed), "naive")),
                None,
                None,
            );
            let vs_naive = naive_events_rate.map(|n| events_rate / n);
            let vs_limit = limit_rate.map(|l| events_rate / l);
            let met = match (vs_naive, vs_limit) {
                (Some(n), Some(l)) => Some(n >= 5.0 && l >= 0.5),
                _ => None,
            };
            table.row(
                "catch-up: events/s",
                fmt_rate(events_rate),
                naive_events_rate.map(fmt_rate),
                limit_rate.map(fmt_rate),
                Some(
                    [
                        vs_naive.map(|r| format!("{r:.2}x naive")),
                        vs_limit.map(|r| format!("{r:.2}x limit")),
                    ]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join(", "),
                ),
                Some(">= 5x naive, >= 0.5x limit".into()),
                met,
            );
            notes.push(format!(
                "catch-up: {} reports, {} cases, {} events in {} transactions ({:.1} events per commit), {:.1} s from the service serving (first case after {:.1} s: consumer group join)",
                c.reports,
                c.cases,
                c.events,
                c.transactions,
                c.events as f64 / c.transactions.max(1) as f64,
                c.elapsed.as_secs_f64(),
                c.first_case.as_secs_f64()
            ));
            if let Some(kib) = c.peak_kib {
                table.row(
                    "memory: service peak RSS, catch-up",
                    format!("{:.1} MiB", kib as f64 / 1024.0),
                    None,
                    None,
                    None,
                    None,
                    None,
                );
            }
        }
    }
    if let Some(sorted) = &latency {
        let naive_p = |q| {
            naive_result
                .as_ref()
                .map(|n| ms(percentile(&n.per_report, q)))
        };
        let limit_p = |q| {
            limit_result
                .as_ref()
                .map(|l| ms(percentile(&l.single.commits, q)))
        };
        for (label, q) in [("p50", 0.50), ("p99", 0.99), ("max", 1.0)] {
            let value = percentile(sorted, q);
            let (target, met) = if label == "p99" {
                (
                    Some("< 100 ms".to_string()),
                    Some(value < Duration::from_millis(100)),
                )
            } else {
                (None, None)
            };
            table.row(
                &format!("latency {label}: produce to case in API"),
                ms(value),
                naive_p(q),
                limit_p(q),
                None,
                target,
                met,
            );
        }
        for (label, q) in [("p50", 0.50), ("p99", 0.99)] {
            for (stage, durations) in &latency_stages {
                table.row(
                    &format!("latency {label}: {stage}"),
                    ms(percentile(durations, q)),
                    None,
                    None,
                    None,
                    None,
                    None,
                );
            }
        }
        notes.push(format!(
            "latency: {} reports at {} reports/s for {} s after {} s at that rate untimed, one in {} timed ({} timed) from before its produce (acks=all) until GET /v1/cases/{{id}} of its last-named member answers 200, polled every {} ms, then every tenth of the time waited ({latency_timeouts} not produced or not visible within {} s, counted at {} s); naive column: one report's time through the naive pipeline; limit column: one single-row commit",
            cli.rate * cli.latency_seconds,
            cli.rate,
            cli.latency_seconds,
            cli.latency_warm_up_seconds,
            cli.probe_every.max(1),
            sorted.len(),
            PROBE_INTERVAL.as_millis(),
            PROBE_TIMEOUT.as_secs(),
            PROBE_TIMEOUT.as_secs()
        ));
    }
    if let Some(run) = &readyz_result {
        for (label, q) in [("p50", 0.5), ("p99", 0.99)] {
            let during = percentile(&run.rebuilding, q);
            let flooded = percentile(&run.rebuilding_with_probes, q);
            table.row(
                &format!("readyz flood: GET /v1/cases {label}, rebuilding outreach"),
                format!("{} with 1,000 /readyz, {} without", ms(flooded), ms(during)),
                None,
                None,
                Some(format!(
                    "{:.2}x without; {} alone",
                    flooded.as_secs_f64() / during.as_secs_f64().max(1e-9),
                    ms(percentile(&run.alone, q))
                )),
                Some("no slower than without".into()),
                Some(flooded.as_secs_f64() <= during.as_secs_f64() * 1.5 + 0.002),
            );
        }
        notes.push(format!(
            "readyz: {} GET /v1/cases?limit=50 one after another in each condition, the flood {} /readyz {} at a time beside the last ones (/readyz p50 {}, p99 {}); the outreach rebuild {} the flood",
            run.alone.len(),
            run.probes.len(),
            50,
            ms(percentile(&run.probes, 0.5)),
            ms(percentile(&run.probes, 0.99)),
            if run.rebuild_outlasted { "outlasted" } else { "ended before the end of" }
        ));
    }
    if !rebuilds.is_empty() {
        let naive_replay = naive_result
            .as_ref()
            .map(|n| per_second(n.replayed_events, n.replay_elapsed));
        for (name, rebuilt) in &rebuilds {
            let rate = per_second(rebuilt.events, rebuilt.elapsed);
            table.row(
                &format!("rebuild {name}: events/s"),
                fmt_rate(rate),
                naive_replay.map(fmt_rate),
                copy_rate.map(fmt_rate),
                naive_replay.map(|n| ratio(rate, n, "naive")),
                Some(">= 50,000".into()),
                Some(rate >= 50_000.0),
            );
        }
        let (name, largest) = rebuilds
            .iter()
            .max_by_key(|(_, r)| r.peak_kib)
            .expect("not empty");
        table.row(
            &format!("memory: peak RSS, rebuild (largest: {name})"),
            format!("{:.1} MiB", largest.peak_kib as f64 / 1024.0),
            None,
            None,
            None,
            None,
            None,
        );
        notes.push(format!(
            "rebuild: `peer-outreach projections rebuild NAME` as a child on the catch-up database ({} events), timed from spawn to exit (includes start-up and connecting); naive column: cqrs-es QueryReplay of the GenericQuery case view ({}); limit column: COPY of the same number of rows",
            rebuilds.first().map_or(0, |(_, r)| r.events),
            naive_result
                .as_ref()
                .map_or("not run".into(), |n| format!("{} case events", n.replayed_events))
        ));
    }
    if let Some(kib) = service_peak_kib.filter(|_| latency.is_some()) {
        table.row(
            if restarted_for_latency {
                "memory: service peak RSS, latency (restarted)"
            } else {
                "memory: service peak RSS, catch-up + latency"
            },
            format!("{:.1} MiB", kib as f64 / 1024.0),
            None,
            None,
            None,
            None,
            None,
        );
    }
    if !wants(Phase::CatchUp) && !wants(Phase::Latency) && !wants(Phase::Rebuild) {
        if let (Some(l), Some(rate)) = (&limit_result, limit_rate) {
            table.row(
                "limit: single-row commits, rows/s",
                fmt_rate(rate),
                None,
                Some(fmt_rate(rate)),
                None,
                None,
                None,
            );
            table.row(
                "limit: COPY, rows/s",
                fmt_rate(per_second(l.rows, l.copy)),
                None,
                None,
                None,
                None,
                None,
            );
        }
        if let (Some(n), Some(rate)) = (&naive_result, naive_events_rate) {
            table.row(
                "naive: events/s",
                fmt_rate(rate),
                Some(fmt_rate(rate)),
                None,
                None,
                None,
                None,
            );
            table.row(
                "naive: reports/s",
                fmt_rate(per_second(n.reports, n.elapsed)),
                None,
                None,
                None,
                None,
                None,
            );
        }
    }

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

/// The latency phase's timed reports.
struct LatencyRun {
    /// Every latency, sorted; timeouts counted at the timeout.
    sorted: Vec<Duration>,
    timeouts: usize,
    seen: Vec<Seen>,
}

/// A timed report's case, seen through the API.
struct Seen {
    case: uuid::Uuid,
    /// Just before the produce.
    produced_at: chrono::DateTime<chrono::Utc>,
    /// How long the broker took to acknowledge the produce (acks=all).
    acked: Duration,
    /// From just before the produce until the API answered with the case.
    latency: Duration,
}

impl LatencyRun {
    /// Each latency split where the database can say when: intake decoding the report (the
    /// case's `opened_at`), and, when PostgreSQL tracks commit timestamps
    /// (`track_commit_timestamp = on`), the commit of the case's first event and of its row in
    /// the outreach read model. The stages: broker and fetch; commands; projection; the probe.
    async fn stages(
        &self,
        pool: &PgPool,
        samples: Option<&std::path::Path>,
    ) -> anyhow::Result<Vec<(&'static str, Vec<Duration>)>> {
        type Times = (
            uuid::Uuid,
            chrono::DateTime<chrono::Utc>,
            Option<chrono::DateTime<chrono::Utc>>,
            Option<chrono::DateTime<chrono::Utc>>,
        );
        let ids: Vec<uuid::Uuid> = self.seen.iter().map(|seen| seen.case).collect();
        let tracked: bool =
            sqlx::query_scalar("SELECT current_setting('track_commit_timestamp') = 'on'")
                .fetch_one(pool)
                .await?;
        let query = if tracked {
            "SELECT c.case_id, c.opened_at,
                    (SELECT pg_xact_commit_timestamp(e.xmin) FROM events e
                      WHERE e.aggregate_type = 'OutreachCase'
                        AND e.aggregate_id = c.case_id::text
                      ORDER BY e.sequence LIMIT 1),
                    pg_xact_commit_timestamp(c.xmin)
               FROM outreach_cases c WHERE c.case_id = ANY($1)"
        } else {
            "SELECT case_id, opened_at, NULL::timestamptz, NULL::timestamptz
               FROM outreach_cases WHERE case_id = ANY($1)"
        };
        let times: std::collections::HashMap<uuid::Uuid, Times> = sqlx::query_as(query)
            .bind(&ids)
            .fetch_all(pool)
            .await?
            .into_iter()
            .map(|times: Times| (times.0, times))
            .collect();
        let since = |later: chrono::DateTime<chrono::Utc>,
                     earlier: chrono::DateTime<chrono::Utc>| {
            (later - earlier).to_std().unwrap_or_default()
        };
        let mut stages: Vec<(&'static str, Vec<Duration>)> = if tracked {
            [
                "produce to intake",
                "intake to event commit",
                "event commit to read model commit",
                "read model commit to API",
            ]
            .map(|name| (name, Vec::new()))
            .into()
        } else {
            ["produce to intake", "intake to case in API"]
                .map(|name| (name, Vec::new()))
                .into()
        };
        let mut acked: Vec<Duration> = self.seen.iter().map(|seen| seen.acked).collect();
        acked.sort();
        let ms = |duration: Duration| format!("{:.1}", duration.as_secs_f64() * 1e3);
        let mut csv = format!(
            "produced_at,latency_ms,ack_ms,{}\n",
            stages
                .iter()
                .map(|(name, _)| name.replace(' ', "_") + "_ms")
                .collect::<Vec<_>>()
                .join(",")
        );
        for seen in &self.seen {
            let Some((_, opened_at, committed_at, projected_at)) = times.get(&seen.case) else {
                continue;
            };
            let produced_at = seen.produced_at;
            let seen_at = produced_at + chrono::Duration::from_std(seen.latency)?;
            let mut marks = vec![produced_at, *opened_at];
            if tracked {
                let (Some(committed_at), Some(projected_at)) = (committed_at, projected_at) else {
                    continue;
                };
                marks.extend([*committed_at, *projected_at]);
            }
            marks.push(seen_at);
            let mut row = vec![
                produced_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                ms(seen.latency),
                ms(seen.acked),
            ];
            for (stage, pair) in stages.iter_mut().zip(marks.windows(2)) {
                stage.1.push(since(pair[1], pair[0]));
                row.push(ms(since(pair[1], pair[0])));
            }
            csv += &(row.join(",") + "\n");
        }
        if let Some(path) = samples {
            std::fs::write(path, csv)
                .with_context(|| format!("writing the samples to {}", path.display()))?;
        }
        for (_, durations) in &mut stages {
            durations.sort();
        }
        // Within the first stage, not after it: the broker may hand a record to the consumer
        // before the producer hears its acknowledgement.
        stages.insert(0, ("produce to broker ack (within the next)", acked));
        Ok(stages)
    }
}

/// Produces `--rate` reports a second for `--latency-warm-up-seconds` untimed, then for
/// `--latency-seconds` with one in `--probe-every` timed from just before its produce until its
/// case answers through the API.
async fn measure_latency(
    publisher: &Arc<Publisher>,
    pool: &PgPool,
    addr: &str,
    token: &str,
    id: &str,
    cli: &Cli,
) -> anyhow::Result<LatencyRun> {
    let (rate, seconds, probe_every) = (cli.rate, cli.latency_seconds, cli.probe_every);
    let untimed = rate * cli.latency_warm_up_seconds;
    let client = reqwest::Client::builder()
        .default_headers(
            [(
                reqwest::header::AUTHORIZATION,
                format!("Bearer {token}").parse::<reqwest::header::HeaderValue>()?,
            )]
            .into_iter()
            .collect(),
        )
        .build()?;
    let mut rng = Rng::new(cli.seed ^ 0x1a7e);
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
    let mut probes = tokio::task::JoinSet::new();
    for n in 0..untimed + rate * seconds {
        let report = reports::report(&format!("L{id}"), n, &mut rng);
        let encoded = encode(&report.event, Mode::Structured)?;
        let case = report.last_case_id(pool).await?;
        let url = format!("http://{addr}/v1/cases/{case}");
        let (publisher, client) = (publisher.clone(), client.clone());
        let timed = n >= untimed && (n - untimed).is_multiple_of(probe_every.max(1));
        ticker.tick().await;
        probes.spawn(async move {
            let started = Instant::now();
            let produced_at = chrono::Utc::now();
            let produced = publisher
                .publish_raw(Some(&report.report_id), &encoded)
                .await;
            let acked = started.elapsed();
            if !timed {
                return produced.map(|()| None).map_err(Into::into);
            }
            if produced.is_err() {
                // The broker did not take it within 30 s: counted with the timeouts.
                return Ok(Some(None));
            }
            loop {
                let status = client.get(&url).send().await?.status();
                if status.is_success() {
                    let seen = Seen {
                        case,
                        produced_at,
                        acked,
                        latency: started.elapsed(),
                    };
                    return anyhow::Ok(Some(Some(seen)));
                }
                if status != reqwest::StatusCode::NOT_FOUND {
                    bail!("GET {url} answered {status}");
                }
                if started.elapsed() > PROBE_TIMEOUT {
                    return Ok(Some(None));
                }
                // Every 10 ms at first, then a tenth of the time waited so far (at most 0.5 s):
                // each latency is within 10% or 10 ms, and a service that falls behind is not
                // also buried under thousands of polls a second.
                let wait =
                    (started.elapsed() / 10).clamp(PROBE_INTERVAL, Duration::from_millis(500));
                tokio::time::sleep(wait).await;
            }
        });
    }
    let mut latencies = Vec::new();
    let mut seen = Vec::new();
    let mut timeouts = 0;
    while let Some(done) = probes.join_next().await {
        match done?? {
            None => {} // produced, not timed
            Some(Some(one)) => {
                latencies.push(one.latency);
                seen.push(one);
            }
            // Counted at the timeout, so the percentiles never hide them.
            Some(None) => {
                timeouts += 1;
                latencies.push(PROBE_TIMEOUT);
            }
        }
    }
    latencies.sort();
    Ok(LatencyRun {
        sorted: latencies,
        timeouts,
        seen,
    })
}

/// Produces one report and waits until its case shows through the API: the service's consumer
/// has joined its group and fetches, so the timed reports do not time the join.
async fn warm_up(
    publisher: &Publisher,
    pool: &PgPool,
    addr: &str,
    token: &str,
    id: &str,
    seed: u64,
) -> anyhow::Result<()> {
    let mut rng = Rng::new(seed ^ 0x3a7);
    let report = reports::report(&format!("W{id}"), 0, &mut rng);
    let case = report.last_case_id(pool).await?;
    publisher
        .publish_raw(
            Some(&report.report_id),
            &encode(&report.event, Mode::Structured)?,
        )
        .await?;
    let client = reqwest::Client::new();
    let started = Instant::now();
    loop {
        let status = client
            .get(format!("http://{addr}/v1/cases/{case}"))
            .bearer_auth(token)
            .send()
            .await?
            .status();
        if status.is_success() {
            eprintln!(
                "latency: the first report showed after {:.1} s",
                started.elapsed().as_secs_f64()
            );
            return Ok(());
        }
        if started.elapsed() > STALL_TIMEOUT {
            bail!("the warm-up report's case did not show in {STALL_TIMEOUT:?} ({status})");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
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
