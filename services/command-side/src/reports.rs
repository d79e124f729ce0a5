//! Reports from the safety-reporting stream, recorded, amended and withdrawn many at a time.
//!
//! A batch of messages is decided in one [`Deferred`] unit of work: the reports, members and
//! cases it names are loaded in a few queries, every command is decided in memory, and all
//! the events are stored in one transaction. Each message runs in a scope of its own, so a
//! message a rule refuses is rolled back and leaves nothing behind while the rest of the batch
//! goes on. If another writer (a program manager, another instance) changed an aggregate of
//! the batch first, the commit fails as a whole and the batch is decided again on fresh state.

use std::collections::BTreeSet;
use std::time::Duration;

use cqrs_es::Aggregate;
use opentelemetry::KeyValue;
use outreach_domain::{CareTeamMember, CaseCommand, OutreachCase, ReportCommand, SafetyReport};
use outreach_events::ReportRef;
use outreach_telemetry::metrics::metrics;
use tracing::Instrument;
use uuid::Uuid;

use crate::event_store::{self, AppendError};
use crate::unit_of_work::{Deferred, UnitOfWork};
use crate::{parked, CommandError, CommandSide, Handled, Metadata};

/// One message's report command, as intake decoded it.
#[derive(Debug, Clone)]
pub struct ReportMessage {
    pub command: ReportCommand,
    /// What caused it (the inbound message's id and type): kept with every event it stores.
    pub metadata: Metadata,
    /// The message's span: the spans of its commands are its children.
    pub span: tracing::Span,
}

/// How many times a batch is decided again on fresh state after another writer got in first,
/// before it is cut down to its first message (which then gets as many tries of its own).
const BATCH_ATTEMPTS: u32 = 3;

/// The outcome of each message of a batch, in order: a refusal changes nothing.
pub type Outcomes = Vec<Result<Handled, CommandError>>;

impl CommandSide {
    /// Applies a report command, then the case commands that follow from it.
    ///
    /// An amendment or withdrawal of a report not yet recorded is parked, as decoded, and
    /// applied once the report arrives (the stream does not promise order across partitions or
    /// producers). Recording a report applies what was parked for it, in arrival order.
    ///
    /// Safe to repeat: running it again with the same command opens or cancels nothing twice.
    pub async fn handle_report(
        &self,
        command: ReportCommand,
        metadata: &Metadata,
    ) -> Result<Handled, CommandError> {
        let message = ReportMessage {
            command,
            metadata: metadata.clone(),
            span: tracing::Span::current(),
        };
        let mut outcomes = self.handle_reports(std::slice::from_ref(&message)).await?;
        outcomes
            .pop()
            .expect("handle_reports handles at least one message")
    }

