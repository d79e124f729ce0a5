//! The command side: runs domain commands against aggregates stored in PostgreSQL.
//!
//! postgres-es reports a concurrent write to the same aggregate as `AggregateConflict` and does
//! not retry; every command here is retried on conflict against freshly loaded state, so two
//! writers never lose an update and a caller only sees a conflict after repeated losses.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use cqrs_es::persist::PersistedEventStore;
use cqrs_es::{Aggregate, AggregateError, CqrsFramework, EventStore};
use futures::{StreamExt, TryStreamExt};
use opentelemetry::KeyValue;
use outreach_domain::case::CaseStatus;
use outreach_domain::{
    CareTeamMember, CaseCommand, CaseError, CasePolicies, InvolvedMember, MemberCommand,
    MemberError, OutreachCase, PeerSupporter, ReportCommand, ReportError, SafetyReport,
    SupporterCommand, SupporterError,
};
use outreach_events::{ReportRef, TriggerKind};
use outreach_telemetry::metrics::metrics;
use sqlx::PgPool;
use uuid::Uuid;

mod parked;
mod purge;
mod sealing;
pub use purge::Purge;
pub use sealing::SealingEventRepository;

/// An aggregate's events, personal parts sealed (see [`SealingEventRepository`]).
type Store<A> = PersistedEventStore<SealingEventRepository, A>;
type Cqrs<A> = CqrsFramework<A, Store<A>>;

fn store<A: Aggregate>(pool: &PgPool) -> Store<A> {
    // An event store without snapshots: a snapshot would hold personal data unsealed.
    PersistedEventStore::new_event_store(SealingEventRepository::new(pool.clone()))
}

fn cqrs<A: Aggregate>(pool: &PgPool, services: A::Services) -> Cqrs<A> {
    CqrsFramework::new(store(pool), vec![], services)
}

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
    /// The caller acted on a version of the aggregate that is no longer current.
    #[error("the case has changed: it is at version {current}")]
    StaleVersion { current: u64 },
    /// The event store could not be reached or answered unexpectedly; worth retrying later.
    #[error("event store unavailable: {0}")]
    Unavailable(String),
}

impl CommandError {
    pub fn is_transient(&self) -> bool {
        !matches!(
            self,
            CommandError::Refused { .. } | CommandError::StaleVersion { .. }
        )
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

impl Rule for MemberError {
    fn rule(&self) -> &'static str {
        MemberError::rule(self)
    }
}

impl Rule for ReportError {
    fn rule(&self) -> &'static str {
        ReportError::rule(self)
    }
}

impl Rule for SupporterError {
    fn rule(&self) -> &'static str {
        SupporterError::rule(self)
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
    pool: PgPool,
    cases: Cqrs<OutreachCase>,
    reports: Cqrs<SafetyReport>,
    report_store: Store<SafetyReport>,
    case_store: Store<OutreachCase>,
    members: Cqrs<CareTeamMember>,
    member_store: Store<CareTeamMember>,
    supporters: Cqrs<PeerSupporter>,
    supporter_store: Store<PeerSupporter>,
    policies: CasePolicies,
}

/// A member referred for support by themselves, a colleague or a supervisor.
#[derive(Debug, Clone)]
pub struct Referral {
    /// The client's idempotency key: the same referral sent twice opens one case.
    pub referral_id: Uuid,
    pub trigger: TriggerKind,
    pub campus: String,
    pub unit: String,
    pub member: InvolvedMember,
    pub at: chrono::DateTime<chrono::Utc>,
}

/// What became of a report command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handled {
    /// Applied, with this many case commands following from it.
    Applied { case_commands: usize },
    /// Its report has not been recorded yet: it waits, and is applied when the report comes.
    Parked,
}

/// A database failure around the event store: worth retrying later.
fn unavailable(error: sqlx::Error) -> CommandError {
    CommandError::Unavailable(error.to_string())
}

/// Sealing or opening personal data failed (the key store, or a corrupt envelope). The
/// error names no personal datum.
fn privacy_unavailable(error: outreach_privacy::PrivacyError) -> CommandError {
    CommandError::Unavailable(error.to_string())
}

