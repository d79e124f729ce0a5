//! Events of the outreach case aggregate: one care team member's path through outreach.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::contact_confirmation::{ContactConfirmed, ContactToConfirm};
use crate::lifecycle::{
    CaseClosed, CaseReopened, ContactAttempted, EncounterRecorded, EscalationRecorded,
    FirstContactDeadlinePassed, ReferredToProfessionalHelp, ResourceSheetSent, ResourcesSent,
    SupportAccepted, SupportDeclined, SupporterAssigned, TriggerLinked,
};
use crate::{MemberContact, MemberProfile, ReportRef, TriggerKind};

// Opening carries the whole case; boxing it would only add noise to every match.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum CaseEvent {
    CaseOpened(CaseOpened),
    CaseCancelled(CaseCancelled),
    SupporterAssigned(SupporterAssigned),
    ContactAttempted(ContactAttempted),
    SupportDeclined(SupportDeclined),
    SupportAccepted(SupportAccepted),
    EncounterRecorded(EncounterRecorded),
    ResourcesSent(ResourcesSent),
    ReferredToProfessionalHelp(ReferredToProfessionalHelp),
    EscalationRecorded(EscalationRecorded),
    CaseClosed(CaseClosed),
    CaseReopened(CaseReopened),
    FirstContactDeadlinePassed(FirstContactDeadlinePassed),
    TriggerLinked(TriggerLinked),
    ResourceSheetSent(ResourceSheetSent),
    ContactToConfirm(ContactToConfirm),
    ContactConfirmed(ContactConfirmed),
}

/// A case was opened for one member after one trigger.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseOpened {
    pub facts: CaseOpenedFacts,
    /// Name and contact details: purgeable, never needed for statistics. Stored sealed under
    /// the member's data key; `None` once the key was destroyed (the member's data purged).
    #[serde(default)]
    pub personal: Option<MemberContact>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseOpenedFacts {
    pub case_id: Uuid,
    pub report: ReportRef,
    pub trigger: TriggerKind,
    pub campus: String,
    pub unit: String,
    /// Who the member is (staff id, role, department, discipline, seniority, involvement):
    /// personal data like the contact part (issue 27). Stored sealed in place under the
    /// member's data key; `None` once that key was destroyed (the member's data purged).
    /// Openings stored before issue 27 hold it in the clear and still read.
    #[serde(default)]
    pub member: Option<MemberProfile>,
    pub opened_at: DateTime<Utc>,
    /// When first contact is due under the program's deadline policy at opening. Absent in
    /// cases opened before deadlines existed.
    #[serde(default)]
    pub first_contact_due: Option<DateTime<Utc>>,
    /// The urgency policy's decision at intake (a death, a severe harm, a listed category):
    /// first contact within the urgent allowance, and the supporter on call paged. The harm
    /// and category it read are not kept. Absent (routine) in cases opened before it existed.
    #[serde(default)]
    pub urgent: bool,
}

/// A case ended before anyone contacted the member.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseCancelled {
    pub reason: CancelReason,
    pub cancelled_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CancelReason {
    /// The reporting system withdrew the report.
    ReportWithdrawn,
    /// An amendment removed the member from the report.
    RemovedFromReport,
}

impl CancelReason {
    pub fn as_str(self) -> &'static str {
        match self {
            CancelReason::ReportWithdrawn => "report_withdrawn",
            CancelReason::RemovedFromReport => "removed_from_report",
        }
    }
}

/// The name the outreach case's events are stored under in the event store (`aggregate_type`).
pub const AGGREGATE_TYPE: &str = "OutreachCase";

