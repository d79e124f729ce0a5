//! The unit of work of intake's batches (and of draining parked commands): aggregates loaded
//! once, in bulk, and kept; commands decided in memory; everything stored by one commit.

use std::collections::HashMap;
use std::hash::Hash;

use cqrs_es::Aggregate;
use outreach_domain::{CareTeamMember, CasePolicies, OutreachCase, SafetyReport};
use outreach_events::ReportRef;
use sqlx::PgPool;

use super::{decide, Kept, Slot, Slots, UnitOfWork};
use crate::event_store::{self, AppendError, NewEvent};
use crate::member_ids::MemberKeys;
use crate::parked::{self, Parked, ParkedState};
use crate::{unavailable, CommandError, Metadata};

/// What a scope changed, to put back if it is rolled back: each slot and parked list as it
/// was before the scope first touched it, and how many events were pending.
#[derive(Default)]
struct Scope {
    before: Slots,
    parked_before: HashMap<ReportRef, ParkedState>,
    pending: usize,
}

/// Commands decided in memory on the aggregates held, their events kept until [`Self::commit`]
/// stores them all in one transaction. Each message runs in a scope, which can be rolled back.
pub(crate) struct Deferred<'p> {
    pool: &'p PgPool,
    policies: &'p CasePolicies,
    slots: Slots,
    pending: Vec<NewEvent>,
    /// Commands waiting for their report, for each report this unit has looked at.
    parked: HashMap<ReportRef, ParkedState>,
    scopes: Vec<Scope>,
    /// The members' keys looked up, for the ids derived from them.
    keys: MemberKeys,
}

impl UnitOfWork for Deferred<'_> {
    /// Nothing is stored until the commit, so a command cannot lose a write race: the commit
    /// does, as a whole.
    const ATTEMPTS: u32 = 1;

    fn member_keys(&mut self) -> (&PgPool, &mut MemberKeys) {
        (self.pool, &mut self.keys)
    }

    /// The aggregate as held (loaded first if it is not held yet).
    async fn load<A: Kept>(&mut self, id: &str) -> Result<(A, u64), CommandError> {
        let slot = self.held::<A>(id).await?;
        Ok((slot.state.clone(), slot.version))
    }

    /// Decides on the held state and keeps the events for [`Deferred::commit`].
    async fn decide_once<A: Kept>(
        &mut self,
        id: &str,
        command: &A::Command,
        metadata: &Metadata,
    ) -> Result<(), AppendError> {
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
}

impl<'p> Deferred<'p> {
    pub fn new(pool: &'p PgPool, policies: &'p CasePolicies) -> Self {
        Self {
            pool,
            policies,
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

    /// `command` with the case ids of the members it names filled in.
    pub async fn identify(
        &mut self,
        command: &outreach_domain::ReportCommand,
    ) -> Result<outreach_domain::ReportCommand, CommandError> {
        self.keys.identify(self.pool, command).await
    }

    /// Loads these aggregates in one query, unless already held.
    pub async fn preload<A: Kept>(&mut self, ids: Vec<String>) -> Result<(), CommandError> {
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
    fn missing<A: Kept>(&mut self, ids: Vec<String>) -> Vec<String> {
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
    ) -> Result<(), CommandError> {
        let held = A::slots(&mut self.slots);
        for (id, (state, version)) in stored.fold::<A>(ids)? {
            held.insert(id, Slot { state, version });
        }
        Ok(())
    }

    async fn held<A: Kept>(&mut self, id: &str) -> Result<&Slot<A>, CommandError> {
        if !A::slots(&mut self.slots).contains_key(id) {
            let (state, version) = event_store::load_one::<A>(self.pool, id).await?;
            A::slots(&mut self.slots).insert(id.to_owned(), Slot { state, version });
        }
        Ok(&A::slots(&mut self.slots)[id])
    }

    /// Starts a scope: what follows can be rolled back as one.
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

    /// Looks up, in one query, the commands already waiting for these reports.
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

    /// Stores everything decided: every event, and the parked commands added and
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

/// Adds the entries of `inner` that `outer` does not have: the outer scope keeps the oldest.
fn merge_first<K: Eq + Hash, V>(outer: &mut HashMap<K, V>, inner: HashMap<K, V>) {
    for (key, value) in inner {
        outer.entry(key).or_insert(value);
    }
}
