//! What the command side's scenarios share: a report, a member named on it, its recording.

#![allow(dead_code)] // each test binary uses its own part

use chrono::{DateTime, Utc};
use outreach_domain::{InvolvedMember, ReportCommand};
use outreach_events::{
    Discipline, Involvement, MemberContact, MemberProfile, ReportRef, TriggerKind,
};

pub fn at() -> DateTime<Utc> {
    DateTime::from_timestamp(1_799_000_000, 0).unwrap()
}

pub fn report(id: &str) -> ReportRef {
    ReportRef {
        source: "/datix/test".into(),
        report_id: id.into(),
    }
}

/// An eligible nurse of the emergency department, reached through `contact`.
pub fn member_reached_by(staff_id: &str, contact: MemberContact) -> InvolvedMember {
    InvolvedMember {
        profile: MemberProfile {
            staff_id: staff_id.into(),
            role: "Nurse".into(),
            discipline: Discipline::Nurse,
            department: "Emergency".into(),
            seniority: None,
            involvement: Involvement::Primary,
        },
        contact,
        eligible: true,
        case_id: None,
    }
}

/// An incident report from Parnassus ED naming `members`.
pub fn record(id: &str, members: Vec<InvolvedMember>) -> ReportCommand {
    ReportCommand::Record {
        report: report(id),
        trigger: TriggerKind::Incident,
        outreach: true,
        urgent: false,
        campus: "Parnassus".into(),
        unit: "ED".into(),
        members,
        recorded_at: at(),
        revision: None,
    }
}
