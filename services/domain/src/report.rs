//! The safety report aggregate: remembers which members a report named, whether it starts
//! outreach, and whether it was withdrawn, so amendments and withdrawals reach the right cases
//! and a redelivered report opens nothing twice.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use outreach_events::{
    CancelReason, MemberContact, MemberProfile, ReportEvent, ReportMember, ReportRef, TriggerKind,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::case::CaseCommand;
use crate::ids;

/// A care team member as a report names them, with the eligibility decision taken at intake.
#[derive(Debug, Clone, PartialEq)]
pub struct InvolvedMember {
    pub profile: MemberProfile,
    pub contact: MemberContact,
    pub eligible: bool,
}

/// What intake asks of a report. These types have no field that could hold clinical detail.
#[derive(Debug, Clone, PartialEq)]
pub enum ReportCommand {
    Record {
        report: ReportRef,
        trigger: TriggerKind,
        outreach: bool,
        campus: String,
        unit: String,
        members: Vec<InvolvedMember>,
        recorded_at: DateTime<Utc>,
    },
    Amend {
        report: ReportRef,
        added: Vec<InvolvedMember>,
        removed: Vec<String>,
        amended_at: DateTime<Utc>,
    },
    Withdraw {
        report: ReportRef,
        withdrawn_at: DateTime<Utc>,
    },
}