/// The type each event is stored under (`event_type()`), for readers that pick events by type.
impl CaseEvent {
    pub const CASE_OPENED: &'static str = "CaseOpened";
    pub const CASE_CANCELLED: &'static str = "CaseCancelled";
    pub const SUPPORTER_ASSIGNED: &'static str = "SupporterAssigned";
    pub const CONTACT_ATTEMPTED: &'static str = "ContactAttempted";
    pub const SUPPORT_DECLINED: &'static str = "SupportDeclined";
    pub const SUPPORT_ACCEPTED: &'static str = "SupportAccepted";
    pub const ENCOUNTER_RECORDED: &'static str = "EncounterRecorded";
    pub const RESOURCES_SENT: &'static str = "ResourcesSent";
    pub const REFERRED_TO_PROFESSIONAL_HELP: &'static str = "ReferredToProfessionalHelp";
    pub const ESCALATION_RECORDED: &'static str = "EscalationRecorded";
    pub const CASE_CLOSED: &'static str = "CaseClosed";
    pub const CASE_REOPENED: &'static str = "CaseReopened";
    pub const FIRST_CONTACT_DEADLINE_PASSED: &'static str = "FirstContactDeadlinePassed";
    pub const TRIGGER_LINKED: &'static str = "TriggerLinked";
    pub const RESOURCE_SHEET_SENT: &'static str = "ResourceSheetSent";
    pub const CONTACT_TO_CONFIRM: &'static str = "ContactToConfirm";
    pub const CONTACT_CONFIRMED: &'static str = "ContactConfirmed";

    /// Every type, in the order `event_type()` lists them.
    pub const TYPES: [&'static str; 17] = [
        Self::CASE_OPENED,
        Self::CASE_CANCELLED,
        Self::SUPPORTER_ASSIGNED,
        Self::CONTACT_ATTEMPTED,
        Self::SUPPORT_DECLINED,
        Self::SUPPORT_ACCEPTED,
        Self::ENCOUNTER_RECORDED,
        Self::RESOURCES_SENT,
        Self::REFERRED_TO_PROFESSIONAL_HELP,
        Self::ESCALATION_RECORDED,
        Self::CASE_CLOSED,
        Self::CASE_REOPENED,
        Self::FIRST_CONTACT_DEADLINE_PASSED,
        Self::TRIGGER_LINKED,
        Self::RESOURCE_SHEET_SENT,
        Self::CONTACT_TO_CONFIRM,
        Self::CONTACT_CONFIRMED,
    ];
}

impl cqrs_es::DomainEvent for CaseEvent {
    fn event_type(&self) -> String {
        match self {
            CaseEvent::CaseOpened(_) => Self::CASE_OPENED,
            CaseEvent::CaseCancelled(_) => Self::CASE_CANCELLED,
            CaseEvent::SupporterAssigned(_) => Self::SUPPORTER_ASSIGNED,
            CaseEvent::ContactAttempted(_) => Self::CONTACT_ATTEMPTED,
            CaseEvent::SupportDeclined(_) => Self::SUPPORT_DECLINED,
            CaseEvent::SupportAccepted(_) => Self::SUPPORT_ACCEPTED,
            CaseEvent::EncounterRecorded(_) => Self::ENCOUNTER_RECORDED,
            CaseEvent::ResourcesSent(_) => Self::RESOURCES_SENT,
            CaseEvent::ReferredToProfessionalHelp(_) => Self::REFERRED_TO_PROFESSIONAL_HELP,
            CaseEvent::EscalationRecorded(_) => Self::ESCALATION_RECORDED,
            CaseEvent::CaseClosed(_) => Self::CASE_CLOSED,
            CaseEvent::CaseReopened(_) => Self::CASE_REOPENED,
            CaseEvent::FirstContactDeadlinePassed(_) => Self::FIRST_CONTACT_DEADLINE_PASSED,
            CaseEvent::TriggerLinked(_) => Self::TRIGGER_LINKED,
            CaseEvent::ResourceSheetSent(_) => Self::RESOURCE_SHEET_SENT,
            CaseEvent::ContactToConfirm(_) => Self::CONTACT_TO_CONFIRM,
            CaseEvent::ContactConfirmed(_) => Self::CONTACT_CONFIRMED,
        }
        .to_string()
    }

    fn event_version(&self) -> String {
        crate::CURRENT_VERSION.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Discipline, Involvement};

