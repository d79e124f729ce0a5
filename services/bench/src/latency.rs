//! The latency phase: a steady rate of reports, each timed from its produce to its case
//! answering through the API.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use outreach_intake::sample::{encode, Mode, Publisher};
use sqlx::PgPool;

use crate::reports::{self, Rng};
use crate::{Cli, PROBE_INTERVAL, PROBE_TIMEOUT, STALL_TIMEOUT};

/// The latency phase's timed reports.
pub(crate) struct LatencyRun {
    /// Every latency, sorted; timeouts counted at the timeout.
    pub(crate) sorted: Vec<Duration>,
    pub(crate) timeouts: usize,
    seen: Vec<Seen>,
}

/// A timed report's case, seen through the API.
pub(crate) struct Seen {
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
    pub(crate) async fn stages(
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
pub(crate) async fn measure_latency(
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
pub(crate) async fn warm_up(
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