/// Where a trigger for a member ended up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outreach {
    /// A case was opened (or had been, for a repeated trigger).
    Opened(Uuid),
    /// The member's open case took the trigger in.
    Linked(Uuid),
    /// The member opted out of automatic outreach.
    Skipped,
}

impl CommandSide {
    /// Projections are not registered with cqrs-es: they follow the event store themselves
    /// in commit order (see the projections crate), so nothing here dispatches queries.
    pub fn new(pool: PgPool, policies: CasePolicies) -> Self {
        Self {
            cases: cqrs(&pool, policies.clone()),
            members: cqrs(&pool, ()),
            member_store: store(&pool),
            reports: cqrs(&pool, policies.group_debrief.clone()),
            supporters: cqrs(&pool, policies.roster.clone()),
            supporter_store: store(&pool),
            report_store: store(&pool),
            case_store: store(&pool),
            policies,
            pool,
        }
    }

    /// The policies commands are decided under.
    pub fn policies(&self) -> &CasePolicies {
        &self.policies
    }

    /// Applies a report command, then the case commands that follow from it.
    ///
    /// An amendment or withdrawal of a report not yet recorded is parked, as decoded, and
    /// applied once the report arrives (the stream does not promise order across partitions or
    /// producers). Recording a report applies what was parked for it, in arrival order.
    ///
    /// Safe to repeat: if a crash interrupts this half-way, running it again with the same
    /// command finishes the work without opening or cancelling anything twice.
    pub async fn handle_report(
        &self,
        command: ReportCommand,
        metadata: &Metadata,
    ) -> Result<Handled, CommandError> {
        match self.apply_report(&command, metadata).await {
            Err(CommandError::Refused {
                rule: "report-not-yet-received",
                ..
            }) => {
                self.park(&command).await?;
                // The report may have been recorded since this command was refused: nothing
                // may wait for a report that already came.
                self.apply_parked(command.report(), metadata).await?;
                Ok(Handled::Parked)
            }
            Err(other) => Err(other),
            Ok(case_commands) => {
                if matches!(command, ReportCommand::Record { .. }) {
                    self.apply_parked(command.report(), metadata).await?;
                }
                Ok(Handled::Applied { case_commands })
            }
        }
    }

    async fn apply_report(
        &self,
        command: &ReportCommand,
        metadata: &Metadata,
    ) -> Result<usize, CommandError> {
        let report_id = outreach_domain::ids::report_id(command.report()).to_string();
        execute(&self.reports, &report_id, command, metadata).await?;
        let (report, _) = load(&self.report_store, &report_id).await?;
        let follow_up = report.follow_up(command);
        let issued = follow_up.len();
        futures::stream::iter(follow_up)
            .map(|(case_id, case_command)| self.follow_up(case_id, case_command, metadata))
            .buffer_unordered(CASE_CONCURRENCY)
            .try_collect::<Vec<_>>()
            .await?;
        Ok(issued)
    }

    /// Keeps a command for a report not yet recorded, members' contact details sealed.
    async fn park(&self, command: &ReportCommand) -> Result<(), CommandError> {
        let report = command.report();
        let mut json = serde_json::to_value(command)
            .map_err(|e| CommandError::Unavailable(format!("a command did not serialise: {e}")))?;
        let mut tx = self.pool.begin().await.map_err(unavailable)?;
        parked::seal_contacts(&mut tx, &mut json)
            .await
            .map_err(privacy_unavailable)?;
        sqlx::query(
            "INSERT INTO parked_report_commands (report_source, report_id, command)
             VALUES ($1, $2, $3)",
        )
        .bind(&report.source)
        .bind(&report.report_id)
        .bind(json)
        .execute(&mut *tx)
        .await
        .map_err(unavailable)?;
        tx.commit().await.map_err(unavailable)?;
        tracing::info!("a report command arrived before its report and waits for it");
        Ok(())
    }

