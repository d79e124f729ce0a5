//! The table and notes a run ends with: what each phase measured, beside the references and
//! the targets.

use std::time::Duration;

use crate::naive::NaiveRun;
use crate::readyz::Readyz;
use crate::service::Rebuilt;
use crate::table::{ms, per_second, Table};
use crate::{
    fmt_rate, percentile, ratio, CatchUp, Cli, Limit, Phase, PROBE_INTERVAL, PROBE_TIMEOUT,
};

/// What the run's phases measured; `None` (or empty) for a phase that did not run.
pub(crate) struct Measured<'a> {
    pub cli: &'a Cli,
    pub only: &'a [Phase],
    /// The service's pool size: the limit's concurrency.
    pub connections: u32,
    pub catch_up: Option<CatchUp>,
    /// Every latency, sorted.
    pub latency: Option<Vec<Duration>>,
    pub latency_stages: Vec<(&'static str, Vec<Duration>)>,
    pub latency_timeouts: usize,
    pub service_peak_kib: Option<u64>,
    /// Whether the latency phase ran on a service of its own (on its own broker).
    pub restarted_for_latency: bool,
    pub rebuilds: Vec<(&'static str, Rebuilt)>,
    pub readyz_result: Option<Readyz>,
    pub limit_result: Option<Limit>,
    pub naive_result: Option<NaiveRun>,
}

/// Adds the measured rows to `table`, and what they mean to `notes`.
pub(crate) fn write(measured: &Measured, table: &mut Table, notes: &mut Vec<String>) {
    let Measured {
        cli,
        only,
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
    } = measured;
    let wants = |phase| only.contains(&phase);
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
            for (stage, durations) in latency_stages.iter() {
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
        for (name, rebuilt) in rebuilds {
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
            if *restarted_for_latency {
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
}
