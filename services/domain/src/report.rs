//! The safety report aggregate: remembers which members a report named, whether it starts
//! outreach, and whether it was withdrawn, so amendments and withdrawals reach the right cases
//! and a redelivered report opens nothing twice.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use outreach_events::{
    CancelReason, MemberContact, MemberProfile, ReportEvent, ReportMember, ReportRef, Revision,
    TriggerKind,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::case::CaseCommand;

/// When a report calls for a group debrief as well as individual outreach: events that affect
/// many staff at once, more than 5 people or several units (Nationwide Children's "YOU Matter").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GroupDebriefPolicy {
    /// A report naming more than this many eligible members calls for a group debrief.
    pub more_than_staff: usize,
    /// So does one whose eligible members come from at least this many departments; 0 turns
    /// this rule off.
    pub several_departments: usize,
}

impl Default for GroupDebriefPolicy {
    fn default() -> Self {
        Self {
            more_than_staff: 5,
            several_departments: 3,
        }
    }
}

impl GroupDebriefPolicy {
    /// Whether `staff` eligible members from `departments` distinct departments call for one.
    pub fn calls_for_debrief(&self, staff: usize, departments: usize) -> bool {
        staff > self.more_than_staff
            || (self.several_departments > 0 && departments >= self.several_departments)
    }

    /// Distinct departments among the eligible members, each member counted once; departments
    /// are compared ignoring case and surrounding space, and a blank one is not counted.
    fn departments(members: &[InvolvedMember]) -> usize {
        let mut seen = std::collections::BTreeSet::new();
        members
            .iter()
            .filter(|m| seen.insert(m.profile.staff_id.as_str()))
            .filter(|m| m.eligible)
            .map(|m| m.profile.department.trim().to_lowercase())
            .filter(|d| !d.is_empty())
            .collect::<std::collections::BTreeSet<_>>()
            .len()
    }
}

/// A care team member as a report names them, with the eligibility decision taken at intake.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InvolvedMember {
    pub profile: MemberProfile,
    pub contact: MemberContact,
    pub eligible: bool,
    /// The member's case after this report, derived by the command side under the member's
    /// data key (see [`crate::ids`]) just before the report decides: intake cannot know it,
    /// and a command parked for its report waits without it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub case_id: Option<Uuid>,
}

/// What intake asks of a report. These types have no field that could hold clinical detail.
/// Serialisable, so an amendment that arrives before its report can wait for it as it is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ReportCommand {
    Record {
        report: ReportRef,
        trigger: TriggerKind,
        outreach: bool,
        /// The urgency policy's decision, taken at intake beside the trigger policy's.
        #[serde(default)]
        urgent: bool,
        campus: String,
        unit: String,
        members: Vec<InvolvedMember>,
        recorded_at: DateTime<Utc>,
        /// Set by sources that send the whole report again when it changes (HL7 FHIR): a newer
        /// revision of a recorded report adds and removes members as an amendment would.
        #[serde(default)]
        revision: Option<Revision>,
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
    /// A member reached the report without the case id the command side derives for them.
    #[error("a member named on report {0} has no case id derived for them")]
    CaseIdNotDerived(String),
}