    /// Applies, in arrival order, the commands parked for `report` once it is recorded.
    ///
    /// One drain at a time per report (a session advisory lock on a connection of its own):
    /// two drains applying the same parked commands in between each other's deletes could
    /// replay an earlier amendment after a later one. Each command is deleted right after it
    /// is applied; a crash in between applies it again, which amendments and withdrawals
    /// shrug off (they add only members not named yet, and remove or withdraw once).
    async fn apply_parked(
        &self,
        report: &ReportRef,
        metadata: &Metadata,
    ) -> Result<(), CommandError> {
        let report_id = outreach_domain::ids::report_id(report).to_string();
        if load(&self.report_store, &report_id).await?.1 == 0 {
            return Ok(());
        }
        let mut lock = self.pool.acquire().await.map_err(unavailable)?.detach();
        let key = format!(
            "parked-report-commands/{}/{}",
            report.source, report.report_id
        );
        sqlx::query("SELECT pg_advisory_lock(hashtextextended($1, 0))")
            .bind(&key)
            .execute(&mut lock)
            .await
            .map_err(unavailable)?;
        let drained = self.drain(report, metadata).await;
        // Closing the connection would release the lock too; unlocking keeps it explicit.
        let _ = sqlx::query("SELECT pg_advisory_unlock(hashtextextended($1, 0))")
            .bind(&key)
            .execute(&mut lock)
            .await;
        drained
    }

    async fn drain(&self, report: &ReportRef, metadata: &Metadata) -> Result<(), CommandError> {
        let mut db = self.pool.acquire().await.map_err(unavailable)?;
        let mut parked: Vec<(i64, serde_json::Value)> = sqlx::query_as(
            "SELECT id, command FROM parked_report_commands
              WHERE report_source = $1 AND report_id = $2
              ORDER BY id",
        )
        .bind(&report.source)
        .bind(&report.report_id)
        .fetch_all(&mut *db)
        .await
        .map_err(unavailable)?;
        // A member purged while the command waited reads with no contact, and so not at all:
        // it is dropped below like any command that no longer reads.
        outreach_privacy::open_all(&mut db, parked.iter_mut().map(|(_, json)| json).collect())
            .await
            .map_err(privacy_unavailable)?;
        drop(db);
        for (id, json) in parked {
            match serde_json::from_value::<ReportCommand>(json) {
                Ok(command) => match self.apply_report(&command, metadata).await {
                    Ok(_) => {}
                    // A lasting refusal will not change by waiting longer: it is logged, by
                    // rule, and the command goes (it holds no clinical detail to keep).
                    Err(CommandError::Refused { rule, .. }) => {
                        tracing::warn!(rule, "a parked report command was refused; dropped")
                    }
                    Err(other) => return Err(other),
                },
                Err(_) => tracing::error!(id, "a parked report command no longer reads; dropped"),
            }
            sqlx::query("DELETE FROM parked_report_commands WHERE id = $1")
                .bind(id)
                .execute(&self.pool)
                .await
                .map_err(unavailable)?;
        }
        Ok(())
    }

    async fn follow_up(
        &self,
        case_id: Uuid,
        command: CaseCommand,
        metadata: &Metadata,
    ) -> Result<(), CommandError> {
        match command {
            open @ CaseCommand::Open { .. } => self
                .open_or_link(case_id, open, true, metadata)
                .await
                .map(|_| ()),
            other => {
                let ends = matches!(other, CaseCommand::Cancel { .. });
                self.handle_case(case_id, other, metadata).await?;
                if ends {
                    self.end_members_case(case_id, metadata).await?;
                }
                Ok(())
            }
        }
    }

