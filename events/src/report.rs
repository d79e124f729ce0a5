//! Events of the safety report aggregate: which members a report named and what became of it.
//! A report's events hold staff ids and case ids only, never names or clinical detail; each
//! staff id, and whether that member was eligible, is stored sealed under its member's data key
//! (issue 27), so once the member's data is purged the report keeps only the case ids, in an
//! order that is not the source's.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A report as the safety-reporting system identifies it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ReportRef {
    /// The CloudEvents `source` of the reporting system, e.g. `/datix/parnassus`.
    pub source: String,
    pub report_id: String,
}

/// What started outreach for a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TriggerKind {
    Incident,
    IReport,
    SelfReferral,
    ColleagueReferral,
    SupervisorReferral,
}

impl TriggerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TriggerKind::Incident => "incident",
            TriggerKind::IReport => "i_report",
            TriggerKind::SelfReferral => "self_referral",
            TriggerKind::ColleagueReferral => "colleague_referral",
            TriggerKind::SupervisorReferral => "supervisor_referral",
        }
    }
}

/// A member named on a report, and the case that member's outreach runs in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportMember {
    /// Sealed as stored; empty once the member's data was purged (see `crate::gone`).
    #[serde(default, deserialize_with = "crate::gone::staff_id_or_gone")]
    pub staff_id: String,
    pub case_id: Uuid,
    /// Whether the eligibility policy in force at intake serves this member: about the member,
    /// so sealed beside the staff id as stored, and `false` where that is gone (unknown: the
    /// staff id then reads empty). Reports stored before hold it in the clear and read as such.
    #[serde(default, deserialize_with = "crate::gone::eligible_or_unknown")]
    pub eligible: bool,
}

/// Which version of a report a source sent, for sources that resend the whole report when it
/// changes (an HL7 FHIR AdverseEvent's `meta.versionId` and `meta.lastUpdated`). Ordering
/// metadata only: nothing about the report's content.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Revision {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_updated: Option<DateTime<Utc>>,
}

impl Revision {
    /// Whether this revision is known to come after `earlier`: by version id where both are
    /// whole numbers, else by `lastUpdated` where both have one. Revisions that cannot be
    /// ordered are not newer, so a redelivery or a stale copy changes nothing.
    pub fn is_newer_than(&self, earlier: &Revision) -> bool {
        let number = |r: &Revision| r.version_id.as_deref()?.parse::<u64>().ok();
        match (number(self), number(earlier)) {
            (Some(new), Some(old)) => new > old,
            _ => match (self.last_updated, earlier.last_updated) {
                (Some(new), Some(old)) => new > old,
                _ => false,
            },
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ReportEvent {
    ReportRecorded {
        report: ReportRef,
        trigger: TriggerKind,
        /// The trigger policy's decision; the harm level and category it read are not kept.
        outreach: bool,
        /// The urgency policy's decision, read from the same harm level and category and kept
        /// as nothing more. Absent (routine) in reports recorded before it existed.
        #[serde(default)]
        urgent: bool,
        campus: String,
        unit: String,
        members: Vec<ReportMember>,
        recorded_at: DateTime<Utc>,
    },
    StaffAdded {
        members: Vec<ReportMember>,
        amended_at: DateTime<Utc>,
    },
    StaffRemoved {
        /// Each sealed as stored; empty once that member's data was purged.
        #[serde(default, deserialize_with = "crate::gone::staff_ids_or_gone")]
        staff_ids: Vec<String>,
        /// The removed members' cases, so the removal still reads once their staff ids are
        /// gone. Absent in removals stored before issue 27.
        #[serde(default)]
        case_ids: Vec<Uuid>,
        amended_at: DateTime<Utc>,
    },
    ReportWithdrawn {
        withdrawn_at: DateTime<Utc>,
    },
    /// The source sent this version of the whole report: it was recorded, or the staff it
    /// names now were added and removed (`StaffAdded`, `StaffRemoved` just before). Older or
    /// repeated versions change nothing.
    ReportRevised {
        revision: Revision,
        revised_at: DateTime<Utc>,
    },
    /// The report affects many staff at once and calls for a group debrief as well as
    /// individual outreach (at most once per report). Counts only: no staff ids, no names.
    GroupDebriefProposed {
        report: ReportRef,
        campus: String,
        unit: String,
        /// Eligible members the report names.
        staff: usize,
        /// Distinct departments among the eligible members the deciding command named.
        departments: usize,
        proposed_at: DateTime<Utc>,
    },
}

/// The name the safety report's events are stored under in the event store (`aggregate_type`).
pub const AGGREGATE_TYPE: &str = "SafetyReport";

/// The type each event is stored under (`event_type()`), for readers that pick events by type.
impl ReportEvent {
    pub const REPORT_RECORDED: &'static str = "ReportRecorded";
    pub const STAFF_ADDED: &'static str = "StaffAdded";
    pub const STAFF_REMOVED: &'static str = "StaffRemoved";
    pub const REPORT_WITHDRAWN: &'static str = "ReportWithdrawn";
    pub const REPORT_REVISED: &'static str = "ReportRevised";
    pub const GROUP_DEBRIEF_PROPOSED: &'static str = "GroupDebriefProposed";

    /// Every type, in the order `event_type()` lists them.
    pub const TYPES: [&'static str; 6] = [
        Self::REPORT_RECORDED,
        Self::STAFF_ADDED,
        Self::STAFF_REMOVED,
        Self::REPORT_WITHDRAWN,
        Self::REPORT_REVISED,
        Self::GROUP_DEBRIEF_PROPOSED,
    ];
}

impl cqrs_es::DomainEvent for ReportEvent {
    fn event_type(&self) -> String {
        match self {
            ReportEvent::ReportRecorded { .. } => Self::REPORT_RECORDED,
            ReportEvent::StaffAdded { .. } => Self::STAFF_ADDED,
            ReportEvent::StaffRemoved { .. } => Self::STAFF_REMOVED,
            ReportEvent::ReportWithdrawn { .. } => Self::REPORT_WITHDRAWN,
            ReportEvent::ReportRevised { .. } => Self::REPORT_REVISED,
            ReportEvent::GroupDebriefProposed { .. } => Self::GROUP_DEBRIEF_PROPOSED,
        }
        .to_string()
    }

    fn event_version(&self) -> String {
        crate::CURRENT_VERSION.to_string()
    }
}
