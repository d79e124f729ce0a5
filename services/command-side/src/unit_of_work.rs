//! A unit of work: the aggregates a piece of work touches, the commands decided on them, and
//! the events those commands produce, stored in one of two ways.
//!
//! - **Immediate** (a person's command, a sweep's): every command is decided on freshly loaded
//!   state and its events are stored at once in a transaction of their own; a lost write race
//!   is retried against fresh state.
//! - **Deferred** (intake's batches): aggregates are loaded once, in bulk, and kept; commands
//!   are decided in memory; [`UnitOfWork::commit`] stores every event of the batch in one
//!   transaction, which fails as a whole if another writer got in first. Each message runs in
//!   a scope: a message refused half-way is rolled back and leaves nothing behind.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use opentelemetry::KeyValue;
use outreach_domain::{CareTeamMember, CasePolicies, OutreachCase, PeerSupporter, SafetyReport};
use outreach_events::ReportRef;
use outreach_telemetry::metrics::metrics;
use sqlx::PgPool;
use uuid::Uuid;

use crate::event_store::{self, AppendError, NewEvent};
use crate::member_ids::MemberKeys;
use crate::parked::{self, Parked, ParkedState};
use crate::{classify, unavailable, CommandError, Metadata, Rule};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Immediate,
    Deferred,
}

/// An aggregate's state as this unit of work has it, and its version.
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
/// with.
pub(crate) trait Kept: Aggregate + Clone + 'static
where
    Self::Command: Clone,
    Self::Error: Rule,
{
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

/// What a scope changed, to put back if it is rolled back: each slot and parked list as it
/// was before the scope first touched it, and how many events were pending.
#[derive(Default)]
struct Scope {
    before: Slots,
    parked_before: HashMap<ReportRef, ParkedState>,
    pending: usize,
}

/// How many times an immediate command is tried against fresh state after losing a race.
pub(crate) const CONFLICT_ATTEMPTS: u32 = 8;

pub(crate) struct UnitOfWork<'p> {
    pool: &'p PgPool,
    policies: &'p CasePolicies,
    mode: Mode,
    slots: Slots,
    pending: Vec<NewEvent>,
    /// Commands waiting for their report, for each report this unit has looked at.
    parked: HashMap<ReportRef, ParkedState>,
    scopes: Vec<Scope>,
    /// The members' keys looked up, for the ids derived from them.
    keys: MemberKeys,
}

impl<'p> UnitOfWork<'p> {
    pub fn new(pool: &'p PgPool, policies: &'p CasePolicies, mode: Mode) -> Self {
        Self {
            pool,
            policies,
            mode,
            slots: Slots::default(),
            pending: Vec::new(),
            parked: HashMap::new(),
            scopes: Vec::new(),
            keys: MemberKeys::default(),
        }
    }

    /// Looks up the keys of these members in one statement (made for those who have none).
    pub async fn load_member_keys(&mut self, staff_ids: &[String]) -> Result<(), CommandError> {
        self.keys.load(self.pool, staff_ids).await
    }

    /// The member's aggregate id, derived under their key.
    pub async fn member_id(&mut self, staff_id: &str) -> Result<String, CommandError> {
        Ok(self.keys.member_id(self.pool, staff_id).await?.to_string())
    }

    /// The member's case after `report`, derived under their key.
    pub async fn case_id(
        &mut self,
        report: &ReportRef,
        staff_id: &str,
    ) -> Result<Uuid, CommandError> {
        self.keys.case_id(self.pool, report, staff_id).await
    }

    /// `command` with the case ids of the members it names filled in.
    pub async fn identify(
        &mut self,
        command: &outreach_domain::ReportCommand,
    ) -> Result<outreach_domain::ReportCommand, CommandError> {
        self.keys.identify(self.pool, command).await
    }

    /// Loads these aggregates in one query, unless already held (deferred only: an immediate
    /// unit reads fresh state at every step).
    pub async fn preload<A: Kept>(&mut self, ids: Vec<String>) -> Result<(), CommandError>
    where
        A::Command: Clone,
        A::Error: Rule,
    {
        if self.mode == Mode::Immediate {
            return Ok(());
        }
        let missing = self.missing::<A>(ids);
        let mut stored = event_store::load_stored(self.pool, &[(A::TYPE, &missing)]).await?;
        self.hold::<A>(&missing, &mut stored)
    }