    /// Opens the case for its member, unless the member already has an open case (the trigger
    /// joins it: nobody is contacted twice by two supporters) or opted out of automatic outreach.
    ///
    /// Safe to repeat: the member aggregate records the case before it opens, so a retry after a
    /// crash finds its own case and opens it.
    async fn open_or_link(
        &self,
        case_id: Uuid,
        open: CaseCommand,
        automatic: bool,
        metadata: &Metadata,
    ) -> Result<Outreach, CommandError> {
        let CaseCommand::Open {
            report,
            trigger,
            member,
            opened_at,
            ..
        } = &open
        else {
            unreachable!("open_or_link takes an Open command")
        };
        let member_id = outreach_domain::ids::member_id(&member.staff_id).to_string();
        // A racing trigger for the same member can take the open slot between our look and our
        // write; the member aggregate then refuses, and we look again.
        for _ in 0..CONFLICT_ATTEMPTS {
            let (person, _) = load(&self.member_store, &member_id).await?;
            if automatic && person.opted_out() {
                let skip = MemberCommand::SkipAutomaticOutreach {
                    staff_id: member.staff_id.clone(),
                    report: report.clone(),
                    at: *opened_at,
                };
                execute(&self.members, &member_id, &skip, metadata).await?;
                return Ok(Outreach::Skipped);
            }
            if let Some(open_case) = person.open_case().filter(|c| *c != case_id) {
                let (existing, _) = load(&self.case_store, &open_case.to_string()).await?;
                if existing.status() == Some(CaseStatus::Open) {
                    let link = CaseCommand::LinkTrigger {
                        report: report.clone(),
                        trigger: *trigger,
                        at: *opened_at,
                    };
                    self.handle_case(open_case, link, metadata).await?;
                    return Ok(Outreach::Linked(open_case));
                }
                // The member's record lags a case that has ended: catch it up.
                let end = MemberCommand::EndCase {
                    case_id: open_case,
                    at: *opened_at,
                };
                execute(&self.members, &member_id, &end, metadata).await?;
            }
            let start = MemberCommand::StartCase {
                staff_id: member.staff_id.clone(),
                case_id,
                at: *opened_at,
            };
            match execute(&self.members, &member_id, &start, metadata).await {
                Err(CommandError::Refused {
                    rule: "member-has-an-open-case",
                    ..
                }) => continue,
                Err(other) => return Err(other),
                Ok(()) => {}
            }
            return match self.handle_case(case_id, open.clone(), metadata).await {
                Ok(()) => Ok(Outreach::Opened(case_id)),
                Err(error @ CommandError::Refused { .. }) => {
                    // The case will never open (e.g. no way to reach the member): free the slot.
                    let end = MemberCommand::EndCase {
                        case_id,
                        at: *opened_at,
                    };
                    execute(&self.members, &member_id, &end, metadata).await?;
                    Err(error)
                }
                Err(other) => Err(other),
            };
        }
        Err(CommandError::Conflict {
            aggregate: CareTeamMember::TYPE,
        })
    }

    /// Merges a case into another open case of the same person (say, recorded under a second
    /// staff id): the other case takes the trigger over, and this one closes as merged.
    pub async fn merge_case(
        &self,
        case_id: Uuid,
        into: Uuid,
        expected_version: Option<u64>,
        metadata: &Metadata,
    ) -> Result<u64, CommandError> {
        let (source, _) = load(&self.case_store, &case_id.to_string()).await?;
        let (target, _) = load(&self.case_store, &into.to_string()).await?;
        let (Some(report), Some(trigger)) = (source.report().cloned(), source.trigger()) else {
            return Err(CommandError::Refused {
                rule: "case-not-found",
                detail: "there is no such case".into(),
            });
        };
        if into != case_id && target.status() != Some(CaseStatus::Open) {
            return Err(CommandError::Refused {
                rule: "merge-target-not-open",
                detail: format!("case {into} is not open, so it cannot take this case over"),
            });
        }
        let at = chrono::Utc::now();
        // Merged first into the target, so a failure in between leaves the trigger held twice
        // (harmless, and the merge can be repeated) rather than not at all.
        if into != case_id {
            self.handle_case(
                into,
                CaseCommand::LinkTrigger {
                    report,
                    trigger,
                    at,
                },
                metadata,
            )
            .await?;
        }
        self.act_on_case(
            case_id,
            CaseCommand::MergeInto { into, at },
            expected_version,
            metadata,
        )
        .await
    }

    /// A case may reopen only if its member has no other open case: one member, one open case.
    async fn ensure_member_free_for(&self, case_id: Uuid) -> Result<(), CommandError> {
        let (case, _) = load(&self.case_store, &case_id.to_string()).await?;
        let member_id = outreach_domain::ids::member_id(case.member_staff_id()).to_string();
        let (person, _) = load(&self.member_store, &member_id).await?;
        if let Some(other) = person.open_case().filter(|c| *c != case_id) {
            let (other_case, _) = load(&self.case_store, &other.to_string()).await?;
            if other_case.status() == Some(CaseStatus::Open) {
                return Err(CommandError::Refused {
                    rule: "member-has-an-open-case",
                    detail: format!(
                        "the member's case {other} is open: later triggers and contact go there"
                    ),
                });
            }
        }
        Ok(())
    }

