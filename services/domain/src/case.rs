//! The outreach case aggregate: one care team member's path through outreach after one trigger.
//!
//! Every rule here refuses with a [`CaseError`] that names it, so clients and dead letters can
//! say which promise a command would have broken.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use outreach_events::lifecycle::{
    CaseClosed, CaseReopened, CloseReason, ContactAttempted, ContactOutcome, DurationBand,
    EncounterFormat, EncounterRecorded, EscalationCategory, EscalationRecorded,
    FirstContactDeadlinePassed, Modality, ProfessionalHelp, ReferredToProfessionalHelp,
    ResourceSheetSent, ResourcesSent, SupportAccepted, SupportDeclined, SupporterAssigned,
    TriggerLinked,
};
use outreach_events::{
    CancelReason, CaseCancelled, CaseEvent, CaseOpened, CaseOpenedFacts, Channel, MemberContact,
    MemberProfile, ReportRef, TriggerKind,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::deadline::DeadlinePolicy;

/// What may be asked of a case. No variant has a field for clinical detail or for what was said.
// Opening carries the whole case; boxing it would only add noise to every match.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum CaseCommand {
    Open {
        case_id: Uuid,
        report: ReportRef,
        trigger: TriggerKind,
        campus: String,
        unit: String,
        member: MemberProfile,
        contact: MemberContact,
        opened_at: DateTime<Utc>,
        /// The urgency policy's decision at intake: the urgent allowance, and a page.
        urgent: bool,
        /// `contact` is a referrer's suggestion for a colleague the program has no record of:
        /// held, never used to reach the member, until the program's staff confirm it.
        contact_to_confirm: bool,
    },
    Cancel {
        reason: CancelReason,
        cancelled_at: DateTime<Utc>,
    },
    Assign {
        supporter_id: String,
        /// Whether the supporter is named on the case's report (the command side looks it up).
        named_in_report: bool,
        at: DateTime<Utc>,
    },
    RecordContactAttempt {
        channel: Channel,
        outcome: ContactOutcome,
        at: DateTime<Utc>,
    },
    RecordDecline {
        at: DateTime<Utc>,
    },
    RecordAcceptance {
        at: DateTime<Utc>,
    },
    RecordEncounter {
        held_on: NaiveDate,
        modality: Modality,
        format: EncounterFormat,
        duration: DurationBand,
        at: DateTime<Utc>,
    },
    RecordResourcesSent {
        at: DateTime<Utc>,
    },
    /// The e-mail publisher's, after the mail server accepted the resource sheet `sheet_id`
    /// (its outbox id). Recorded once per sheet, whatever the case's state: it is a fact of
    /// delivery, not a step of outreach.
    RecordResourceSheetSent {
        sheet_id: Uuid,
        at: DateTime<Utc>,
    },
    ReferToProfessionalHelp {
        service: ProfessionalHelp,
        at: DateTime<Utc>,
    },
    RecordEscalation {
        category: EscalationCategory,
        at: DateTime<Utc>,
    },
    Close {
        reason: CloseReason,
        at: DateTime<Utc>,
    },
    Reopen {
        at: DateTime<Utc>,
    },
    /// The deadline watch noticed that first contact is past due. Recorded at most once.
    NoticeDeadlinePassed {
        at: DateTime<Utc>,
    },
    /// `command`, but only if the case is still at `version`: the version a person saw when
    /// they decided. Checked here, on the state the commit is made against, so it holds even
    /// when two people act at once (the loser's commit fails on the aggregate's sequence).
    Expecting {
        version: u64,
        command: Box<CaseCommand>,
    },
    /// The member's other open case takes this one over; this one closes as merged.
    MergeInto {
        into: Uuid,
        at: DateTime<Utc>,
    },
    /// Another trigger for the member joins this open case.
    LinkTrigger {
        report: ReportRef,
        trigger: TriggerKind,
        at: DateTime<Utc>,
        /// The urgency policy's decision on the linked report: an urgent report makes a routine
        /// case urgent, as if it had opened it.
        urgent: bool,
    },
    /// A program manager confirms how to reach the member of a case held for confirmation: the
    /// referrer's suggestion as it is (`replacement: None`), or the routes they entered.
    ConfirmContact {
        replacement: Option<ContactRoutes>,
        at: DateTime<Utc>,
    },
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CaseError {
    #[error("a case needs at least one way to reach the member: an e-mail address, a phone or a mobile number")]
    NoContactRoute,
    #[error("there is no such case")]
    NotOpened,
    #[error("the case is closed")]
    Closed,
    #[error("a supporter cannot support themselves")]
    SupporterIsTheMember,
    #[error("the supporter is named in the same report")]
    SupporterNamedInReport,
    #[error("no supporter is assigned to the case")]
    NoSupporterAssigned,
    #[error("the member declined: no further contact")]
    ContactAfterDecline,
    #[error("the member has not been reached yet")]
    MemberNotReached,
    #[error("the member has already accepted support")]
    AlreadyAccepted,
    #[error("an encounter cannot be recorded for a day that has not come yet")]
    EncounterInTheFuture,
    #[error("the case cannot close as {0}: {1}")]
    CloseReasonDoesNotFit(&'static str, &'static str),
    #[error("only a closed case can be reopened")]
    NotClosed,
    #[error("the case closed more than {0} days ago and can no longer be reopened")]
    ReopenWindowPassed(u32),
    #[error("the case has changed: it is at version {0}")]
    StaleVersion(u64),
    #[error("a case cannot be merged into itself")]
    MergeIntoItself,
    #[error("after a decline, only danger to self or others can be escalated")]
    EscalationAfterDecline,
    #[error("the member's contact details are a referrer's suggestion: the program's staff confirm them before anyone reaches out")]
    ContactToConfirm,
    #[error("the case has no contact details waiting for confirmation")]
    NoContactToConfirm,
}

impl CaseError {
    /// The rule that refused the command, as a stable name for clients and dead letters.
    pub fn rule(&self) -> &'static str {
        match self {
            CaseError::NoContactRoute => "case-needs-a-contact-route",
            CaseError::NotOpened => "case-not-found",
            CaseError::Closed => "case-is-closed",
            CaseError::SupporterIsTheMember => "supporter-is-the-member",
            CaseError::SupporterNamedInReport => "supporter-named-in-report",
            CaseError::NoSupporterAssigned => "no-supporter-assigned",
            CaseError::ContactAfterDecline => "no-contact-after-decline",
            CaseError::MemberNotReached => "member-not-reached",
            CaseError::AlreadyAccepted => "already-accepted",
            CaseError::EncounterInTheFuture => "encounter-in-the-future",
            CaseError::CloseReasonDoesNotFit(..) => "close-reason-does-not-fit",
            CaseError::NotClosed => "case-not-closed",
            CaseError::ReopenWindowPassed(_) => "reopen-window-passed",
            CaseError::StaleVersion(_) => "stale-version",
            CaseError::MergeIntoItself => "merge-into-itself",
            CaseError::EscalationAfterDecline => "escalation-after-decline",
            CaseError::ContactToConfirm => "contact-to-confirm",
            CaseError::NoContactToConfirm => "no-contact-to-confirm",
        }
    }
}