impl ReportError {
    /// The rule that refused the command, as a stable name for clients and dead letters.
    pub fn rule(&self) -> &'static str {
        match self {
            ReportError::NotYetReceived(_) => "report-not-yet-received",
            ReportError::CaseIdNotDerived(_) => "case-id-not-derived",
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SafetyReport {
    recorded: Option<Recorded>,
    withdrawn: bool,
    /// Members by staff id, in the order they were named.
    members: BTreeMap<String, NamedMember>,
    /// Members whose data was purged: their staff ids are gone with their keys (issue 27), their
    /// cases stay, so withdrawals still reach them. Their eligibility went with the staff id
    /// (it is about them) and reads as not eligible, except in reports stored before it was
    /// sealed: such a member's case is closed (a purge waits for that), so a withdrawal has
    /// nothing of theirs to cancel, and the group debrief's count leaves them out.
    #[serde(default)]
    gone: Vec<NamedMember>,
    /// Whether a group debrief was proposed (at most once per report).
    #[serde(default)]
    group_debrief_proposed: bool,
    /// The newest revision the source sent, for sources that send whole reports.
    #[serde(default)]
    revision: Option<Revision>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Recorded {
    report: ReportRef,
    trigger: TriggerKind,
    outreach: bool,
    #[serde(default)]
    urgent: bool,
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

    /// Eligible members the report names now.
    fn eligible_staff(&self) -> usize {
        (self.members.values().chain(&self.gone))
            .filter(|m| m.eligible && !m.removed)
            .count()
    }

    /// The cases of members named by staff id (those the report names by staff id).
    fn cases_of(&self, staff_ids: &[String]) -> Vec<Uuid> {
        staff_ids
            .iter()
            .filter_map(|id| self.members.get(id))
            .map(|m| m.case_id)
            .collect()
    }

    /// Proposes a group debrief if the report starts outreach, none was proposed yet, and the
    /// policy calls for one. Only the decision and its counts are kept, never the departments.
    async fn propose_group_debrief(
        &mut self,
        policy: &GroupDebriefPolicy,
        departments: usize,
        at: DateTime<Utc>,
        sink: &EventSink<Self>,
    ) {
        let Some(recorded) = self.recorded.as_ref().filter(|r| r.outreach) else {
            return;
        };
        let staff = self.eligible_staff();
        if self.group_debrief_proposed
            || self.withdrawn
            || !policy.calls_for_debrief(staff, departments)
        {
            return;
        }
        let event = ReportEvent::GroupDebriefProposed {
            report: recorded.report.clone(),
            campus: recorded.campus.clone(),
            unit: recorded.unit.clone(),
            staff,
            departments,
            proposed_at: at,
        };
        sink.write(event, self).await;
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
                // The id derived now names the case the report recorded only while the
                // member's key lives: after a purge it names no case of this report, and a
                // redelivery opens nothing (nor links the member's new record to the old case).
                .filter(|m| m.case_id == Some(self.members[&m.profile.staff_id].case_id))
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
                        urgent: recorded.urgent,
                        // The hospital's own reporting system gave these details.
                        contact_to_confirm: false,
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
                revision,
                ..
            } => {
                let mut commands = open(members, *recorded_at);
                if revision.is_some() {
                    // A revision names everyone: whoever it leaves out was removed by it or
                    // by an earlier one (cancelling again is a no-op).
                    let named: std::collections::BTreeSet<&str> = members
                        .iter()
                        .map(|m| m.profile.staff_id.as_str())
                        .collect();
                    commands.extend(
                        self.members
                            .iter()
                            .filter(|(id, m)| {
                                m.removed && m.eligible && !named.contains(id.as_str())
                            })
                            .map(|(_, m)| {
                                cancel(m.case_id, CancelReason::RemovedFromReport, *recorded_at)
                            }),
                    );
                }
                commands
            }
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
            ReportCommand::Withdraw { withdrawn_at, .. } => (self.members.values())
                .chain(&self.gone)
                .filter(|m| m.eligible)
                .map(|m| cancel(m.case_id, CancelReason::ReportWithdrawn, *withdrawn_at))
                .collect(),
        }
    }

    fn named(
        report: &ReportRef,
        members: &[InvolvedMember],
    ) -> Result<Vec<ReportMember>, ReportError> {
        let mut seen = std::collections::BTreeSet::new();
        let mut named = members
            .iter()
            // A source may name one person twice (as reporter and as involved): one case each.
            .filter(|m| seen.insert(m.profile.staff_id.clone()))
            .map(|m| {
                Ok(ReportMember {
                    staff_id: m.profile.staff_id.clone(),
                    case_id: m
                        .case_id
                        .ok_or_else(|| ReportError::CaseIdNotDerived(report.report_id.clone()))?,
                    eligible: m.eligible,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        // In the order of their case ids (keyed hashes), not the source's: the safety office
        // knows the report's order, which would tell whose case is whose once the staff ids
        // are gone with the keys (issue 27).
        named.sort_by_key(|m| m.case_id);
        Ok(named)
    }
}

impl Aggregate for SafetyReport {
    const TYPE: &'static str = outreach_events::report::AGGREGATE_TYPE;
    type Command = ReportCommand;
    type Event = ReportEvent;
    type Error = ReportError;
    type Services = GroupDebriefPolicy;

    async fn handle(
        &mut self,
        command: Self::Command,
        policy: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        match command {
            ReportCommand::Record {
                report,
                trigger,
                outreach,
                urgent,
                campus,
                unit,
                members,
                recorded_at,
                revision,
            } => {
                if self.recorded.is_some() {
                    // A redelivery or an older version changes nothing; a newer one amends.
                    let newer = match (&revision, &self.revision) {
                        (Some(new), Some(old)) => new.is_newer_than(old),
                        (Some(_), None) => true,
                        (None, _) => false,
                    };
                    if let (true, Some(revision)) = (newer && !self.withdrawn, revision) {
                        self.revise(&report, members, revision, recorded_at, policy, sink)
                            .await?;
                    }
                    return Ok(());
                }
                let departments = GroupDebriefPolicy::departments(&members);
                let members = Self::named(&report, &members)?;
                let event = ReportEvent::ReportRecorded {
                    report,
                    trigger,
                    outreach,
                    urgent,
                    campus,
                    unit,
                    members,
                    recorded_at,
                };
                sink.write(event, self).await;
                if let Some(revision) = revision {
                    let event = ReportEvent::ReportRevised {
                        revision,
                        revised_at: recorded_at,
                    };
                    sink.write(event, self).await;
                }
                self.propose_group_debrief(policy, departments, recorded_at, sink)
                    .await;
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
                // The report keeps no departments, so the department rule can only count those
                // of the members this amendment adds.
                let new: Vec<_> = added
                    .iter()
                    .filter(|m| !self.is_active(&m.profile.staff_id))
                    .cloned()
                    .collect();
                let departments = GroupDebriefPolicy::departments(&new);
                let added: Vec<_> = Self::named(&report, &new)?;
                let mut removed: Vec<_> = removed
                    .into_iter()
                    .filter(|id| self.is_active(id))
                    .collect();
                removed.dedup();
                let adds = !added.is_empty();
                if adds {
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
                            case_ids: self.cases_of(&removed),
                            staff_ids: removed,
                            amended_at,
                        },
                        self,
                    )
                    .await;
                }
                // Only an amendment that adds members can push the report over the threshold.
                if adds {
                    self.propose_group_debrief(policy, departments, amended_at, sink)
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
                urgent,
                campus,
                unit,
                members,
                ..
            } => {
                self.recorded = Some(Recorded {
                    report,
                    trigger,
                    outreach,
                    urgent,
                    campus,
                    unit,
                });
                self.add(members);
            }
            ReportEvent::StaffAdded { members, .. } => self.add(members),
            ReportEvent::StaffRemoved {
                staff_ids,
                case_ids,
                ..
            } => {
                for staff_id in staff_ids {
                    if let Some(member) = self.members.get_mut(&staff_id) {
                        member.removed = true;
                    }
                }
                // Once a removed member's data is purged, their case says who was removed.
                for member in self.members.values_mut().chain(&mut self.gone) {
                    if case_ids.contains(&member.case_id) {
                        member.removed = true;
                    }
                }
            }
            ReportEvent::ReportWithdrawn { .. } => self.withdrawn = true,
            ReportEvent::ReportRevised { revision, .. } => self.revision = Some(revision),
            ReportEvent::GroupDebriefProposed { .. } => self.group_debrief_proposed = true,
        }
    }
}

impl SafetyReport {
    /// A newer revision of the whole report: the members it names that the report does not are
    /// added, those the report names that it does not are removed, as an amendment would.
    async fn revise(
        &mut self,
        report: &ReportRef,
        members: Vec<InvolvedMember>,
        revision: Revision,
        at: DateTime<Utc>,
        policy: &GroupDebriefPolicy,
        sink: &EventSink<Self>,
    ) -> Result<(), ReportError> {
        let named: std::collections::BTreeSet<&str> = members
            .iter()
            .map(|m| m.profile.staff_id.as_str())
            .collect();
        let removed: Vec<String> = self
            .members
            .iter()
            .filter(|(id, m)| !m.removed && !named.contains(id.as_str()))
            .map(|(id, _)| id.clone())
            .collect();
        let new: Vec<_> = members
            .iter()
            .filter(|m| !self.is_active(&m.profile.staff_id))
            .cloned()
            .collect();
        let departments = GroupDebriefPolicy::departments(&new);
        let added = Self::named(report, &new)?;
        let adds = !added.is_empty();
        if adds {
            let event = ReportEvent::StaffAdded {
                members: added,
                amended_at: at,
            };
            sink.write(event, self).await;
        }
        if !removed.is_empty() {
            let event = ReportEvent::StaffRemoved {
                case_ids: self.cases_of(&removed),
                staff_ids: removed,
                amended_at: at,
            };
            sink.write(event, self).await;
        }
        let event = ReportEvent::ReportRevised {
            revision,
            revised_at: at,
        };
        sink.write(event, self).await;
        if adds {
            self.propose_group_debrief(policy, departments, at, sink)
                .await;
        }
        Ok(())
    }

    fn add(&mut self, members: Vec<ReportMember>) {
        for m in members {
            let named = NamedMember {
                case_id: m.case_id,
                eligible: m.eligible,
                removed: false,
            };
            if m.staff_id.is_empty() {
                self.gone.push(named);
            } else {
                self.members.insert(m.staff_id, named);
            }
        }
    }
}

#[cfg(test)]
#[path = "report_tests.rs"]
mod tests;
