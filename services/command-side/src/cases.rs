//! Program managers' and supporters' commands on cases, and the roster of peer supporters.

use outreach_domain::case::CaseStatus;
use outreach_domain::{CaseCommand, OutreachCase, PeerSupporter, SafetyReport, SupporterCommand};
use outreach_events::supporter::SupporterEvent;
use uuid::Uuid;

use crate::unit_of_work::UnitOfWork;
use crate::{CommandError, CommandSide, Metadata};

/// The supporter's events that change the roster entry; slots taken and released follow cases.
const ROSTER_CHANGES: &[&str] = &[
    SupporterEvent::SUPPORTER_JOINED,
    SupporterEvent::SUPPORTER_PROFILE_CHANGED,
    SupporterEvent::SUPPORTER_PAUSED,
    SupporterEvent::SUPPORTER_RESUMED,
];

/// A change to a roster entry, as the event store recorded it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RosterChange {
    /// `SupporterJoined`, `SupporterProfileChanged`, `SupporterPaused` or `SupporterResumed`.
    pub event_type: String,
    pub recorded_at: chrono::DateTime<chrono::Utc>,
    /// Who made it, among the rest (see `outreach_events::author`).
    pub metadata: serde_json::Value,
}

impl CommandSide {
    pub async fn merge_case(
        &self,
        case_id: Uuid,
        into: Uuid,
        expected_version: Option<u64>,
        metadata: &Metadata,
    ) -> Result<u64, CommandError> {
        let mut work = self.immediate();
        let (source, _) = work.load::<OutreachCase>(&case_id.to_string()).await?;
        let (target, _) = work.load::<OutreachCase>(&into.to_string()).await?;
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
                    // The merged case's urgency goes with its trigger: it was urgent for a reason.
                    urgent: source.is_urgent(),
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
        let mut work = self.immediate();
        let ends = matches!(
            command,
            CaseCommand::Close { .. } | CaseCommand::MergeInto { .. }
        );
        let reopens = matches!(command, CaseCommand::Reopen { .. });
        if reopens {
            self.ensure_member_free_for(&mut work, case_id).await?;
        }
        let command = match command {
            // Whether the supporter is named on the case's report is the report's to say.
            CaseCommand::Assign {
                supporter_id, at, ..
            } => {
                let (case, _) = work.load::<OutreachCase>(&id).await?;
                let named_in_report = match case.report() {
                    Some(report) => {
                        let report_id = outreach_domain::ids::report_id(report).to_string();
                        work.load::<SafetyReport>(&report_id)
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
        match work
            .execute_once::<OutreachCase>(&id, &command, metadata)
            .await
        {
            // Someone else changed the case first: before this command loaded it (the aggregate
            // refused the version) or while it ran (the commit lost the race).
            Err(
                CommandError::Conflict { .. }
                | CommandError::Refused {
                    rule: "stale-version",
                    ..
                },
            ) => Err(CommandError::StaleVersion {
                current: work.load::<OutreachCase>(&id).await?.1,
            }),
            Err(other) => Err(other),
            Ok(()) => {
                if ends {
                    self.end_members_case(&mut work, case_id, metadata).await?;
                }
                if reopens {
                    self.restart_members_case(&mut work, case_id, metadata)
                        .await?;
                }
                Ok(work.load::<OutreachCase>(&id).await?.1)
            }
        }
    }

    /// A case's current state and version (0: no such case).
    pub async fn case(&self, case_id: Uuid) -> Result<(OutreachCase, u64), CommandError> {
        self.immediate()
            .load::<OutreachCase>(&case_id.to_string())
            .await
    }

    /// A program manager's change to the roster. Returns the supporter's new version.
    pub async fn act_on_supporter(
        &self,
        staff_id: &str,
        command: SupporterCommand,
        metadata: &Metadata,
    ) -> Result<u64, CommandError> {
        let id = outreach_domain::ids::supporter_id(staff_id).to_string();
        let mut work = self.immediate();
        work.execute::<PeerSupporter>(&id, &command, metadata)
            .await?;
        Ok(work.load::<PeerSupporter>(&id).await?.1)
    }

    /// The changes made to a supporter's roster entry (joined, changed, paused, resumed), oldest
    /// first, each with its event's metadata, which names who made it.
    pub async fn roster_changes(&self, staff_id: &str) -> Result<Vec<RosterChange>, CommandError> {
        sqlx::query_as(
            "SELECT event_type, recorded_at, metadata::jsonb AS metadata
               FROM events
              WHERE aggregate_type = $1 AND aggregate_id = $2 AND event_type = ANY($3)
              ORDER BY sequence",
        )
        .bind(<PeerSupporter as cqrs_es::Aggregate>::TYPE)
        .bind(outreach_domain::ids::supporter_id(staff_id).to_string())
        .bind(ROSTER_CHANGES)
        .fetch_all(&self.pool)
        .await
        .map_err(crate::unavailable)
    }

    /// A supporter's roster entry and the cases they hold, with its version (0: not on the
    /// roster).
    pub async fn supporter(&self, staff_id: &str) -> Result<(PeerSupporter, u64), CommandError> {
        self.immediate()
            .load::<PeerSupporter>(&outreach_domain::ids::supporter_id(staff_id).to_string())
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
        let mut work = self.immediate();
        let (case, version) = work.load::<OutreachCase>(&case_id.to_string()).await?;
        if version == 0 {
            return Err(CommandError::Refused {
                rule: "case-not-found",
                detail: "there is no such case".into(),
            });
        }
        let previous = case.supporter_id().map(str::to_owned);
        let supporter_id = outreach_domain::ids::supporter_id(supporter_staff_id).to_string();
        if previous.as_deref() != Some(supporter_staff_id) {
            let take = SupporterCommand::TakeCase {
                case_id,
                member_staff_id: crate::members::member_of(&case)?.to_owned(),
                at,
            };
            work.execute::<PeerSupporter>(&supporter_id, &take, metadata)
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
        let release = SupporterCommand::ReleaseCase { case_id, at };
        self.immediate()
            .execute::<PeerSupporter>(&id, &release, metadata)
            .await
    }

    pub async fn handle_case(
        &self,
        case_id: Uuid,
        command: outreach_domain::CaseCommand,
        metadata: &Metadata,
    ) -> Result<(), CommandError> {
        self.immediate()
            .execute::<OutreachCase>(&case_id.to_string(), &command, metadata)
            .await
    }
}