/// How the program runs its cases, from configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LifecyclePolicy {
    /// A case may close as unreachable after this many attempts without reaching the member.
    pub unreachable_after_attempts: u32,
    /// A closed case can be reopened for this many days.
    pub reopen_within_days: u32,
}

impl Default for LifecyclePolicy {
    fn default() -> Self {
        Self {
            unreachable_after_attempts: 3,
            reopen_within_days: 30,
        }
    }
}

/// What the case aggregate needs to decide: the program's policies.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CasePolicies {
    pub deadlines: DeadlinePolicy,
    pub lifecycle: LifecyclePolicy,
    /// Who the program serves: referrals are checked against it as intake's triggers are.
    pub eligibility: crate::EligibilityPolicy,
    /// When a report calls for a group debrief as well as individual outreach.
    pub group_debrief: crate::report::GroupDebriefPolicy,
    /// What the roster of peer supporters accepts.
    pub roster: crate::RosterPolicy,
    /// How supporters are ranked for a case.
    pub matching: crate::policy::MatchingPolicy,
    /// Which reports are urgent (read at intake), and how soon an urgent case is due.
    pub urgency: crate::policy::UrgencyPolicy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CaseStatus {
    Open,
    Cancelled,
    Closed,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OutreachCase {
    /// How many events the case has: the version a command may expect.
    version: u64,
    /// `None` until the case is opened.
    status: Option<CaseStatus>,
    case_id: Option<Uuid>,
    trigger: Option<TriggerKind>,
    report: Option<ReportRef>,
    /// `None` once the member's data was purged (the opening's profile is gone with the key).
    staff_id: Option<String>,
    supporter_id: Option<String>,
    attempts: u32,
    reached: bool,
    accepted: bool,
    declined: bool,
    closed_at: Option<DateTime<Utc>>,
    first_contact_due: Option<DateTime<Utc>>,
    deadline_noticed: bool,
    linked_reports: Vec<ReportRef>,
    urgent: bool,
    /// The resource sheets recorded as sent, by outbox id.
    sheets_sent: std::collections::BTreeSet<Uuid>,
    /// Contact details held for the program's staff to confirm, if any: the referrer's
    /// suggestion (`None` inside once the member's data was purged).
    contact_to_confirm: Option<Option<MemberContact>>,
}

impl OutreachCase {
    pub fn status(&self) -> Option<CaseStatus> {
        self.status
    }

    /// The staff id of the member the case is about; `None` before the opening, or once the
    /// member's data was purged.
    pub fn member_staff_id(&self) -> Option<&str> {
        self.staff_id.as_deref()
    }

    /// The staff id of the supporter assigned, if any.
    pub fn supporter_id(&self) -> Option<&str> {
        self.supporter_id.as_deref()
    }

    /// What opened the case.
    pub fn trigger(&self) -> Option<TriggerKind> {
        self.trigger
    }

    /// The report that opened the case.
    pub fn report(&self) -> Option<&ReportRef> {
        self.report.as_ref()
    }

    /// Whether the case is urgent: opened urgent, or made urgent by an urgent report linked to it.
    pub fn is_urgent(&self) -> bool {
        self.urgent
    }

    /// Whether the member's contact details wait for the program's staff to confirm them.
    pub fn has_contact_to_confirm(&self) -> bool {
        self.contact_to_confirm.is_some()
    }

    /// Commands other than opening and cancelling need an open case.
    fn ensure_open(&self) -> Result<(), CaseError> {
        match self.status {
            None => Err(CaseError::NotOpened),
            Some(CaseStatus::Open) => Ok(()),
            Some(_) => Err(CaseError::Closed),
        }
    }

    /// Conversation follows reaching the member, and never a decline.
    fn ensure_in_conversation(&self) -> Result<(), CaseError> {
        self.ensure_open()?;
        if self.declined {
            return Err(CaseError::ContactAfterDecline);
        }
        if !self.reached {
            return Err(CaseError::MemberNotReached);
        }
        Ok(())
    }

    fn decide(
        &self,
        command: CaseCommand,
        policies: &CasePolicies,
    ) -> Result<Vec<CaseEvent>, CaseError> {
        use CaseCommand as C;
        let event = match command {
            C::Expecting { version, command } => {
                if version != self.version {
                    return Err(CaseError::StaleVersion(self.version));
                }
                return self.decide(*command, policies);
            }
            C::Open {
                case_id,
                report,
                trigger,
                campus,
                unit,
                member,
                contact,
                opened_at,
                urgent,
                contact_to_confirm,
            } => {
                if self.status.is_some() {
                    return Ok(Vec::new()); // the same trigger again: the case exists already
                }
                if contact.email.is_none() && contact.phone.is_none() && contact.mobile.is_none() {
                    return Err(CaseError::NoContactRoute);
                }
                let first_contact_due = Some(if urgent {
                    policies
                        .deadlines
                        .due_after(policies.urgency.first_contact, opened_at)
                } else {
                    policies.deadlines.first_contact_due(trigger, opened_at)
                });
                let facts = CaseOpenedFacts {
                    case_id,
                    report,
                    trigger,
                    campus,
                    unit,
                    member: Some(member),
                    opened_at,
                    first_contact_due,
                    urgent,
                };
                if contact_to_confirm {
                    return Ok(held_for_confirmation(facts, contact));
                }
                CaseEvent::CaseOpened(CaseOpened {
                    facts,
                    personal: Some(contact),
                })
            }
            C::Cancel {
                reason,
                cancelled_at,
            } => {
                // Only a case nobody has acted on yet is cancelled; anything else is left alone.
                if self.status != Some(CaseStatus::Open) || self.attempts > 0 {
                    return Ok(Vec::new());
                }
                CaseEvent::CaseCancelled(CaseCancelled {
                    reason,
                    cancelled_at,
                })
            }
            C::Assign {
                supporter_id,
                named_in_report,
                at,
            } => {
                self.ensure_open()?;
                // The supporter is told how to reach the member: only once that is confirmed.
                self.ensure_contact_confirmed()?;
                if self.staff_id.as_deref() == Some(supporter_id.as_str()) {
                    return Err(CaseError::SupporterIsTheMember);
                }
                if named_in_report {
                    return Err(CaseError::SupporterNamedInReport);
                }
                if self.supporter_id.as_ref() == Some(&supporter_id) {
                    return Ok(Vec::new());
                }
                CaseEvent::SupporterAssigned(SupporterAssigned {
                    supporter_id,
                    assigned_at: at,
                })
            }
            C::RecordContactAttempt {
                channel,
                outcome,
                at,
            } => {
                self.ensure_open()?;
                if self.declined {
                    return Err(CaseError::ContactAfterDecline);
                }
                self.ensure_contact_confirmed()?;
                if self.supporter_id.is_none() {
                    return Err(CaseError::NoSupporterAssigned);
                }
                CaseEvent::ContactAttempted(ContactAttempted {
                    channel,
                    outcome,
                    attempted_at: at,
                })
            }
            C::RecordDecline { at } => {
                self.ensure_in_conversation()?;
                if self.accepted {
                    return Err(CaseError::AlreadyAccepted);
                }
                // The sheet is sent after this, and recorded once it was (ResourceSheetSent).
                CaseEvent::SupportDeclined(SupportDeclined {
                    unverified_sheet_claim: None,
                    declined_at: at,
                })
            }
            C::RecordAcceptance { at } => {
                self.ensure_in_conversation()?;
                if self.accepted {
                    return Ok(Vec::new());
                }
                CaseEvent::SupportAccepted(SupportAccepted { accepted_at: at })
            }
            C::RecordEncounter {
                held_on,
                modality,
                format,
                duration,
                at,
            } => {
                self.ensure_in_conversation()?;
                if held_on > at.date_naive() {
                    return Err(CaseError::EncounterInTheFuture);
                }
                CaseEvent::EncounterRecorded(EncounterRecorded {
                    held_on,
                    modality,
                    format,
                    duration,
                    recorded_at: at,
                })
            }
            C::RecordResourcesSent { at } => {
                // Resources go to everyone contacted, declined or not (seed 002).
                self.ensure_open()?;
                if !self.reached {
                    return Err(CaseError::MemberNotReached);
                }
                CaseEvent::ResourcesSent(ResourcesSent { sent_at: at })
            }
            C::RecordResourceSheetSent { sheet_id, at } => {
                match self.status {
                    None => return Err(CaseError::NotOpened),
                    // Cancelled before anyone reached the member: no sheet was ever due.
                    Some(CaseStatus::Cancelled) => return Err(CaseError::Closed),
                    Some(CaseStatus::Open | CaseStatus::Closed) => {}
                }
                if self.sheets_sent.contains(&sheet_id) {
                    return Ok(Vec::new()); // the same message delivered again
                }
                CaseEvent::ResourceSheetSent(ResourceSheetSent {
                    sheet_id,
                    sent_at: at,
                })
            }
            C::ReferToProfessionalHelp { service, at } => {
                self.ensure_in_conversation()?;
                CaseEvent::ReferredToProfessionalHelp(ReferredToProfessionalHelp {
                    service,
                    referred_at: at,
                })
            }
            C::RecordEscalation { category, at } => {
                // A member who says no but discloses danger to self or others is escalated
                // all the same: the decline ends outreach, not the program's duty.
                let danger = category == EscalationCategory::DangerToSelfOrOthers;
                match self.ensure_in_conversation() {
                    Err(CaseError::ContactAfterDecline) if danger => {}
                    Err(CaseError::ContactAfterDecline) => {
                        return Err(CaseError::EscalationAfterDecline)
                    }
                    other => other?,
                }
                CaseEvent::EscalationRecorded(EscalationRecorded {
                    category,
                    recorded_at: at,
                })
            }
            C::Close { reason, at } => {
                self.ensure_open()?;
                self.check_close_reason(reason, &policies.lifecycle)?;
                CaseEvent::CaseClosed(CaseClosed {
                    reason,
                    closed_at: at,
                    merged_into: None,
                })
            }
            C::Reopen { at } => {
                let (Some(CaseStatus::Closed), Some(closed_at)) = (self.status, self.closed_at)
                else {
                    return Err(match self.status {
                        None => CaseError::NotOpened,
                        _ => CaseError::NotClosed,
                    });
                };
                let window = policies.lifecycle.reopen_within_days;
                if at - closed_at > Duration::days(i64::from(window)) {
                    return Err(CaseError::ReopenWindowPassed(window));
                }
                CaseEvent::CaseReopened(CaseReopened { reopened_at: at })
            }
            C::NoticeDeadlinePassed { at } => {
                // Exactly once per case, and only while first contact is still owed: whoever
                // notices second (another instance, a retry) records nothing.
                let Some(due) = self.first_contact_due else {
                    return Ok(Vec::new());
                };
                if self.status != Some(CaseStatus::Open)
                    || self.attempts > 0
                    || self.deadline_noticed
                    || at < due
                {
                    return Ok(Vec::new());
                }
                CaseEvent::FirstContactDeadlinePassed(FirstContactDeadlinePassed {
                    due,
                    noticed_at: at,
                })
            }
            C::MergeInto { into, at } => {
                self.ensure_open()?;
                if self.case_id == Some(into) {
                    return Err(CaseError::MergeIntoItself);
                }
                CaseEvent::CaseClosed(CaseClosed {
                    reason: CloseReason::Merged,
                    closed_at: at,
                    merged_into: Some(into),
                })
            }
            C::LinkTrigger {
                report,
                trigger,
                at,
                urgent,
            } => {
                self.ensure_open()?;
                if self.report.as_ref() == Some(&report) || self.linked_reports.contains(&report) {
                    return Ok(Vec::new()); // the same trigger again
                }
                let made_urgent = urgent && !self.urgent;
                // Only while first contact is owed: once a supporter has tried to reach the
                // member, someone is already on it, and a page would call the on-call supporter
                // out to do what is under way (and would never be resolved by a first contact).
                let first_contact_due = (made_urgent && self.attempts == 0).then(|| {
                    let urgent_due = policies
                        .deadlines
                        .due_after(policies.urgency.first_contact, at);
                    // Sooner, never later: a routine deadline already closer stands.
                    self.first_contact_due
                        .map_or(urgent_due, |due| due.min(urgent_due))
                });
                CaseEvent::TriggerLinked(TriggerLinked {
                    report,
                    trigger,
                    linked_at: at,
                    made_urgent,
                    first_contact_due,
                })
            }
            C::ConfirmContact { replacement, at } => self.confirm_contact(replacement, at)?,
        };
        Ok(vec![event])
    }

    fn check_close_reason(
        &self,
        reason: CloseReason,
        policy: &LifecyclePolicy,
    ) -> Result<(), CaseError> {
        let misfit = |name, why| Err(CaseError::CloseReasonDoesNotFit(name, why));
        match reason {
            CloseReason::Completed if !self.accepted => {
                misfit("completed", "the member has not accepted support")
            }
            CloseReason::Declined if !self.declined => {
                misfit("declined", "the member has not declined")
            }
            CloseReason::Unreachable if self.reached => {
                misfit("unreachable", "the member was reached")
            }
            CloseReason::Unreachable if self.attempts < policy.unreachable_after_attempts => {
                misfit(
                    "unreachable",
                    "fewer contact attempts than the program requires",
                )
            }
            CloseReason::Merged => misfit(
                "merged",
                "merge the case into the member's other case instead",
            ),
            _ => Ok(()),
        }
    }
}

impl Aggregate for OutreachCase {
    const TYPE: &'static str = outreach_events::case::AGGREGATE_TYPE;
    type Command = CaseCommand;
    type Event = CaseEvent;
    type Error = CaseError;
    type Services = CasePolicies;

    async fn handle(
        &mut self,
        command: Self::Command,
        policies: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        for event in self.decide(command, policies)? {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        self.version += 1;
        match event {
            CaseEvent::CaseOpened(opened) => {
                self.status = Some(CaseStatus::Open);
                self.first_contact_due = opened.facts.first_contact_due;
                self.case_id = Some(opened.facts.case_id);
                self.trigger = Some(opened.facts.trigger);
                self.report = Some(opened.facts.report);
                self.urgent = opened.facts.urgent;
                self.staff_id = opened.facts.member.map(|member| member.staff_id);
            }
            CaseEvent::CaseCancelled(_) => self.status = Some(CaseStatus::Cancelled),
            CaseEvent::SupporterAssigned(assigned) => {
                self.supporter_id = Some(assigned.supporter_id)
            }
            CaseEvent::ContactAttempted(attempt) => {
                self.attempts += 1;
                self.reached |= attempt.outcome == ContactOutcome::Reached;
            }
            CaseEvent::SupportDeclined(_) => self.declined = true,
            CaseEvent::SupportAccepted(_) => self.accepted = true,
            CaseEvent::EncounterRecorded(_)
            | CaseEvent::ResourcesSent(_)
            | CaseEvent::ReferredToProfessionalHelp(_)
            | CaseEvent::EscalationRecorded(_) => {}
            CaseEvent::CaseClosed(closed) => {
                self.status = Some(CaseStatus::Closed);
                self.closed_at = Some(closed.closed_at);
            }
            CaseEvent::FirstContactDeadlinePassed(_) => self.deadline_noticed = true,
            CaseEvent::TriggerLinked(linked) => {
                self.urgent |= linked.made_urgent;
                if linked.first_contact_due.is_some() {
                    self.first_contact_due = linked.first_contact_due;
                }
                self.linked_reports.push(linked.report);
            }
            CaseEvent::ResourceSheetSent(sent) => {
                self.sheets_sent.insert(sent.sheet_id);
            }
            CaseEvent::ContactToConfirm(held) => self.contact_to_confirm = Some(held.personal),
            CaseEvent::ContactConfirmed(_) => self.contact_to_confirm = None,
            CaseEvent::CaseReopened(_) => {
                self.status = Some(CaseStatus::Open);
                self.closed_at = None;
                // Reopening is the member asking again: an earlier decline no longer stands.
                self.declined = false;
            }
        }
    }
}

#[path = "contact_confirmation.rs"]
mod contact_confirmation;
use contact_confirmation::held_for_confirmation;
pub use contact_confirmation::ContactRoutes;

#[cfg(test)]
#[path = "case_tests.rs"]
mod tests;