    /// The reopened case takes the member's triggers again.
    async fn restart_members_case(
        &self,
        case_id: Uuid,
        metadata: &Metadata,
    ) -> Result<(), CommandError> {
        let (case, _) = load(&self.case_store, &case_id.to_string()).await?;
        let staff_id = case.member_staff_id().to_string();
        let member_id = outreach_domain::ids::member_id(&staff_id).to_string();
        let (person, _) = load(&self.member_store, &member_id).await?;
        if let Some(stale) = person.open_case().filter(|c| *c != case_id) {
            let end = MemberCommand::EndCase {
                case_id: stale,
                at: chrono::Utc::now(),
            };
            execute(&self.members, &member_id, &end, metadata).await?;
        }
        let start = MemberCommand::StartCase {
            staff_id,
            case_id,
            at: chrono::Utc::now(),
        };
        execute(&self.members, &member_id, &start, metadata).await
    }

    /// Tells the member's record that this case no longer takes triggers.
    async fn end_members_case(
        &self,
        case_id: Uuid,
        metadata: &Metadata,
    ) -> Result<(), CommandError> {
        let (case, _) = load(&self.case_store, &case_id.to_string()).await?;
        if case.status() == Some(CaseStatus::Open) || case.status().is_none() {
            return Ok(());
        }
        let member_id = outreach_domain::ids::member_id(case.member_staff_id()).to_string();
        let end = MemberCommand::EndCase {
            case_id,
            at: chrono::Utc::now(),
        };
        execute(&self.members, &member_id, &end, metadata).await
    }

    /// A referral: the member is offered support like anyone named in a report, unless the
    /// program does not serve their discipline. Opting out of automatic outreach does not stop
    /// someone asking for support.
    pub async fn refer(
        &self,
        referral: Referral,
        metadata: &Metadata,
    ) -> Result<Outreach, CommandError> {
        if !self
            .policies
            .eligibility
            .serves(referral.member.profile.discipline)
        {
            return Err(CommandError::Refused {
                rule: "member-not-eligible",
                detail: format!(
                    "the program does not serve the {} discipline",
                    referral.member.profile.discipline.as_str()
                ),
            });
        }
        let report = ReportRef {
            source: "referral".into(),
            report_id: referral.referral_id.to_string(),
        };
        let case_id = outreach_domain::ids::case_id(&report, &referral.member.profile.staff_id);
        let open = CaseCommand::Open {
            case_id,
            report,
            trigger: referral.trigger,
            campus: referral.campus,
            unit: referral.unit,
            member: referral.member.profile,
            contact: referral.member.contact,
            opened_at: referral.at,
        };
        self.open_or_link(case_id, open, false, metadata).await
    }

    /// A command on a member's own record: preferences, opting out or back in.
    pub async fn act_on_member(
        &self,
        command: MemberCommand,
        metadata: &Metadata,
    ) -> Result<u64, CommandError> {
        let staff_id = match &command {
            MemberCommand::StatePreferences { staff_id, .. }
            | MemberCommand::OptOut { staff_id, .. }
            | MemberCommand::OptIn { staff_id, .. } => staff_id.clone(),
            // Cases start and end, and outreach is skipped, only as consequences of case and
            // report commands, never on request.
            MemberCommand::StartCase { .. }
            | MemberCommand::EndCase { .. }
            | MemberCommand::SkipAutomaticOutreach { .. } => {
                return Err(CommandError::Refused {
                    rule: "not-a-members-own-command",
                    detail: "a member's cases follow from case and report commands".into(),
                })
            }
            // A purge destroys a key as well: only `purge_member` does both, in order.
            MemberCommand::PurgePersonalData { .. } => {
                return Err(CommandError::Refused {
                    rule: "not-a-members-own-command",
                    detail: "personal data is purged by the retention policy".into(),
                })
            }
        };
        let member_id = outreach_domain::ids::member_id(&staff_id).to_string();
        execute(&self.members, &member_id, &command, metadata).await?;
        Ok(load(&self.member_store, &member_id).await?.1)
    }

    /// The member's current preferences and opt-out, from the member's own record.
    pub async fn member(&self, staff_id: &str) -> Result<(CareTeamMember, u64), CommandError> {
        load(
            &self.member_store,
            &outreach_domain::ids::member_id(staff_id).to_string(),
        )
        .await
    }