    /// [`Self::preload`] for the reports, members and cases of a batch, in one query.
    pub async fn preload_batch(
        &mut self,
        reports: Vec<String>,
        members: Vec<String>,
        cases: Vec<String>,
    ) -> Result<(), CommandError> {
        if self.mode == Mode::Immediate {
            return Ok(());
        }
        let reports = self.missing::<SafetyReport>(reports);
        let members = self.missing::<CareTeamMember>(members);
        let cases = self.missing::<OutreachCase>(cases);
        let mut stored = event_store::load_stored(
            self.pool,
            &[
                (SafetyReport::TYPE, &reports),
                (CareTeamMember::TYPE, &members),
                (OutreachCase::TYPE, &cases),
            ],
        )
        .await?;
        self.hold::<SafetyReport>(&reports, &mut stored)?;
        self.hold::<CareTeamMember>(&members, &mut stored)?;
        self.hold::<OutreachCase>(&cases, &mut stored)
    }

    /// Of `ids`, the ones not held yet (the load reads each aggregate once, however often named).
    fn missing<A: Kept>(&mut self, ids: Vec<String>) -> Vec<String>
    where
        A::Command: Clone,
        A::Error: Rule,
    {
        let held = A::slots(&mut self.slots);
        ids.into_iter()
            .filter(|id| !held.contains_key(id))
            .collect()
    }

    /// Holds each of `ids` as its events in `stored` make it.
    fn hold<A: Kept>(
        &mut self,
        ids: &[String],
        stored: &mut event_store::StoredEvents,
    ) -> Result<(), CommandError>
    where
        A::Command: Clone,
        A::Error: Rule,
    {
        let held = A::slots(&mut self.slots);
        for (id, (state, version)) in stored.fold::<A>(ids)? {
            held.insert(id, Slot { state, version });
        }
        Ok(())
    }

    /// The aggregate's state and version as this unit of work sees it.
    pub async fn load<A: Kept>(&mut self, id: &str) -> Result<(A, u64), CommandError>
    where
        A::Command: Clone,
        A::Error: Rule,
    {
        if self.mode == Mode::Immediate {
            return event_store::load_one::<A>(self.pool, id).await;
        }
        let slot = self.held::<A>(id).await?;
        Ok((slot.state.clone(), slot.version))
    }

    async fn held<A: Kept>(&mut self, id: &str) -> Result<&Slot<A>, CommandError>
    where
        A::Command: Clone,
        A::Error: Rule,
    {
        if !A::slots(&mut self.slots).contains_key(id) {
            let (state, version) = event_store::load_one::<A>(self.pool, id).await?;
            A::slots(&mut self.slots).insert(id.to_owned(), Slot { state, version });
        }
        Ok(&A::slots(&mut self.slots)[id])
    }

    /// Decides `command` on the aggregate, retrying lost write races when immediate.
    pub async fn execute<A: Kept>(
        &mut self,
        id: &str,
        command: &A::Command,
        metadata: &Metadata,
    ) -> Result<(), CommandError>
    where
        A::Command: Clone,
        A::Error: Rule,
    {
        self.execute_with_attempts::<A>(id, command, metadata, CONFLICT_ATTEMPTS)
            .await
    }

    /// Decides `command` once: when immediate, a lost write race is the caller's to handle.
    pub async fn execute_once<A: Kept>(
        &mut self,
        id: &str,
        command: &A::Command,
        metadata: &Metadata,
    ) -> Result<(), CommandError>
    where
        A::Command: Clone,
        A::Error: Rule,
    {
        self.execute_with_attempts::<A>(id, command, metadata, 1)
            .await
    }

