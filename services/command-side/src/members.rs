//! Care team members: one open case each, referrals, and their own record.

use cqrs_es::Aggregate;
use outreach_domain::case::CaseStatus;
use outreach_domain::{CareTeamMember, CaseCommand, MemberCommand, OutreachCase};
use outreach_events::ReportRef;
use uuid::Uuid;

use crate::unit_of_work::{UnitOfWork, CONFLICT_ATTEMPTS};
use crate::{CommandError, CommandSide, Metadata, Outreach, Referral};

impl CommandSide {
    /// Opens the case for its member, unless the member already has an open case (the trigger
    /// joins it: nobody is contacted twice by two supporters) or opted out of automatic outreach.
    ///
    /// Safe to repeat: the member aggregate records the case before it opens, so a retry after a
    /// crash finds its own case and opens it.
    pub(crate) async fn open_or_link(
        &self,
        work: &mut impl UnitOfWork,
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
            urgent,
            ..
        } = &open
        else {
            unreachable!("open_or_link takes an Open command")
        };
        let member_id = work.member_id(&member.staff_id).await?;
        // A racing trigger for the same member can take the open slot between our look and our
        // write; the member aggregate then refuses, and we look again.
        for _ in 0..CONFLICT_ATTEMPTS {
            let (person, _) = work.load::<CareTeamMember>(&member_id).await?;
            if automatic && person.opted_out() {
                let skip = MemberCommand::SkipAutomaticOutreach {
                    staff_id: member.staff_id.clone(),
                    report: report.clone(),
                    at: *opened_at,
                };
                work.execute::<CareTeamMember>(&member_id, &skip, metadata)
                    .await?;
                return Ok(Outreach::Skipped);
            }
            if let Some(open_case) = person.open_case().filter(|c| *c != case_id) {
                let (existing, _) = work.load::<OutreachCase>(&open_case.to_string()).await?;
                if existing.status() == Some(CaseStatus::Open) {
                    let link = CaseCommand::LinkTrigger {
                        report: report.clone(),
                        trigger: *trigger,
                        at: *opened_at,
                        urgent: *urgent,
                    };
                    work.execute::<OutreachCase>(&open_case.to_string(), &link, metadata)
                        .await?;
                    return Ok(Outreach::Linked(open_case));
                }
                // The member's record lags a case that has ended: catch it up.
                let end = MemberCommand::EndCase {
                    case_id: open_case,
                    at: *opened_at,
                };
                work.execute::<CareTeamMember>(&member_id, &end, metadata)
                    .await?;
            }
            let start = MemberCommand::StartCase {
                staff_id: member.staff_id.clone(),
                case_id,
                at: *opened_at,
            };
            match work
                .execute::<CareTeamMember>(&member_id, &start, metadata)
                .await
            {
                Err(CommandError::Refused {
                    rule: "member-has-an-open-case",
                    ..
                }) => continue,
                Err(other) => return Err(other),
                Ok(()) => {}
            }
            return match work
                .execute::<OutreachCase>(&case_id.to_string(), &open, metadata)
                .await
            {
                Ok(()) => Ok(Outreach::Opened(case_id)),
                Err(error @ CommandError::Refused { .. }) => {
                    // The case will never open (e.g. no way to reach the member): free the slot.
                    let end = MemberCommand::EndCase {
                        case_id,
                        at: *opened_at,
                    };
                    work.execute::<CareTeamMember>(&member_id, &end, metadata)
                        .await?;
                    Err(error)
                }
                Err(other) => Err(other),
            };
        }
        Err(CommandError::Conflict {
            aggregate: CareTeamMember::TYPE,
        })
    }

    /// A case may reopen only if its member has no other open case: one member, one open case.
    pub(crate) async fn ensure_member_free_for(
        &self,
        work: &mut impl UnitOfWork,
        case_id: Uuid,
    ) -> Result<(), CommandError> {
        let (case, _) = work.load::<OutreachCase>(&case_id.to_string()).await?;
        let member_id = work.member_id(member_of(&case)?).await?;
        let (person, _) = work.load::<CareTeamMember>(&member_id).await?;
        if let Some(other) = person.open_case().filter(|c| *c != case_id) {
            let (other_case, _) = work.load::<OutreachCase>(&other.to_string()).await?;
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
    pub(crate) async fn restart_members_case(
        &self,
        work: &mut impl UnitOfWork,
        case_id: Uuid,
        metadata: &Metadata,
    ) -> Result<(), CommandError> {
        let (case, _) = work.load::<OutreachCase>(&case_id.to_string()).await?;
        let staff_id = member_of(&case)?.to_owned();
        let member_id = work.member_id(&staff_id).await?;
        let (person, _) = work.load::<CareTeamMember>(&member_id).await?;
        if let Some(stale) = person.open_case().filter(|c| *c != case_id) {
            let end = MemberCommand::EndCase {
                case_id: stale,
                at: chrono::Utc::now(),
            };
            work.execute::<CareTeamMember>(&member_id, &end, metadata)
                .await?;
        }
        let start = MemberCommand::StartCase {
            staff_id,
            case_id,
            at: chrono::Utc::now(),
        };
        work.execute::<CareTeamMember>(&member_id, &start, metadata)
            .await
    }

    /// Tells the member's record that this case no longer takes triggers.
    pub(crate) async fn end_members_case(
        &self,
        work: &mut impl UnitOfWork,
        case_id: Uuid,
        metadata: &Metadata,
    ) -> Result<(), CommandError> {
        let (case, _) = work.load::<OutreachCase>(&case_id.to_string()).await?;
        if case.status() == Some(CaseStatus::Open) || case.status().is_none() {
            return Ok(());
        }
        // A purged member's record has no open case (the purge waits for none): nothing to end.
        let Some(staff_id) = case.member_staff_id() else {
            return Ok(());
        };
        let member_id = work.member_id(staff_id).await?;
        let end = MemberCommand::EndCase {
            case_id,
            at: chrono::Utc::now(),
        };
        work.execute::<CareTeamMember>(&member_id, &end, metadata)
            .await
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
        let mut work = self.immediate();
        let case_id = work
            .case_id(&report, &referral.member.profile.staff_id)
            .await?;
        let open = CaseCommand::Open {
            case_id,
            report,
            trigger: referral.trigger,
            campus: referral.campus,
            unit: referral.unit,
            member: referral.member.profile,
            contact: referral.member.contact,
            opened_at: referral.at,
            // A referral carries no harm to grade: the routine allowance.
            urgent: false,
            contact_to_confirm: referral.contact_to_confirm,
        };
        self.open_or_link(&mut work, case_id, open, false, metadata)
            .await
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
        let mut work = self.immediate();
        let member_id = work.member_id(&staff_id).await?;
        work.execute::<CareTeamMember>(&member_id, &command, metadata)
            .await?;
        Ok(work.load::<CareTeamMember>(&member_id).await?.1)
    }

    /// The member's current preferences and opt-out, from the member's own record.
    pub async fn member(&self, staff_id: &str) -> Result<(CareTeamMember, u64), CommandError> {
        let mut work = self.immediate();
        let member_id = work.member_id(staff_id).await?;
        work.load::<CareTeamMember>(&member_id).await
    }
}

/// The staff id of the member `case` is about; refused for a case that was never opened, and
/// once the member's data was purged: the case's opening no longer says who they are, and
/// nothing may be done for them by name.
pub(crate) fn member_of(case: &OutreachCase) -> Result<&str, CommandError> {
    match (case.member_staff_id(), case.status()) {
        (Some(staff_id), _) => Ok(staff_id),
        (None, None) => Err(CommandError::Refused {
            rule: "case-not-found",
            detail: "there is no such case".into(),
        }),
        (None, Some(_)) => Err(CommandError::Refused {
            rule: "member-data-purged",
            detail: "the member's personal data was purged: the case names no one any more".into(),
        }),
    }
}
