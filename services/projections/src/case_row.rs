//! One row of `outreach_cases`, the outreach read model: declared here once, written by
//! [`OutreachProjection`](crate::OutreachProjection) and read as it is by the API and the
//! dashboard (which add only what they compute when read, such as whether first contact is
//! overdue).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Where a case stands: `open` until a supporter is `assigned`, then the member is `reached`
/// and `accepted` or `declined` support; `closed` when outreach ended, `cancelled` when the
/// report no longer calls for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, sqlx::Type)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
#[sqlx(type_name = "text", rename_all = "lowercase")]
pub enum CaseStatus {
    Open,
    Assigned,
    Reached,
    Accepted,
    Declined,
    Closed,
    Cancelled,
}

impl CaseStatus {
    /// The code as the row stores it (and serde writes it).
    pub const fn as_str(self) -> &'static str {
        match self {
            CaseStatus::Open => "open",
            CaseStatus::Assigned => "assigned",
            CaseStatus::Reached => "reached",
            CaseStatus::Accepted => "accepted",
            CaseStatus::Declined => "declined",
            CaseStatus::Closed => "closed",
            CaseStatus::Cancelled => "cancelled",
        }
    }
}

/// The member's decision on the support offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, sqlx::Type)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
#[sqlx(type_name = "text", rename_all = "lowercase")]
pub enum Decision {
    Accepted,
    Declined,
}

impl Decision {
    /// The code as the row stores it (and serde writes it).
    pub const fn as_str(self) -> &'static str {
        match self {
            Decision::Accepted => "accepted",
            Decision::Declined => "declined",
        }
    }
}

/// Contact details a referrer suggested, held apart for the program's staff to confirm.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SuggestedContact {
    pub email: Option<String>,
    pub phone: Option<String>,
    pub mobile: Option<String>,
    pub preferred_channel: Option<String>,
}

/// One row of `outreach_cases`.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct CaseRow {
    pub case_id: Uuid,
    pub report_source: String,
    pub report_id: String,
    pub trigger_kind: String,
    pub campus: String,
    pub unit: String,
    pub status: CaseStatus,
    pub opened_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    pub close_reason: Option<String>,
    pub staff_id: String,
    pub role: String,
    pub discipline: String,
    pub department: String,
    pub seniority: Option<String>,
    pub involvement: String,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub mobile: Option<String>,
    pub preferred_channel: Option<String>,
    /// The case's version: the sequence of the last event folded in.
    pub version: i64,
    pub supporter_id: Option<String>,
    pub first_contact_due: Option<DateTime<Utc>>,
    pub first_contacted_at: Option<DateTime<Utc>>,
    pub reached_at: Option<DateTime<Utc>>,
    pub decision: Option<Decision>,
    pub decided_at: Option<DateTime<Utc>>,
    pub contact_attempts: i32,
    pub encounters: i32,
    pub resources_sent: i32,
    pub referrals: i32,
    pub escalations: i32,
    pub deadline_passed_at: Option<DateTime<Utc>>,
    /// How many later triggers joined the case.
    pub linked_triggers: i32,
    /// The member's contact details are a referrer's suggestion waiting for the program's staff.
    pub contact_to_confirm: bool,
    /// That suggestion, shown to the staff to confirm; never in `email`, `phone` or `mobile`,
    /// which hold only details to reach the member at.
    pub suggested_contact: Option<sqlx::types::Json<SuggestedContact>>,
    /// Opened urgent, or made urgent by a report that joined it.
    pub urgent: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_is_stored_as_serde_writes_it() {
        use CaseStatus::*;
        for status in [
            Open, Assigned, Reached, Accepted, Declined, Closed, Cancelled,
        ] {
            assert_eq!(
                serde_json::to_value(status).unwrap(),
                serde_json::Value::from(status.as_str())
            );
        }
        for decision in [Decision::Accepted, Decision::Declined] {
            assert_eq!(
                serde_json::to_value(decision).unwrap(),
                serde_json::Value::from(decision.as_str())
            );
        }
    }
}