    fn opened(personal: Option<MemberContact>) -> CaseEvent {
        CaseEvent::CaseOpened(CaseOpened {
            facts: CaseOpenedFacts {
                case_id: Uuid::nil(),
                report: ReportRef {
                    source: "/datix/a".into(),
                    report_id: "INC-1".into(),
                },
                trigger: TriggerKind::Incident,
                campus: "Parnassus".into(),
                unit: "ED".into(),
                member: Some(MemberProfile {
                    staff_id: "E1".into(),
                    role: "Nurse".into(),
                    discipline: Discipline::Nurse,
                    department: "Emergency".into(),
                    seniority: None,
                    involvement: Involvement::Primary,
                }),
                opened_at: DateTime::from_timestamp(0, 0).unwrap(),
                first_contact_due: None,
                urgent: false,
            },
            personal,
        })
    }

    /// The stored shape is a contract: projections and later upcasters read it.
    #[test]
    fn personal_data_sits_apart_from_the_facts() {
        let event = opened(Some(MemberContact {
            given_name: "Ada".into(),
            family_name: "Lovelace".into(),
            email: Some("ada@example.org".into()),
            phone: None,
            mobile: None,
            preferred_channel: None,
        }));
        let json = serde_json::to_value(&event).unwrap();
        let opened = &json["CaseOpened"];
        assert_eq!(opened["personal"]["given_name"], "Ada");
        assert!(opened["facts"].to_string().find("Ada").is_none());
        assert!(opened["facts"]
            .to_string()
            .find("ada@example.org")
            .is_none());
        let back: CaseEvent = serde_json::from_value(json).unwrap();
        assert_eq!(back, event);
    }

    /// Declines stored before sheets were really sent claimed `resource_sheet_sent: true`:
    /// they still read (as an unverified claim), and a decline recorded now claims nothing.
    #[test]
    fn an_old_decline_still_reads_and_a_new_one_claims_no_sheet() {
        use crate::lifecycle::SupportDeclined;
        let old = serde_json::json!({"SupportDeclined": {
            "resource_sheet_sent": true, "declined_at": "2026-11-20T10:00:00Z"}});
        let CaseEvent::SupportDeclined(read) = serde_json::from_value(old).unwrap() else {
            panic!("not a decline")
        };
        assert_eq!(read.unverified_sheet_claim, Some(true));
        let now = CaseEvent::SupportDeclined(SupportDeclined {
            unverified_sheet_claim: None,
            declined_at: DateTime::from_timestamp(0, 0).unwrap(),
        });
        let stored = serde_json::to_value(&now).unwrap();
        assert_eq!(
            stored,
            serde_json::json!({"SupportDeclined": {"declined_at": "1970-01-01T00:00:00Z"}})
        );
    }

    /// Openings and reports stored before urgency existed read as routine.
    #[test]
    fn an_opening_without_urgency_reads_as_routine() {
        let mut json = serde_json::to_value(opened(None)).unwrap();
        json["CaseOpened"]["facts"]
            .as_object_mut()
            .unwrap()
            .remove("urgent");
        let CaseEvent::CaseOpened(read) = serde_json::from_value(json).unwrap() else {
            panic!("not an opening")
        };
        assert!(!read.facts.urgent);
    }

    /// A purged opening (its key destroyed, the personal parts read as null) still reads.
    #[test]
    fn a_purged_opening_reads_with_no_personal_part() {
        let mut event = opened(None);
        let CaseEvent::CaseOpened(opening) = &mut event else {
            unreachable!()
        };
        opening.facts.member = None;
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(
            json["CaseOpened"]["facts"]["member"],
            serde_json::Value::Null
        );
        assert_eq!(serde_json::from_value::<CaseEvent>(json).unwrap(), event);
        let event = opened(None);
        let mut json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["CaseOpened"]["personal"], serde_json::Value::Null);
        assert_eq!(
            serde_json::from_value::<CaseEvent>(json.clone()).unwrap(),
            event
        );
        json["CaseOpened"]
            .as_object_mut()
            .unwrap()
            .remove("personal");
        assert_eq!(serde_json::from_value::<CaseEvent>(json).unwrap(), event);
    }
}