    /// A person's command on a case (a program manager's or a supporter's).
    ///
    /// With `expected_version`, the command applies only to that version of the case: if someone
    /// else changed it first, the caller gets [`CommandError::StaleVersion`] with the current
    /// version instead of an update made on state they did not see. Unlike intake's commands,
    /// a lost write race is not retried: it is reported the same way. Returns the new version.
    pub async fn act_on_case(
        &self,
        case_id: Uuid,
        command: CaseCommand,
        expected_version: Option<u64>,
        metadata: &Metadata,
    ) -> Result<u64, CommandError> {
        let id = case_id.to_string();
        let ends = matches!(
            command,
            CaseCommand::Close { .. } | CaseCommand::MergeInto { .. }
        );
        let reopens = matches!(command, CaseCommand::Reopen { .. });
        if reopens {
            self.ensure_member_free_for(case_id).await?;
        }
        let command = match command {
            // Whether the supporter is named on the case's report is the report's to say.
            CaseCommand::Assign {
                supporter_id, at, ..
            } => {
                let (case, _) = load(&self.case_store, &id).await?;
                let named_in_report = match case.report() {
                    Some(report) => {
                        let report_id = outreach_domain::ids::report_id(report).to_string();
                        load(&self.report_store, &report_id)
                            .await?
                            .0
                            .names(&supporter_id)
                    }
                    None => false,
                };
                CaseCommand::Assign {
                    supporter_id,
                    named_in_report,
                    at,
                }
            }
            other => other,
        };
        // The aggregate checks the version against the state its commit is made on.
        let command = match expected_version {
            Some(version) => CaseCommand::Expecting {
                version,
                command: Box::new(command),
            },
            None => command,
        };
        match execute_once(&self.cases, &id, &command, metadata).await {
            // Someone else changed the case first: before this command loaded it (the aggregate
            // refused the version) or while it ran (the commit lost the race).
            Err(
                CommandError::Conflict { .. }
                | CommandError::Refused {
                    rule: "stale-version",
                    ..
                },
            ) => Err(CommandError::StaleVersion {
                current: load(&self.case_store, &id).await?.1,
            }),
            Err(other) => Err(other),
            Ok(()) => {
                if ends {
                    self.end_members_case(case_id, metadata).await?;
                }
                if reopens {
                    self.restart_members_case(case_id, metadata).await?;
                }
                Ok(load(&self.case_store, &id).await?.1)
            }
        }
    }

    /// A case's current state and version (0: no such case).
    pub async fn case(&self, case_id: Uuid) -> Result<(OutreachCase, u64), CommandError> {
        load(&self.case_store, &case_id.to_string()).await
    }

    /// A program manager's change to the roster. Returns the supporter's new version.
    pub async fn act_on_supporter(
        &self,
        staff_id: &str,
        command: SupporterCommand,
        metadata: &Metadata,
    ) -> Result<u64, CommandError> {
        let id = outreach_domain::ids::supporter_id(staff_id).to_string();
        execute(&self.supporters, &id, &command, metadata).await?;
        Ok(load(&self.supporter_store, &id).await?.1)
    }

    /// A supporter's roster entry and the cases they hold, with its version (0: not on the
    /// roster).
    pub async fn supporter(&self, staff_id: &str) -> Result<(PeerSupporter, u64), CommandError> {
        load(
            &self.supporter_store,
            &outreach_domain::ids::supporter_id(staff_id).to_string(),
        )
        .await
    }