    /// Handles the first messages of `messages` (at least one, all of them unless another
    /// writer keeps getting in first) in one transaction, as [`Self::handle_report`] would one
    /// by one, and returns their outcomes in order. An error is transient (the event store is
    /// unavailable, or the batch kept losing write races) and nothing of the batch is stored.
    pub async fn handle_reports(
        &self,
        messages: &[ReportMessage],
    ) -> Result<Outcomes, CommandError> {
        if messages.is_empty() {
            return Ok(Vec::new());
        }
        let mut take = messages.len();
        let mut attempt = 1;
        loop {
            let batch = &messages[..take];
            let (work, outcomes) = self.decide(batch).await?;
            let newly_parked = work.newly_parked();
            match work.commit().await {
                Ok(()) => {
                    self.apply_parked_since(batch, &outcomes, newly_parked)
                        .await?;
                    return Ok(outcomes);
                }
                Err(AppendError::Conflict) => {
                    metrics()
                        .command_conflicts
                        .add(1, &[KeyValue::new("aggregate", "batch")]);
                    tracing::debug!(
                        messages = take,
                        attempt,
                        "batch lost a write race; deciding again"
                    );
                    if attempt == BATCH_ATTEMPTS {
                        if take == 1 {
                            return Err(CommandError::Conflict { aggregate: "batch" });
                        }
                        (take, attempt) = (1, 0);
                    }
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(2u64 << attempt)).await;
                }
                Err(AppendError::Unavailable(error)) => return Err(error),
            }
        }
    }

    /// Decides every message of `batch` in one deferred unit of work, each in a scope.
    async fn decide<'s>(
        &'s self,
        batch: &[ReportMessage],
    ) -> Result<(Deferred<'s>, Outcomes), CommandError> {
        let mut work = self.deferred();
        preload(&mut work, batch).await?;
        let mut outcomes = Vec::with_capacity(batch.len());
        for message in batch {
            work.begin_scope();
            let outcome = self
                .decide_message(&mut work, message)
                .instrument(message.span.clone())
                .await;
            match outcome {
                Ok(handled) => {
                    work.end_scope();
                    outcomes.push(Ok(handled));
                }
                Err(refused @ CommandError::Refused { .. }) => {
                    work.rollback_scope();
                    outcomes.push(Err(refused));
                }
                Err(other) => return Err(other),
            }
        }
        Ok((work, outcomes))
    }

    async fn decide_message(
        &self,
        work: &mut Deferred<'_>,
        message: &ReportMessage,
    ) -> Result<Handled, CommandError> {
        let (command, metadata) = (&message.command, &message.metadata);
        work.begin_scope();
        match self.apply_report(work, command, metadata).await {
            Err(CommandError::Refused {
                rule: "report-not-yet-received",
                ..
            }) => {
                work.rollback_scope();
                work.park(command.clone()).await?;
                Ok(Handled::Parked)
            }
            Err(other) => {
                work.end_scope();
                Err(other)
            }
            Ok(case_commands) => {
                work.end_scope();
                if matches!(command, ReportCommand::Record { .. }) {
                    self.apply_parked(work, command.report(), metadata).await?;
                }
                Ok(Handled::Applied { case_commands })
            }
        }
    }

    /// The report command, then the case commands that follow from the report's state after
    /// it (so a redelivered message finishes what a crash interrupted).
    async fn apply_report(
        &self,
        work: &mut Deferred<'_>,
        command: &ReportCommand,
        metadata: &Metadata,
    ) -> Result<usize, CommandError> {
        let report_id = outreach_domain::ids::report_id(command.report()).to_string();
        // Identified here, not before: a command parked for its report waits without ids.
        let command = &work.identify(command).await?;
        work.execute::<SafetyReport>(&report_id, command, metadata)
            .await?;
        let (report, _) = work.load::<SafetyReport>(&report_id).await?;
        let follow_up = report.follow_up(command);
        let issued = follow_up.len();
        for (case_id, case_command) in follow_up {
            self.follow_up(work, case_id, case_command, metadata)
                .await?;
        }
        Ok(issued)
    }

    /// Applies, in arrival order, the commands parked for `report`, now recorded. A parked
    /// command that a rule refuses will not change by waiting longer: it is logged, by rule,
    /// and goes (it holds no clinical detail to keep), leaving nothing of itself behind.
    async fn apply_parked(
        &self,
        work: &mut Deferred<'_>,
        report: &ReportRef,
        metadata: &Metadata,
    ) -> Result<(), CommandError> {
        for command in work.take_parked(report).await? {
            work.begin_scope();
            match self.apply_report(work, &command, metadata).await {
                Ok(_) => work.end_scope(),
                Err(CommandError::Refused { rule, .. }) => {
                    work.rollback_scope();
                    tracing::warn!(rule, "a parked report command was refused; dropped");
                }
                Err(other) => {
                    work.end_scope();
                    return Err(other);
                }
            }
        }
        Ok(())
    }

    /// After a batch is stored: a report it recorded may have had a command parked for it by
    /// another writer that looked before this commit, and a command it parked may have seen
    /// its report recorded since. Both sides look after committing, so one of them always sees
    /// the other, and nothing waits for a report that already came.
    async fn apply_parked_since(
        &self,
        batch: &[ReportMessage],
        outcomes: &Outcomes,
        newly_parked: Vec<ReportRef>,
    ) -> Result<(), CommandError> {
        let recorded: Vec<ReportRef> = batch
            .iter()
            .zip(outcomes)
            .filter(|(m, outcome)| {
                matches!(m.command, ReportCommand::Record { .. }) && outcome.is_ok()
            })
            .map(|(m, _)| m.command.report().clone())
            .collect();
        let mut due: BTreeSet<(String, String)> = parked::load(&self.pool, &recorded)
            .await?
            .into_iter()
            .filter(|(_, state)| !state.waiting.is_empty() || !state.taken.is_empty())
            .map(|(r, _)| (r.source, r.report_id))
            .collect();
        for report in newly_parked {
            let id = outreach_domain::ids::report_id(&report).to_string();
            if event_store::load_one::<SafetyReport>(&self.pool, &id)
                .await?
                .1
                > 0
            {
                due.insert((report.source, report.report_id));
            }
        }
        for (source, report_id) in due {
            let report = ReportRef { source, report_id };
            let metadata = batch
                .iter()
                .find(|m| m.command.report() == &report)
                .map(|m| m.metadata.clone())
                .unwrap_or_default();
            self.drain(&report, &metadata).await?;
        }
        Ok(())
    }

    /// Applies what waits for a recorded report, in a unit of work of its own. Two drains of
    /// one report cannot both apply a command: each deletes what it applied in the same
    /// transaction, and the later one finds its rows gone, loses, and looks again.
    async fn drain(&self, report: &ReportRef, metadata: &Metadata) -> Result<(), CommandError> {
        let report_id = outreach_domain::ids::report_id(report).to_string();
        for attempt in 1..=BATCH_ATTEMPTS {
            let mut work = self.deferred();
            if work.load::<SafetyReport>(&report_id).await?.1 == 0 {
                return Ok(());
            }
            self.apply_parked(&mut work, report, metadata).await?;
            match work.commit().await {
                Ok(()) => return Ok(()),
                Err(AppendError::Conflict) => {
                    tokio::time::sleep(Duration::from_millis(2u64 << attempt)).await;
                }
                Err(AppendError::Unavailable(error)) => return Err(error),
            }
        }
        Err(CommandError::Conflict {
            aggregate: SafetyReport::TYPE,
        })
    }

    async fn follow_up(
        &self,
        work: &mut Deferred<'_>,
        case_id: Uuid,
        command: CaseCommand,
        metadata: &Metadata,
    ) -> Result<(), CommandError> {
        match command {
            open @ CaseCommand::Open { .. } => self
                .open_or_link(work, case_id, open, true, metadata)
                .await
                .map(|_| ()),
            other => {
                let ends = matches!(other, CaseCommand::Cancel { .. });
                work.execute::<OutreachCase>(&case_id.to_string(), &other, metadata)
                    .await?;
                if ends {
                    self.end_members_case(work, case_id, metadata).await?;
                }
                Ok(())
            }
        }
    }
}

