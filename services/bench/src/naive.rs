//! The naive reference: what cqrs-es's demo does, one message at a time. The project's own
//! aggregates (safety report, care team member, outreach case) run through `CqrsFramework` on
//! plain `postgres-es` (no sealing of personal data), with a `GenericQuery` view of the cases
//! dispatched in-process after each commit. Reports come from memory, already encoded as they
//! were published, and go through intake's real decoder: no Kafka, which only flatters the
//! reference.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::anyhow;
use chrono::Utc;
use cqrs_es::persist::{GenericQuery, PersistedEventStore, QueryReplay};
use cqrs_es::{Aggregate, EventEnvelope, EventStore, View};
use outreach_domain::{CaseCommand, CasePolicies, MemberCommand, OutreachCase, SafetyReport};
use outreach_events::CaseEvent;
use outreach_intake::sample::Encoded;
use outreach_intake::{InboundRecord, Policies};
use postgres_es::{postgres_cqrs, PostgresEventRepository, PostgresViewRepository};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use uuid::Uuid;

const VIEW_TABLE: &str = "naive_outreach_cases";

/// The case view, kept the demo's way: loaded, updated and saved per event after the commit.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct CaseView {
    case_id: Option<Uuid>,
    report_id: String,
    staff_id: String,
    campus: String,
    status: String,
    events: u64,
}

impl View<OutreachCase> for CaseView {
    fn update(&mut self, event: &EventEnvelope<OutreachCase>) {
        self.events += 1;
        match &event.payload {
            CaseEvent::CaseOpened(opened) => {
                self.case_id = Some(opened.facts.case_id);
                self.report_id = opened.facts.report.report_id.clone();
                self.staff_id = (opened.facts.member.as_ref())
                    .map(|member| member.staff_id.clone())
                    .unwrap_or_default();
                self.campus = opened.facts.campus.clone();
                self.status = "open".into();
            }
            CaseEvent::CaseCancelled(_) => self.status = "cancelled".into(),
            CaseEvent::CaseClosed(_) => self.status = "closed".into(),
            _ => {}
        }
    }
}

type CaseQuery =
    GenericQuery<PostgresViewRepository<CaseView, OutreachCase>, CaseView, OutreachCase>;

fn case_query(pool: &PgPool) -> CaseQuery {
    GenericQuery::new(Arc::new(PostgresViewRepository::new(
        VIEW_TABLE,
        pool.clone(),
    )))
}

/// postgres-es's own schema (its `db/init.sql`) and the view's table.
pub async fn create_schema(pool: &PgPool) -> anyhow::Result<()> {
    for statement in [
        "CREATE TABLE events (
            aggregate_type text NOT NULL, aggregate_id text NOT NULL,
            sequence bigint CHECK (sequence >= 0) NOT NULL, event_type text NOT NULL,
            event_version text NOT NULL, payload json NOT NULL, metadata json NOT NULL,
            PRIMARY KEY (aggregate_type, aggregate_id, sequence))",
        "CREATE TABLE snapshots (
            aggregate_type text NOT NULL, aggregate_id text NOT NULL,
            last_sequence bigint CHECK (last_sequence >= 0) NOT NULL,
            current_snapshot bigint CHECK (current_snapshot >= 0) NOT NULL,
            payload json NOT NULL, PRIMARY KEY (aggregate_type, aggregate_id, last_sequence))",
        "CREATE TABLE naive_outreach_cases (
            view_id text NOT NULL, version bigint CHECK (version >= 0) NOT NULL,
            payload json NOT NULL, PRIMARY KEY (view_id))",
    ] {
        sqlx::query(statement).execute(pool).await?;
    }
    Ok(())
}

pub struct NaiveRun {
    pub reports: u64,
    pub events: u64,
    pub cases: u64,
    pub elapsed: Duration,
    /// Each report's time through the pipeline, sorted.
    pub per_report: Vec<Duration>,
    /// Replaying the view from zero with cqrs-es's `QueryReplay`.
    pub replayed_events: u64,
    pub replay_elapsed: Duration,
}