    /// The events a command stores carry this span's trace context in their metadata, so the
    /// projections that apply them continue the same trace.
    #[tracing::instrument(
        name = "command.execute",
        skip_all,
        fields(aggregate = A::TYPE, aggregate_id = %id, attempts = tracing::field::Empty)
    )]
    async fn execute_with_attempts<A: Kept>(
        &mut self,
        id: &str,
        command: &A::Command,
        metadata: &Metadata,
        attempts: u32,
    ) -> Result<(), CommandError>
    where
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
            let decided = match self.mode {
                Mode::Immediate => self.decide_and_store::<A>(id, command, &metadata).await,
                Mode::Deferred => self.decide_and_keep::<A>(id, command, &metadata).await,
            };
            match decided {
                Err(AppendError::Conflict) if attempt < attempts => {
                    tracing::debug!(aggregate = A::TYPE, attempt, "write conflict, retrying");
                    metrics()
                        .command_conflicts
                        .add(1, std::slice::from_ref(&aggregate));
                    // Back off a little more each time so racing writers spread out.
                    tokio::time::sleep(Duration::from_millis(2u64 << attempt.min(6))).await;
                    attempt += 1;
                }
                Err(AppendError::Conflict) => {
                    break Err(CommandError::Conflict { aggregate: A::TYPE })
                }
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

    /// Decides on freshly loaded state and stores the events at once.
    async fn decide_and_store<A: Kept>(
        &mut self,
        id: &str,
        command: &A::Command,
        metadata: &Metadata,
    ) -> Result<(), AppendError>
    where
        A::Command: Clone,
        A::Error: Rule,
    {
        let (state, version) = event_store::load_one::<A>(self.pool, id).await?;
        let (_, events) = decide(state, command, self.policies).await?;
        if events.is_empty() {
            return Ok(());
        }
        let mut events = NewEvent::numbered::<A>(id, version, events, metadata)?;
        event_store::append_now(self.pool, &mut events).await
    }

    /// Decides on the held state and keeps the events for [`Self::commit`].
    async fn decide_and_keep<A: Kept>(
        &mut self,
        id: &str,
        command: &A::Command,
        metadata: &Metadata,
    ) -> Result<(), AppendError>
    where
        A::Command: Clone,
        A::Error: Rule,
    {
        let slot = self.held::<A>(id).await?.clone();
        let version = slot.version;
        let (state, events) = decide(slot.state.clone(), command, self.policies).await?;
        if events.is_empty() {
            return Ok(());
        }
        let numbered = NewEvent::numbered::<A>(id, version, events, metadata)?;
        if let Some(scope) = self.scopes.last_mut() {
            A::slots(&mut scope.before)
                .entry(id.to_owned())
                .or_insert(slot);
        }
        let version = version + numbered.len() as u64;
        self.pending.extend(numbered);
        A::slots(&mut self.slots).insert(id.to_owned(), Slot { state, version });
        Ok(())
    }

    /// Starts a scope (deferred only): what follows can be rolled back as one.
    pub fn begin_scope(&mut self) {
        self.scopes.push(Scope {
            pending: self.pending.len(),
            ..Default::default()
        });
    }

    /// Keeps what the innermost scope did; an outer scope can still roll it back.
    pub fn end_scope(&mut self) {
        let Some(scope) = self.scopes.pop() else {
            return;
        };
        if let Some(outer) = self.scopes.last_mut() {
            merge_first(&mut outer.before.reports, scope.before.reports);
            merge_first(&mut outer.before.members, scope.before.members);
            merge_first(&mut outer.before.cases, scope.before.cases);
            merge_first(&mut outer.before.supporters, scope.before.supporters);
            merge_first(&mut outer.parked_before, scope.parked_before);
        }
    }

    /// Puts back everything the innermost scope changed.
    pub fn rollback_scope(&mut self) {
        let Some(scope) = self.scopes.pop() else {
            return;
        };
        self.pending.truncate(scope.pending);
        self.slots.reports.extend(scope.before.reports);
        self.slots.members.extend(scope.before.members);
        self.slots.cases.extend(scope.before.cases);
        self.slots.supporters.extend(scope.before.supporters);
        self.parked.extend(scope.parked_before);
    }

    /// Looks up, in one query, the commands already waiting for these reports (deferred only).
    pub async fn preload_parked(&mut self, reports: Vec<ReportRef>) -> Result<(), CommandError> {
        let missing: Vec<ReportRef> = reports
            .into_iter()
            .filter(|r| !self.parked.contains_key(r))
            .collect::<std::collections::HashSet<_>>()
            .into_iter()
            .collect();
        let mut found = parked::load(self.pool, &missing).await?;
        for report in missing {
            let state = found.remove(&report).unwrap_or_default();
            self.parked.insert(report, state);
        }
        Ok(())
    }

    /// Parks a command until its report arrives; stored by [`Self::commit`].
    pub async fn park(
        &mut self,
        command: outreach_domain::ReportCommand,
    ) -> Result<(), CommandError> {
        let report = command.report().clone();
        // Those stored already come first if the report is recorded later in this unit.
        self.preload_parked(vec![report.clone()]).await?;
        self.save_parked(&report);
        self.parked
            .entry(report)
            .or_default()
            .waiting
            .push(Parked { id: None, command });
        Ok(())
    }

    /// Takes every command waiting for `report`, in arrival order, to be applied; those stored
    /// are deleted by [`Self::commit`].
    pub async fn take_parked(
        &mut self,
        report: &ReportRef,
    ) -> Result<Vec<outreach_domain::ReportCommand>, CommandError> {
        self.preload_parked(vec![report.clone()]).await?;
        self.save_parked(report);
        let state = self.parked.entry(report.clone()).or_default();
        let mut waiting = std::mem::take(&mut state.waiting);
        // Stored ones first, by row id (arrival order), then any parked by this unit.
        waiting.sort_by_key(|p| p.id.unwrap_or(i64::MAX));
        state.taken.extend(waiting.iter().filter_map(|p| p.id));
        Ok(waiting.into_iter().map(|p| p.command).collect())
    }

    fn save_parked(&mut self, report: &ReportRef) {
        let now = self.parked.get(report).cloned().unwrap_or_default();
        if let Some(scope) = self.scopes.last_mut() {
            scope.parked_before.entry(report.clone()).or_insert(now);
        }
    }

    /// The reports this unit parks commands for.
    pub fn newly_parked(&self) -> Vec<ReportRef> {
        self.parked
            .iter()
            .filter(|(_, state)| state.waiting.iter().any(|p| p.id.is_none()))
            .map(|(report, _)| report.clone())
            .collect()
    }

    /// Stores everything decided (deferred): every event, and the parked commands added and
    /// taken, in one transaction. Nothing is stored if any part fails.
    pub async fn commit(self) -> Result<(), AppendError> {
        let mut events = self.pending;
        let to_park: Vec<&outreach_domain::ReportCommand> = self
            .parked
            .values()
            .flat_map(|state| &state.waiting)
            .filter(|p| p.id.is_none())
            .map(|p| &p.command)
            .collect();
        let taken: Vec<i64> = self
            .parked
            .values()
            .flat_map(|state| state.taken.iter().copied())
            .collect();
        if events.is_empty() && to_park.is_empty() && taken.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await.map_err(unavailable)?;
        if !events.is_empty() {
            event_store::append(&mut tx, &mut events).await?;
        }
        parked::store(&mut tx, &to_park).await?;
        parked::delete(&mut tx, &taken).await?;
        tx.commit().await.map_err(unavailable)?;
        Ok(())
    }
}

/// The command decided on `state`: the state after it and the events it produced, or the
/// rule that refused it (on a copy: the held state is untouched either way).
async fn decide<A: Kept>(
    mut state: A,
    command: &A::Command,
    policies: &CasePolicies,
) -> Result<(A, Vec<A::Event>), CommandError>
where
    A::Command: Clone,
    A::Error: Rule,
{
    let sink = EventSink::default();
    state
        .handle(command.clone(), A::services(policies), &sink)
        .await
        .map_err(|e| classify(cqrs_es::AggregateError::UserError(e), A::TYPE))?;
    Ok((state, sink.collect().await))
}

/// Adds the entries of `inner` that `outer` does not have: the outer scope keeps the oldest.
fn merge_first<K: Eq + Hash, V>(outer: &mut HashMap<K, V>, inner: HashMap<K, V>) {
    for (key, value) in inner {
        outer.entry(key).or_insert(value);
    }
}
