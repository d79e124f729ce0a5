//! Every event type that names a member is in [`personal_parts`]'s table: a sample of each,
//! written by the events crate itself, keeps nothing of the member once its parts are sealed;
//! every other type is listed as naming nobody, so a new type fails here until someone says
//! which it is.

use std::collections::BTreeSet;

use chrono::DateTime;
use cqrs_es::DomainEvent;
use outreach_events::care_team_member::{MemberEvent, Preferences};
use outreach_events::contact_confirmation::{ContactConfirmed, ContactToConfirm};
use outreach_events::{
    CaseEvent, CaseOpened, CaseOpenedFacts, Discipline, Involvement, MemberContact, MemberProfile,
    ReportEvent, ReportMember, ReportRef, TriggerKind,
};
use serde_json::{json, Value};
use uuid::Uuid;

use super::personal_parts;

const STAFF: &str = "Q9Staffcanary";
const GIVEN: &str = "Zebulonqx";
const ROLE: &str = "Canaryroleqx";
const DEPARTMENT: &str = "Canarydeptqx";
const SPECIALTY: &str = "Canaryspecialtyqx";

/// Types whose events say nothing about a member. `PersonalDataPurged` names no one as stored
/// (its staff id is empty, and not written).
const NAME_NOBODY: &[&str] = &[
    CaseEvent::CASE_CANCELLED,
    CaseEvent::SUPPORTER_ASSIGNED,
    CaseEvent::CONTACT_ATTEMPTED,
    CaseEvent::SUPPORT_DECLINED,
    CaseEvent::SUPPORT_ACCEPTED,
    CaseEvent::ENCOUNTER_RECORDED,
    CaseEvent::RESOURCES_SENT,
    CaseEvent::REFERRED_TO_PROFESSIONAL_HELP,
    CaseEvent::ESCALATION_RECORDED,
    CaseEvent::CASE_CLOSED,
    CaseEvent::CASE_REOPENED,
    CaseEvent::FIRST_CONTACT_DEADLINE_PASSED,
    CaseEvent::TRIGGER_LINKED,
    CaseEvent::RESOURCE_SHEET_SENT,
    MemberEvent::CASE_ENDED,
    MemberEvent::PERSONAL_DATA_PURGED,
    ReportEvent::REPORT_WITHDRAWN,
    ReportEvent::REPORT_REVISED,
    ReportEvent::GROUP_DEBRIEF_PROPOSED,
];

fn at() -> DateTime<chrono::Utc> {
    DateTime::from_timestamp(1_790_000_000, 0).unwrap()
}

fn report() -> ReportRef {
    ReportRef {
        source: "/datix/parnassus".into(),
        report_id: "INC-1".into(),
    }
}

fn contact() -> MemberContact {
    MemberContact {
        given_name: GIVEN.into(),
        family_name: "Quarrington".into(),
        email: Some("zq@canary.example".into()),
        phone: None,
        mobile: None,
        preferred_channel: None,
    }
}

fn named() -> Vec<ReportMember> {
    vec![ReportMember {
        staff_id: STAFF.into(),
        case_id: Uuid::nil(),
        eligible: true,
    }]
}

/// A sample of every event type that names a member, as its event type and stored payload.
fn samples() -> Vec<(String, Value)> {
    let opened = CaseEvent::CaseOpened(CaseOpened {
        facts: CaseOpenedFacts {
            case_id: Uuid::nil(),
            report: report(),
            trigger: TriggerKind::Incident,
            campus: "Parnassus".into(),
            unit: "ED".into(),
            member: Some(MemberProfile {
                staff_id: STAFF.into(),
                role: ROLE.into(),
                discipline: Discipline::Nurse,
                department: DEPARTMENT.into(),
                seniority: None,
                involvement: Involvement::Primary,
            }),
            opened_at: at(),
            first_contact_due: None,
            urgent: false,
        },
        personal: Some(contact()),
    });
    let cases = [
        opened,
        CaseEvent::ContactToConfirm(ContactToConfirm {
            staff_id: STAFF.into(),
            personal: Some(contact()),
            held_at: at(),
        }),
        CaseEvent::ContactConfirmed(ContactConfirmed {
            staff_id: STAFF.into(),
            as_suggested: true,
            personal: Some(contact()),
            confirmed_at: at(),
        }),
    ];
    let staff_id = STAFF.to_string();
    let members = [
        MemberEvent::CaseStarted {
            staff_id: staff_id.clone(),
            case_id: Uuid::nil(),
            started_at: at(),
        },
        MemberEvent::PreferencesStated {
            staff_id: staff_id.clone(),
            personal: Some(Preferences {
                supporter_specialty: Some(SPECIALTY.into()),
                ..Default::default()
            }),
            stated_at: at(),
        },
        MemberEvent::OptedOut {
            staff_id: staff_id.clone(),
            opted_out_at: at(),
        },
        MemberEvent::OptedIn {
            staff_id: staff_id.clone(),
            opted_in_at: at(),
        },
        MemberEvent::AutomaticOutreachSkipped {
            staff_id: staff_id.clone(),
            report: report(),
            skipped_at: at(),
        },
    ];
    let reports = [
        ReportEvent::ReportRecorded {
            report: report(),
            trigger: TriggerKind::Incident,
            outreach: true,
            urgent: false,
            campus: "Parnassus".into(),
            unit: "ED".into(),
            members: named(),
            recorded_at: at(),
        },
        ReportEvent::StaffAdded {
            members: named(),
            amended_at: at(),
        },
        ReportEvent::StaffRemoved {
            staff_ids: vec![staff_id],
            case_ids: vec![Uuid::nil()],
            amended_at: at(),
        },
    ];
    fn stored<E: DomainEvent>(event: E) -> (String, Value) {
        (event.event_type(), serde_json::to_value(&event).unwrap())
    }
    (cases.into_iter().map(stored))
        .chain(members.into_iter().map(stored))
        .chain(reports.into_iter().map(stored))
        .collect()
}

#[test]
fn every_event_that_names_a_member_keeps_nothing_of_them_once_sealed() {
    for (event_type, mut payload) in samples() {
        assert!(
            payload.to_string().contains(STAFF),
            "{event_type}: the sample names the member"
        );
        let parts = personal_parts(&event_type, &mut payload);
        assert!(!parts.is_empty(), "{event_type} is not in the table");
        for part in parts {
            assert_eq!(part.staff_id, STAFF, "{event_type}");
            for value in part.values {
                *value = json!({"sealed": {}});
            }
        }
        let left = payload.to_string();
        for canary in [STAFF, GIVEN, ROLE, DEPARTMENT, SPECIALTY] {
            assert!(
                !left.contains(canary),
                "{event_type} keeps {canary}: {left}"
            );
        }
    }
}

#[test]
fn every_event_type_either_names_a_member_or_is_listed_as_naming_nobody() {
    let sampled: BTreeSet<String> = samples().into_iter().map(|(t, _)| t).collect();
    let nobody: BTreeSet<String> = NAME_NOBODY.iter().map(|t| t.to_string()).collect();
    assert!(sampled.is_disjoint(&nobody), "{sampled:?} {nobody:?}");
    let every = (CaseEvent::TYPES.iter())
        .chain(&MemberEvent::TYPES)
        .chain(&ReportEvent::TYPES);
    for event_type in every {
        assert!(
            sampled.contains(*event_type) || nobody.contains(*event_type),
            "{event_type}: does it name a member? Give a sample, or list it as naming nobody"
        );
    }
}