/// Loads in a few queries what the batch will look at: its reports, the members they name,
/// those members' cases from these reports and their open cases, and the commands waiting
/// for the reports it records. Anything else is loaded when first needed.
async fn preload(work: &mut Deferred<'_>, batch: &[ReportMessage]) -> Result<(), CommandError> {
    let mut reports = Vec::new();
    let mut recorded = Vec::new();
    let mut members = Vec::new();
    let mut cases = Vec::new();
    // Every named member's key in one statement: their ids are derived from it.
    let staff: Vec<String> = batch
        .iter()
        .flat_map(|m| match &m.command {
            ReportCommand::Record { members, .. } => members
                .iter()
                .map(|m| m.profile.staff_id.clone())
                .collect::<Vec<_>>(),
            ReportCommand::Amend { added, removed, .. } => added
                .iter()
                .map(|m| m.profile.staff_id.clone())
                .chain(removed.iter().cloned())
                .collect(),
            ReportCommand::Withdraw { .. } => vec![],
        })
        .collect();
    work.load_member_keys(&staff).await?;
    for message in batch {
        let report = message.command.report();
        reports.push(outreach_domain::ids::report_id(report).to_string());
        let (named, removed): (Vec<&str>, Vec<&str>) = match &message.command {
            ReportCommand::Record { members, .. } => {
                recorded.push(report.clone());
                (
                    members
                        .iter()
                        .map(|m| m.profile.staff_id.as_str())
                        .collect(),
                    vec![],
                )
            }
            ReportCommand::Amend { added, removed, .. } => (
                added.iter().map(|m| m.profile.staff_id.as_str()).collect(),
                removed.iter().map(String::as_str).collect(),
            ),
            ReportCommand::Withdraw { .. } => (vec![], vec![]),
        };
        for staff_id in named.iter().chain(&removed) {
            cases.push(work.case_id(report, staff_id).await?.to_string());
        }
        for staff_id in &named {
            members.push(work.member_id(staff_id).await?);
        }
    }
    // The reports, members and named cases in one query; then any other case a member has
    // open (one more query, only if there is one).
    work.preload_batch(reports, members.clone(), cases).await?;
    work.preload_parked(recorded).await?;
    let mut open = Vec::new();
    for member in &members {
        let (person, _) = work.load::<CareTeamMember>(member).await?;
        open.extend(person.open_case().map(|case| case.to_string()));
    }
    work.preload::<OutreachCase>(open).await
}
