//! Units of work: the aggregates a piece of work touches, the commands decided on them, and
//! the events those commands produce, stored in one of two ways.
//!
//! - [`Immediate`] (a person's command, a sweep's): every command is decided on freshly loaded
//!   state and its events are stored at once in a transaction of their own; a lost write race
//!   is retried against fresh state.
//! - [`Deferred`] (intake's batches): aggregates are loaded once, in bulk, and kept; commands
//!   are decided in memory; [`Deferred::commit`] stores every event of the batch in one
//!   transaction, which fails as a whole if another writer got in first. Each message runs in
//!   a scope: a message refused half-way is rolled back and leaves nothing behind.
//!
//! What both do, [`UnitOfWork`] says: load an aggregate, and execute a command on it. The
//! command is decided the same way in both ([`decide`]).

mod deferred;
mod immediate;

pub(crate) use deferred::Deferred;
pub(crate) use immediate::Immediate;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use opentelemetry::KeyValue;
use outreach_domain::{CareTeamMember, CasePolicies, OutreachCase, PeerSupporter, SafetyReport};
use outreach_events::ReportRef;
use outreach_telemetry::metrics::metrics;
use sqlx::PgPool;
use uuid::Uuid;

use crate::event_store::AppendError;
use crate::member_ids::MemberKeys;
use crate::{classify, CommandError, Metadata, Rule};

/// How many times an immediate command is tried against fresh state after losing a race.
pub(crate) const CONFLICT_ATTEMPTS: u32 = 8;

/// What a unit of work of either kind does: the commands of members, cases and reports are
/// written once against this, and run in whichever kind their caller chose.
pub(crate) trait UnitOfWork {
    /// How many times a command is decided when it loses a write race.
    const ATTEMPTS: u32;

    /// The members' keys this unit has looked up (see [`crate::member_ids`]), and where to
    /// look up more.
    fn member_keys(&mut self) -> (&PgPool, &mut MemberKeys);

    /// The member's aggregate id, derived under their key.
    async fn member_id(&mut self, staff_id: &str) -> Result<String, CommandError> {
        let (pool, keys) = self.member_keys();
        Ok(keys.member_id(pool, staff_id).await?.to_string())
    }

    /// The member's case after `report`, derived under their key.
    async fn case_id(&mut self, report: &ReportRef, staff_id: &str) -> Result<Uuid, CommandError> {
        let (pool, keys) = self.member_keys();
        keys.case_id(pool, report, staff_id).await
    }

    /// The aggregate's state and version as this unit of work sees it.
    async fn load<A: Kept>(&mut self, id: &str) -> Result<(A, u64), CommandError>;

    /// Decides `command` on the aggregate once, and stores (or keeps) its events.
    async fn decide_once<A: Kept>(
        &mut self,
        id: &str,
        command: &A::Command,
        metadata: &Metadata,
    ) -> Result<(), AppendError>;

    /// Decides `command` on the aggregate, trying [`Self::ATTEMPTS`] times in all while it
    /// loses write races.
    async fn execute<A: Kept>(
        &mut self,
        id: &str,
        command: &A::Command,
        metadata: &Metadata,
    ) -> Result<(), CommandError> {
        execute::<_, A>(self, id, command, metadata, Self::ATTEMPTS).await
    }
}

/// An aggregate's state as a unit of work has it, and its version.
#[derive(Debug, Clone)]
pub(crate) struct Slot<A> {
    pub state: A,
    pub version: u64,
}

/// The aggregates of each type a unit of work holds.
#[derive(Default)]
pub(crate) struct Slots {
    reports: HashMap<String, Slot<SafetyReport>>,
    members: HashMap<String, Slot<CareTeamMember>>,
    cases: HashMap<String, Slot<OutreachCase>>,
    supporters: HashMap<String, Slot<PeerSupporter>>,
}

