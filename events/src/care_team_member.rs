//! Events of the care team member aggregate: what holds for one person across all their cases:
//! their one open case, their preferences, and whether they opted out of automatic outreach.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::gone::staff_id_or_gone;
use crate::{Channel, ReportRef};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum MemberEvent {
    /// A case opened for the member; until it ends, later triggers join it. Like every
    /// `staff_id` below, sealed under the member's key as stored (see `crate::gone`).
    CaseStarted {
        #[serde(default, deserialize_with = "staff_id_or_gone")]
        staff_id: String,
        case_id: Uuid,
        started_at: DateTime<Utc>,
    },
    CaseEnded {
        case_id: Uuid,
        ended_at: DateTime<Utc>,
    },
    /// Preferences are personal data: they sit in their own part, purgeable with the rest.
    /// Stored sealed under the member's data key; `None` once that key was destroyed.
    PreferencesStated {
        #[serde(default, deserialize_with = "staff_id_or_gone")]
        staff_id: String,
        #[serde(default)]
        personal: Option<Preferences>,
        stated_at: DateTime<Utc>,
    },
    OptedOut {
        #[serde(default, deserialize_with = "staff_id_or_gone")]
        staff_id: String,
        opted_out_at: DateTime<Utc>,
    },
    OptedIn {
        #[serde(default, deserialize_with = "staff_id_or_gone")]
        staff_id: String,
        opted_in_at: DateTime<Utc>,
    },
    /// A report named the member, who had opted out: no case, but counted for statistics.
    AutomaticOutreachSkipped {
        #[serde(default, deserialize_with = "staff_id_or_gone")]
        staff_id: String,
        report: ReportRef,
        skipped_at: DateTime<Utc>,
    },
    /// The retention period after the member's last case is over: the data key `key_id` that
    /// sealed their personal data is destroyed, and read models drop their name, contact
    /// details and preferences. Statistics keep their counts.
    ///
    /// The stored event names no one (issue 27): `staff_id` is empty as stored, and filled in
    /// memory only, by projections, from the member's record while it still names them
    /// (`outreach_projections` `purge::name_purged_members`). Purges stored before named the
    /// staff id here.
    PersonalDataPurged {
        #[serde(default, skip_serializing_if = "String::is_empty")]
        staff_id: String,
        key_id: Uuid,
        purged_at: DateTime<Utc>,
    },
}

/// How the member would like to be contacted, and by whom (seed 000: "department, specialty,
/// gender, seniority"). Matching reads these; none is required.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Preferences {
    pub channel: Option<Channel>,
    pub supporter_gender: Option<Gender>,
    pub supporter_specialty: Option<String>,
    pub supporter_department: Option<DepartmentPreference>,
    pub supporter_seniority: Option<SeniorityPreference>,
    /// A language the member would rather talk in, e.g. "es". Absent in preferences stated
    /// before languages were on the roster.
    #[serde(default)]
    pub supporter_language: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = SupporterGender, description = "The supporter's gender the member would prefer."))]
pub enum Gender {
    Woman,
    Man,
    NonBinary,
}

crate::codes!(Gender {
    Woman => "woman",
    Man => "man",
    NonBinary => "non_binary",
});

/// "Not the same department" is the programs' default; a member may ask for their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(
        description = "A supporter from another department is the programs' default; a member may ask for their own."
    )
)]
pub enum DepartmentPreference {
    OwnDepartment,
    OtherDepartment,
}

crate::codes!(DepartmentPreference {
    OwnDepartment => "own_department",
    OtherDepartment => "other_department",
});

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(description = "A supporter of similar seniority, or a more senior one.")
)]
pub enum SeniorityPreference {
    Similar,
    MoreSenior,
}

crate::codes!(SeniorityPreference {
    Similar => "similar",
    MoreSenior => "more_senior",
});

/// The name the care team member's events are stored under in the event store (`aggregate_type`).
pub const AGGREGATE_TYPE: &str = "CareTeamMember";

/// The type each event is stored under (`event_type()`), for readers that pick events by type.
impl MemberEvent {
    pub const CASE_STARTED: &'static str = "CaseStarted";
    pub const CASE_ENDED: &'static str = "CaseEnded";
    pub const PREFERENCES_STATED: &'static str = "PreferencesStated";
    pub const OPTED_OUT: &'static str = "OptedOut";
    pub const OPTED_IN: &'static str = "OptedIn";
    pub const AUTOMATIC_OUTREACH_SKIPPED: &'static str = "AutomaticOutreachSkipped";
    pub const PERSONAL_DATA_PURGED: &'static str = "PersonalDataPurged";

    /// Every type, in the order `event_type()` lists them.
    pub const TYPES: [&'static str; 7] = [
        Self::CASE_STARTED,
        Self::CASE_ENDED,
        Self::PREFERENCES_STATED,
        Self::OPTED_OUT,
        Self::OPTED_IN,
        Self::AUTOMATIC_OUTREACH_SKIPPED,
        Self::PERSONAL_DATA_PURGED,
    ];
}

impl cqrs_es::DomainEvent for MemberEvent {
    fn event_type(&self) -> String {
        match self {
            MemberEvent::CaseStarted { .. } => Self::CASE_STARTED,
            MemberEvent::CaseEnded { .. } => Self::CASE_ENDED,
            MemberEvent::PreferencesStated { .. } => Self::PREFERENCES_STATED,
            MemberEvent::OptedOut { .. } => Self::OPTED_OUT,
            MemberEvent::OptedIn { .. } => Self::OPTED_IN,
            MemberEvent::AutomaticOutreachSkipped { .. } => Self::AUTOMATIC_OUTREACH_SKIPPED,
            MemberEvent::PersonalDataPurged { .. } => Self::PERSONAL_DATA_PURGED,
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

    /// A staff id in the clear (stored before issue 27) reads as it is; one that reads as
    /// `null` (its key destroyed) or still sealed (left unopened) reads as gone.
    #[test]
    fn a_members_staff_id_reads_plain_or_gone() {
        let event = |staff_id: serde_json::Value| {
            serde_json::json!({"OptedOut": {"staff_id": staff_id,
                                            "opted_out_at": "2026-11-20T10:00:00Z"}})
        };
        let staff_id = |value| match serde_json::from_value(event(value)).unwrap() {
            MemberEvent::OptedOut { staff_id, .. } => staff_id,
            _ => unreachable!(),
        };
        assert_eq!(staff_id(serde_json::json!("E1")), "E1");
        assert_eq!(staff_id(serde_json::Value::Null), "");
        assert_eq!(staff_id(serde_json::json!({"sealed": {"key_id": "x"}})), "");
    }
}
