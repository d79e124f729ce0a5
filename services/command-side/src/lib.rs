//! The command side: runs domain commands against aggregates stored in PostgreSQL.
//!
//! postgres-es reports a concurrent write to the same aggregate as `AggregateConflict` and does
//! not retry; every command here is retried on conflict against freshly loaded state, so two
//! writers never lose an update and a caller only sees a conflict after repeated losses.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use cqrs_es::persist::PersistedEventStore;
use cqrs_es::{Aggregate, AggregateContext, AggregateError, EventStore};
use futures::{StreamExt, TryStreamExt};
use opentelemetry::KeyValue;
use outreach_domain::{CaseError, OutreachCase, ReportCommand, ReportError, SafetyReport};
use outreach_telemetry::metrics::metrics;
use postgres_es::{postgres_cqrs, PostgresCqrs, PostgresEventRepository};
use sqlx::PgPool;
use uuid::Uuid;

/// How many times a command is retried after losing a write race on its aggregate.
const CONFLICT_ATTEMPTS: u32 = 8;
/// Case commands of one report run this many at a time: a mass-casualty report names hundreds.
const CASE_CONCURRENCY: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// A domain rule refused the command; retrying will not help.
    #[error("refused by rule {rule}: {detail}")]
    Refused { rule: &'static str, detail: String },
    /// Lost the write race on an aggregate this many times in a row.
    #[error("the {aggregate} aggregate kept changing underneath the command")]
    Conflict { aggregate: &'static str },
    /// The event store could not be reached or answered unexpectedly; worth retrying later.
    #[error("event store unavailable: {0}")]
    Unavailable(String),
}

impl CommandError {
    pub fn is_transient(&self) -> bool {
        !matches!(self, CommandError::Refused { .. })
    }
}

/// Domain errors that can name the rule that refused a command.
trait Rule: std::error::Error {
    fn rule(&self) -> &'static str;
}

impl Rule for CaseError {
    fn rule(&self) -> &'static str {
        CaseError::rule(self)
    }
}

impl Rule for ReportError {
    fn rule(&self) -> &'static str {
        ReportError::rule(self)
    }
}

fn classify<E: Rule>(error: AggregateError<E>, aggregate: &'static str) -> CommandError {
    match error {
        AggregateError::UserError(e) => CommandError::Refused {
            rule: e.rule(),
            detail: e.to_string(),
        },
        AggregateError::AggregateConflict => CommandError::Conflict { aggregate },
        other => CommandError::Unavailable(other.to_string()),
    }
}

/// Correlates stored events with what caused them (e.g. the inbound message id).
pub type Metadata = HashMap<String, String>;

pub struct CommandSide {
    cases: PostgresCqrs<OutreachCase>,
    reports: PostgresCqrs<SafetyReport>,
    report_store: PersistedEventStore<PostgresEventRepository, SafetyReport>,
}

impl CommandSide {
    /// Projections are not registered with cqrs-es: they follow the event store themselves
    /// in commit order (see the projections crate), so nothing here dispatches queries.
    pub fn new(pool: PgPool) -> Self {
        Self {
            cases: postgres_cqrs(pool.clone(), vec![], ()),
            reports: postgres_cqrs(pool.clone(), vec![], ()),
            report_store: PersistedEventStore::new_event_store(PostgresEventRepository::new(pool)),
        }
    }

    /// Applies a report command, then the case commands that follow from it.
    ///
    /// Safe to repeat: if a crash interrupts this half-way, running it again with the same
    /// command finishes the work without opening or cancelling anything twice.
    pub async fn handle_report(
        &self,
        command: ReportCommand,
        metadata: &Metadata,
    ) -> Result<usize, CommandError> {
        let report_id = outreach_domain::ids::report_id(command.report()).to_string();
        execute(&self.reports, &report_id, &command, metadata).await?;
        let report = self
            .report_store
            .load_aggregate(&report_id)
            .await
            .map_err(|e| classify(e, SafetyReport::TYPE))?
            .aggregate()
            .clone();
        let follow_up = report.follow_up(&command);
        let issued = follow_up.len();
        futures::stream::iter(follow_up)
            .map(|(case_id, case_command)| self.handle_case(case_id, case_command, metadata))
            .buffer_unordered(CASE_CONCURRENCY)
            .try_collect::<Vec<_>>()
            .await?;
        Ok(issued)
    }

    pub async fn handle_case(
        &self,
        case_id: Uuid,
        command: outreach_domain::CaseCommand,
        metadata: &Metadata,
    ) -> Result<(), CommandError> {
        execute(&self.cases, &case_id.to_string(), &command, metadata).await
    }
}

/// Runs one command on one aggregate, retrying lost write races.
///
/// The events it stores carry this span's trace context in their metadata, so the projections
/// that apply them continue the same trace.
#[tracing::instrument(
    name = "command.execute",
    skip_all,
    fields(aggregate = A::TYPE, aggregate_id = %aggregate_id, attempts = tracing::field::Empty)
)]
async fn execute<A>(
    cqrs: &PostgresCqrs<A>,
    aggregate_id: &str,
    command: &A::Command,
    metadata: &Metadata,
) -> Result<(), CommandError>
where
    A: Aggregate,
    A::Command: Clone,
    A::Error: Rule,
{
    let started = Instant::now();
    let mut metadata = metadata.clone();
    metadata.extend(outreach_telemetry::trace_context_of(
        &tracing::Span::current(),
    ));
    let aggregate = KeyValue::new("aggregate", A::TYPE);
    let mut attempt = 1;
    let outcome = loop {
        match cqrs
            .execute_with_metadata(aggregate_id, command.clone(), metadata.clone())
            .await
        {
            Ok(()) => break Ok(()),
            Err(AggregateError::AggregateConflict) if attempt < CONFLICT_ATTEMPTS => {
                tracing::debug!(aggregate = A::TYPE, attempt, "write conflict, retrying");
                metrics()
                    .command_conflicts
                    .add(1, std::slice::from_ref(&aggregate));
                // Back off a little more each time so racing writers spread out.
                tokio::time::sleep(Duration::from_millis(2u64 << attempt.min(6))).await;
                attempt += 1;
            }
            Err(error) => break Err(classify(error, A::TYPE)),
        }
    };
    tracing::Span::current().record("attempts", attempt);
    let result = match &outcome {
        Ok(()) => "ok",
        Err(CommandError::Refused { .. }) => "refused",
        Err(CommandError::Conflict { .. }) => "conflict",
        Err(CommandError::Unavailable(_)) => "unavailable",
    };
    metrics().command_duration.record(
        started.elapsed().as_secs_f64(),
        &[aggregate, KeyValue::new("outcome", result)],
    );
    outcome
}