impl ReportCommand {
    pub fn report(&self) -> &ReportRef {
        match self {
            ReportCommand::Record { report, .. }
            | ReportCommand::Amend { report, .. }
            | ReportCommand::Withdraw { report, .. } => report,
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReportError {
    #[error("report {0} has not been received yet, so it cannot be amended or withdrawn")]
    NotYetReceived(String),
}

impl ReportError {
    /// The rule that refused the command, as a stable name for clients and dead letters.
    pub fn rule(&self) -> &'static str {
        match self {
            ReportError::NotYetReceived(_) => "report-not-yet-received",
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SafetyReport {
    recorded: Option<Recorded>,
    withdrawn: bool,
    /// Members by staff id, in the order they were named.
    members: BTreeMap<String, NamedMember>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Recorded {
    report: ReportRef,
    trigger: TriggerKind,
    outreach: bool,
    campus: String,
    unit: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct NamedMember {
    case_id: Uuid,
    eligible: bool,
    removed: bool,
}

impl SafetyReport {
    fn is_active(&self, staff_id: &str) -> bool {
        self.members.get(staff_id).is_some_and(|m| !m.removed)
    }

    /// Whether the report names this staff member (and no amendment removed them).
    pub fn names(&self, staff_id: &str) -> bool {
        self.is_active(staff_id)
    }

    /// The case commands that follow from `command` once it has been applied to this report.
    ///
    /// Computed from the state after the command, not from the events it produced, so that a
    /// redelivered message (which produces no new events) still finishes work a crash
    /// interrupted: opening or cancelling a case twice is a no-op.
    pub fn follow_up(&self, command: &ReportCommand) -> Vec<(Uuid, CaseCommand)> {
        let Some(recorded) = &self.recorded else {
            return Vec::new();
        };
        let open = |members: &[InvolvedMember], at: DateTime<Utc>| -> Vec<(Uuid, CaseCommand)> {
            if !recorded.outreach || self.withdrawn {
                return Vec::new();
            }
            members
                .iter()
                .filter(|m| m.eligible && self.is_active(&m.profile.staff_id))
                .map(|m| {
                    let case_id = self.members[&m.profile.staff_id].case_id;
                    let command = CaseCommand::Open {
                        case_id,
                        report: recorded.report.clone(),
                        trigger: recorded.trigger,
                        campus: recorded.campus.clone(),
                        unit: recorded.unit.clone(),
                        member: m.profile.clone(),
                        contact: m.contact.clone(),
                        opened_at: at,
                    };
                    (case_id, command)
                })
                .collect()
        };
        let cancel = |case_id: Uuid, reason: CancelReason, at: DateTime<Utc>| {
            (
                case_id,
                CaseCommand::Cancel {
                    reason,
                    cancelled_at: at,
                },
            )
        };
        match command {
            ReportCommand::Record {
                members,
                recorded_at,
                ..
            } => open(members, *recorded_at),
            ReportCommand::Amend {
                added,
                removed,
                amended_at,
                ..
            } => {
                let mut commands = open(added, *amended_at);
                commands.extend(
                    removed
                        .iter()
                        .filter_map(|staff_id| self.members.get(staff_id))
                        .filter(|m| m.removed && m.eligible)
                        .map(|m| cancel(m.case_id, CancelReason::RemovedFromReport, *amended_at)),
                );
                commands
            }
            ReportCommand::Withdraw { withdrawn_at, .. } => self
                .members
                .values()
                .filter(|m| m.eligible)
                .map(|m| cancel(m.case_id, CancelReason::ReportWithdrawn, *withdrawn_at))
                .collect(),
        }
    }

    fn named(report: &ReportRef, members: &[InvolvedMember]) -> Vec<ReportMember> {
        let mut seen = std::collections::BTreeSet::new();
        members
            .iter()
            // A source may name one person twice (as reporter and as involved): one case each.
            .filter(|m| seen.insert(m.profile.staff_id.clone()))
            .map(|m| ReportMember {
                staff_id: m.profile.staff_id.clone(),
                case_id: ids::case_id(report, &m.profile.staff_id),
                eligible: m.eligible,
            })
            .collect()
    }
}

impl Aggregate for SafetyReport {
    const TYPE: &'static str = "SafetyReport";
    type Command = ReportCommand;
    type Event = ReportEvent;
    type Error = ReportError;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        match command {
            ReportCommand::Record {
                report,
                trigger,
                outreach,
                campus,
                unit,
                members,
                recorded_at,
            } => {
                if self.recorded.is_some() {
                    return Ok(()); // redelivery: already recorded
                }
                let members = Self::named(&report, &members);
                let event = ReportEvent::ReportRecorded {
                    report,
                    trigger,
                    outreach,
                    campus,
                    unit,
                    members,
                    recorded_at,
                };
                sink.write(event, self).await;
            }
            ReportCommand::Amend {
                report,
                added,
                removed,
                amended_at,
            } => {
                if self.recorded.is_none() {
                    return Err(ReportError::NotYetReceived(report.report_id));
                }
                if self.withdrawn {
                    return Ok(());
                }
                let added: Vec<_> = Self::named(&report, &added)
                    .into_iter()
                    .filter(|m| !self.is_active(&m.staff_id))
                    .collect();
                let mut removed: Vec<_> = removed
                    .into_iter()
                    .filter(|id| self.is_active(id))
                    .collect();
                removed.dedup();
                if !added.is_empty() {
                    sink.write(
                        ReportEvent::StaffAdded {
                            members: added,
                            amended_at,
                        },
                        self,
                    )
                    .await;
                }
                if !removed.is_empty() {
                    sink.write(
                        ReportEvent::StaffRemoved {
                            staff_ids: removed,
                            amended_at,
                        },
                        self,
                    )
                    .await;
                }
            }
            ReportCommand::Withdraw {
                report,
                withdrawn_at,
            } => {
                if self.recorded.is_none() {
                    return Err(ReportError::NotYetReceived(report.report_id));
                }
                if !self.withdrawn {
                    sink.write(ReportEvent::ReportWithdrawn { withdrawn_at }, self)
                        .await;
                }
            }
        }
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            ReportEvent::ReportRecorded {
                report,
                trigger,
                outreach,
                campus,
                unit,
                members,
                ..
            } => {
                self.recorded = Some(Recorded {
                    report,
                    trigger,
                    outreach,
                    campus,
                    unit,
                });
                self.add(members);
            }
            ReportEvent::StaffAdded { members, .. } => self.add(members),
            ReportEvent::StaffRemoved { staff_ids, .. } => {
                for staff_id in staff_ids {
                    if let Some(member) = self.members.get_mut(&staff_id) {
                        member.removed = true;
                    }
                }
            }
            ReportEvent::ReportWithdrawn { .. } => self.withdrawn = true,
        }
    }
}

impl SafetyReport {
    fn add(&mut self, members: Vec<ReportMember>) {
        for m in members {
            self.members.insert(
                m.staff_id,
                NamedMember {
                    case_id: m.case_id,
                    eligible: m.eligible,
                    removed: false,
                },
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use cqrs_es::test::TestFramework;
    use outreach_events::{Discipline, Involvement};

    use super::*;

    type Scenario = TestFramework<SafetyReport>;

    fn at() -> DateTime<Utc> {
        DateTime::from_timestamp(1_790_000_000, 0).unwrap()
    }

    fn report() -> ReportRef {
        ReportRef {
            source: "/datix/parnassus".into(),
            report_id: "INC-2026-004211".into(),
        }
    }

    fn member(staff_id: &str, eligible: bool) -> InvolvedMember {
        InvolvedMember {
            profile: MemberProfile {
                staff_id: staff_id.into(),
                role: "Registered nurse".into(),
                discipline: Discipline::Nurse,
                department: "Critical Care".into(),
                seniority: None,
                involvement: Involvement::Primary,
            },
            contact: MemberContact {
                given_name: "Sam".into(),
                family_name: "Rivera".into(),
                email: Some("sam.rivera@example.org".into()),
                phone: None,
                mobile: None,
                preferred_channel: None,
            },
            eligible,
        }
    }

    fn record(members: Vec<InvolvedMember>, outreach: bool) -> ReportCommand {
        ReportCommand::Record {
            report: report(),
            trigger: TriggerKind::Incident,
            outreach,
            campus: "Parnassus".into(),
            unit: "7 Long ICU".into(),
            members,
            recorded_at: at(),
        }
    }

    fn recorded(members: &[(&str, bool)], outreach: bool) -> ReportEvent {
        ReportEvent::ReportRecorded {
            report: report(),
            trigger: TriggerKind::Incident,
            outreach,
            campus: "Parnassus".into(),
            unit: "7 Long ICU".into(),
            members: members
                .iter()
                .map(|(id, eligible)| ReportMember {
                    staff_id: id.to_string(),
                    case_id: ids::case_id(&report(), id),
                    eligible: *eligible,
                })
                .collect(),
            recorded_at: at(),
        }
    }

    fn state_after(events: Vec<ReportEvent>) -> SafetyReport {
        let mut state = SafetyReport::default();
        events.into_iter().for_each(|e| state.apply(e));
        state
    }

    fn opened(commands: &[(Uuid, CaseCommand)]) -> Vec<Uuid> {
        commands
            .iter()
            .filter(|(_, c)| matches!(c, CaseCommand::Open { .. }))
            .map(|(id, _)| *id)
            .collect()
    }

    #[test]
    fn a_new_report_records_everyone_named_once() {
        Scenario::with(())
            .given_no_previous_events()
            .when(record(
                vec![member("E1", true), member("E2", false), member("E1", true)],
                true,
            ))
            .then_expect_events(vec![recorded(&[("E1", true), ("E2", false)], true)]);
    }

    #[test]
    fn a_redelivered_report_records_nothing_new() {
        Scenario::with(())
            .given(vec![recorded(&[("E1", true)], true)])
            .when(record(vec![member("E1", true)], true))
            .then_expect_events(vec![]);
    }

    #[test]
    fn only_eligible_members_of_a_triggering_report_get_cases() {
        let command = record(vec![member("E1", true), member("E2", false)], true);
        let state = state_after(vec![recorded(&[("E1", true), ("E2", false)], true)]);
        assert_eq!(
            opened(&state.follow_up(&command)),
            vec![ids::case_id(&report(), "E1")]
        );
    }

    #[test]
    fn a_report_the_trigger_policy_passes_over_opens_no_case() {
        let command = record(vec![member("E1", true)], false);
        let state = state_after(vec![recorded(&[("E1", true)], false)]);
        assert!(state.follow_up(&command).is_empty());
    }

    #[test]
    fn an_amendment_adds_only_members_not_already_named() {
        Scenario::with(())
            .given(vec![recorded(&[("E1", true)], true)])
            .when(ReportCommand::Amend {
                report: report(),
                added: vec![member("E1", true), member("E3", true)],
                removed: vec!["E9".into()],
                amended_at: at(),
            })
            .then_expect_events(vec![ReportEvent::StaffAdded {
                members: vec![ReportMember {
                    staff_id: "E3".into(),
                    case_id: ids::case_id(&report(), "E3"),
                    eligible: true,
                }],
                amended_at: at(),
            }]);
    }

    #[test]
    fn removing_a_member_cancels_their_case() {
        let command = ReportCommand::Amend {
            report: report(),
            added: vec![],
            removed: vec!["E1".into()],
            amended_at: at(),
        };
        let state = state_after(vec![
            recorded(&[("E1", true), ("E2", true)], true),
            ReportEvent::StaffRemoved {
                staff_ids: vec!["E1".into()],
                amended_at: at(),
            },
        ]);
        let follow_up = state.follow_up(&command);
        assert_eq!(follow_up.len(), 1);
        assert_eq!(follow_up[0].0, ids::case_id(&report(), "E1"));
        assert!(matches!(
            follow_up[0].1,
            CaseCommand::Cancel {
                reason: CancelReason::RemovedFromReport,
                ..
            }
        ));
    }

    #[test]
    fn a_withdrawal_cancels_every_eligible_members_case_and_later_redelivery_opens_none() {
        let state = state_after(vec![
            recorded(&[("E1", true), ("E2", false)], true),
            ReportEvent::ReportWithdrawn { withdrawn_at: at() },
        ]);
        let withdraw = ReportCommand::Withdraw {
            report: report(),
            withdrawn_at: at(),
        };
        let cancelled: Vec<_> = state
            .follow_up(&withdraw)
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        assert_eq!(cancelled, vec![ids::case_id(&report(), "E1")]);
        let again = record(vec![member("E1", true)], true);
        assert!(state.follow_up(&again).is_empty());
    }

    #[test]
    fn a_report_cannot_be_withdrawn_or_amended_before_it_is_received() {
        Scenario::with(())
            .given_no_previous_events()
            .when(ReportCommand::Withdraw {
                report: report(),
                withdrawn_at: at(),
            })
            .then_expect_error(ReportError::NotYetReceived("INC-2026-004211".into()));
    }

    #[test]
    fn withdrawing_twice_records_one_withdrawal() {
        Scenario::with(())
            .given(vec![
                recorded(&[("E1", true)], true),
                ReportEvent::ReportWithdrawn { withdrawn_at: at() },
            ])
            .when(ReportCommand::Withdraw {
                report: report(),
                withdrawn_at: at(),
            })
            .then_expect_events(vec![]);
    }
}