pub async fn run(
    pool: &PgPool,
    records: &[(String, Encoded)],
    intake: &Policies,
    policies: &CasePolicies,
) -> anyhow::Result<NaiveRun> {
    let reports =
        postgres_cqrs::<SafetyReport>(pool.clone(), vec![], policies.group_debrief.clone());
    let report_store: PersistedEventStore<_, SafetyReport> =
        PersistedEventStore::new_event_store(PostgresEventRepository::new(pool.clone()));
    let members = postgres_cqrs::<outreach_domain::CareTeamMember>(pool.clone(), vec![], ());
    let cases = postgres_cqrs::<OutreachCase>(
        pool.clone(),
        vec![Box::new(case_query(pool))],
        policies.clone(),
    );
    let mut per_report = Vec::with_capacity(records.len());
    let started = Instant::now();
    for (offset, (key, encoded)) in records.iter().enumerate() {
        let one = Instant::now();
        let record = InboundRecord {
            topic: "naive".into(),
            partition: 0,
            offset: offset as i64,
            key: Some(key.clone().into_bytes()),
            headers: encoded
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), Some(v.clone().into_bytes())))
                .collect(),
            payload: Some(encoded.payload.clone()),
        };
        let decoded = outreach_intake::decode(&record, intake, 1 << 20, Utc::now())
            .map_err(|rejection| anyhow!("a benchmark report was rejected: {rejection}"))?;
        let metadata = HashMap::from([("event_id".to_string(), decoded.event_id.clone())]);
        let report_id = outreach_domain::ids::report_id(decoded.command.report()).to_string();
        // The naive baseline keeps no data keys: it names cases as the service did before
        // issue 27 (the cost of deriving ids under a key is the service's, not this one's).
        let mut command = decoded.command.clone();
        if let outreach_domain::ReportCommand::Record {
            report, members, ..
        } = &mut command
        {
            for member in members.iter_mut() {
                member.case_id = Some(outreach_domain::ids::derivable_before_27::case_id(
                    report,
                    &member.profile.staff_id,
                ));
            }
        }
        reports
            .execute_with_metadata(&report_id, command.clone(), metadata.clone())
            .await?;
        let report = report_store.load_aggregate(&report_id).await?.aggregate;
        for (case_id, command) in report.follow_up(&command) {
            // The member's one-open-case slot first, as the service does (without its
            // opt-out and link checks: every member here is new).
            if let CaseCommand::Open {
                member, opened_at, ..
            } = &command
            {
                let start = MemberCommand::StartCase {
                    staff_id: member.staff_id.clone(),
                    case_id,
                    at: *opened_at,
                };
                let member_id =
                    outreach_domain::ids::derivable_before_27::member_id(&member.staff_id)
                        .to_string();
                members
                    .execute_with_metadata(&member_id, start, metadata.clone())
                    .await?;
            }
            cases
                .execute_with_metadata(&case_id.to_string(), command, metadata.clone())
                .await?;
        }
        per_report.push(one.elapsed());
    }
    let elapsed = started.elapsed();
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(pool)
        .await?;
    let cases: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {VIEW_TABLE}"))
        .fetch_one(pool)
        .await?;

    // The demo's rebuild: empty the view, replay every case event through the query.
    sqlx::query(&format!("TRUNCATE {VIEW_TABLE}"))
        .execute(pool)
        .await?;
    let replayed: i64 = sqlx::query_scalar("SELECT count(*) FROM events WHERE aggregate_type = $1")
        .bind(OutreachCase::TYPE)
        .fetch_one(pool)
        .await?;
    let replay_started = Instant::now();
    QueryReplay::new(PostgresEventRepository::new(pool.clone()), case_query(pool))
        .replay_all()
        .await?;
    let replay_elapsed = replay_started.elapsed();

    per_report.sort();
    Ok(NaiveRun {
        reports: records.len() as u64,
        events: events as u64,
        cases: cases as u64,
        elapsed,
        per_report,
        replayed_events: replayed as u64,
        replay_elapsed,
    })
}