    /// Assigns a supporter from the roster to a case, within the supporter's capacity.
    ///
    /// A slot is taken on the supporter first, then the case records the assignment. Two
    /// managers assigning the same supporter at once race on the supporter's version, so the
    /// last slot goes to one of them only. If the case refuses (it closed, or it changed since
    /// `expected_version`), the slot is released again before the refusal is returned. A crash
    /// between the two writes leaves a slot held for a case that is not the supporter's: the
    /// caseload keeper frees it once the case ends or goes to someone else, so capacity is never
    /// exceeded, only briefly under-used. When the case had another supporter, their slot is
    /// released here (and by the keeper, should this stop half-way).
    pub async fn assign(
        &self,
        case_id: Uuid,
        supporter_staff_id: &str,
        expected_version: Option<u64>,
        at: chrono::DateTime<chrono::Utc>,
        metadata: &Metadata,
    ) -> Result<u64, CommandError> {
        let (case, version) = load(&self.case_store, &case_id.to_string()).await?;
        if version == 0 {
            return Err(CommandError::Refused {
                rule: "case-not-found",
                detail: "there is no such case".into(),
            });
        }
        let previous = case.supporter_id().map(str::to_owned);
        let supporter_id = outreach_domain::ids::supporter_id(supporter_staff_id).to_string();
        if previous.as_deref() != Some(supporter_staff_id) {
            execute(
                &self.supporters,
                &supporter_id,
                &SupporterCommand::TakeCase {
                    case_id,
                    member_staff_id: case.member_staff_id().to_owned(),
                    at,
                },
                metadata,
            )
            .await?;
        }
        let assigned = self
            .act_on_case(
                case_id,
                CaseCommand::Assign {
                    supporter_id: supporter_staff_id.to_owned(),
                    named_in_report: false,
                    at,
                },
                expected_version,
                metadata,
            )
            .await;
        match assigned {
            Ok(version) => {
                if let Some(previous) = previous.filter(|p| p != supporter_staff_id) {
                    self.release(&previous, case_id, at, metadata).await?;
                }
                Ok(version)
            }
            Err(refused) => {
                if previous.as_deref() != Some(supporter_staff_id) {
                    self.release(supporter_staff_id, case_id, at, metadata)
                        .await?;
                }
                Err(refused)
            }
        }
    }

    /// Frees the slot a supporter holds for a case; nothing happens if they hold none.
    pub async fn release(
        &self,
        supporter_staff_id: &str,
        case_id: Uuid,
        at: chrono::DateTime<chrono::Utc>,
        metadata: &Metadata,
    ) -> Result<(), CommandError> {
        let id = outreach_domain::ids::supporter_id(supporter_staff_id).to_string();
        execute(
            &self.supporters,
            &id,
            &SupporterCommand::ReleaseCase { case_id, at },
            metadata,
        )
        .await
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

/// An aggregate's current state and version.
async fn load<A: Aggregate>(store: &Store<A>, id: &str) -> Result<(A, u64), CommandError>
where
    A::Error: Rule,
{
    let context = store
        .load_aggregate(id)
        .await
        .map_err(|e| classify(e, A::TYPE))?;
    Ok((context.aggregate, context.current_sequence as u64))
}

/// Runs one command once: a lost write race is the caller's to handle.
async fn execute_once<A>(
    cqrs: &Cqrs<A>,
    aggregate_id: &str,
    command: &A::Command,
    metadata: &Metadata,
) -> Result<(), CommandError>
where
    A: Aggregate,
    A::Command: Clone,
    A::Error: Rule,
{
    execute_with_attempts(cqrs, aggregate_id, command, metadata, 1).await
}

/// Runs one command on one aggregate, retrying lost write races.
async fn execute<A>(
    cqrs: &Cqrs<A>,
    aggregate_id: &str,
    command: &A::Command,
    metadata: &Metadata,
) -> Result<(), CommandError>
where
    A: Aggregate,
    A::Command: Clone,
    A::Error: Rule,
{
    execute_with_attempts(cqrs, aggregate_id, command, metadata, CONFLICT_ATTEMPTS).await
}

/// Runs one command, trying at most `attempts` times against freshly loaded state.
///
/// The events it stores carry this span's trace context in their metadata, so the projections
/// that apply them continue the same trace.
#[tracing::instrument(
    name = "command.execute",
    skip_all,
    fields(aggregate = A::TYPE, aggregate_id = %aggregate_id, attempts = tracing::field::Empty)
)]
async fn execute_with_attempts<A>(
    cqrs: &Cqrs<A>,
    aggregate_id: &str,
    command: &A::Command,
    metadata: &Metadata,
    attempts: u32,
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
            Err(AggregateError::AggregateConflict) if attempt < attempts => {
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
        Err(CommandError::Conflict { .. } | CommandError::StaleVersion { .. }) => "conflict",
        Err(CommandError::Unavailable(_)) => "unavailable",
    };
    metrics().command_duration.record(
        started.elapsed().as_secs_f64(),
        &[aggregate, KeyValue::new("outcome", result)],
    );
    outcome
}