/// The aggregates a unit of work can hold: each says where it is kept and what it is decided
/// with. The bounds every unit of work needs of an aggregate (a command it can decide again
/// after a lost race, an error that names its rule) are declared here, once.
pub(crate) trait Kept: Aggregate<Command: Clone, Error: Rule> + Clone + 'static {
    fn slots(slots: &mut Slots) -> &mut HashMap<String, Slot<Self>>;
    fn services(policies: &CasePolicies) -> &Self::Services;
}

impl Kept for SafetyReport {
    fn slots(slots: &mut Slots) -> &mut HashMap<String, Slot<Self>> {
        &mut slots.reports
    }
    fn services(policies: &CasePolicies) -> &Self::Services {
        &policies.group_debrief
    }
}

impl Kept for CareTeamMember {
    fn slots(slots: &mut Slots) -> &mut HashMap<String, Slot<Self>> {
        &mut slots.members
    }
    fn services(_: &CasePolicies) -> &Self::Services {
        &()
    }
}

impl Kept for OutreachCase {
    fn slots(slots: &mut Slots) -> &mut HashMap<String, Slot<Self>> {
        &mut slots.cases
    }
    fn services(policies: &CasePolicies) -> &Self::Services {
        policies
    }
}

impl Kept for PeerSupporter {
    fn slots(slots: &mut Slots) -> &mut HashMap<String, Slot<Self>> {
        &mut slots.supporters
    }
    fn services(policies: &CasePolicies) -> &Self::Services {
        &policies.roster
    }
}

/// Decides `command` on `work`, up to `attempts` times while it loses write races, and
/// measures it.
///
/// The events a command stores carry this span's trace context in their metadata, so the
/// projections that apply them continue the same trace.
#[tracing::instrument(
    name = "command.execute",
    skip_all,
    fields(aggregate = A::TYPE, aggregate_id = %id, attempts = tracing::field::Empty)
)]
async fn execute<W: UnitOfWork + ?Sized, A: Kept>(
    work: &mut W,
    id: &str,
    command: &A::Command,
    metadata: &Metadata,
    attempts: u32,
) -> Result<(), CommandError> {
    let started = Instant::now();
    let mut metadata = metadata.clone();
    metadata.extend(outreach_telemetry::trace_context_of(
        &tracing::Span::current(),
    ));
    let aggregate = KeyValue::new("aggregate", A::TYPE);
    let mut attempt = 1;
    let outcome = loop {
        match work.decide_once::<A>(id, command, &metadata).await {
            Err(AppendError::Conflict) if attempt < attempts => {
                tracing::debug!(aggregate = A::TYPE, attempt, "write conflict, retrying");
                metrics()
                    .command_conflicts
                    .add(1, std::slice::from_ref(&aggregate));
                // Back off a little more each time so racing writers spread out.
                tokio::time::sleep(Duration::from_millis(2u64 << attempt.min(6))).await;
                attempt += 1;
            }
            Err(AppendError::Conflict) => break Err(CommandError::Conflict { aggregate: A::TYPE }),
            Err(AppendError::Unavailable(error)) => break Err(error),
            Ok(()) => break Ok(()),
        }
    };
    tracing::Span::current().record("attempts", attempt);
    let result = match &outcome {
        Ok(()) => "ok",
        Err(CommandError::Refused { .. }) => "refused",
        Err(CommandError::Conflict { .. } | CommandError::StaleVersion { .. }) => "conflict",
        Err(CommandError::Unavailable(_)) => "unavailable",
    };
    metrics().command_duration.record(
        started.elapsed().as_secs_f64(),
        &[aggregate, KeyValue::new("outcome", result)],
    );
    outcome
}

/// The command decided on `state`: the state after it and the events it produced, or the
/// rule that refused it (on a copy: the held state is untouched either way).
async fn decide<A: Kept>(
    mut state: A,
    command: &A::Command,
    policies: &CasePolicies,
) -> Result<(A, Vec<A::Event>), CommandError> {
    let sink = EventSink::default();
    state
        .handle(command.clone(), A::services(policies), &sink)
        .await
        .map_err(|e| classify(cqrs_es::AggregateError::UserError(e), A::TYPE))?;
    Ok((state, sink.collect().await))
}
