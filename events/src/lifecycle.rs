//! What happens to a case after it opens: assignment, contact, the member's decision,
//! encounters, referrals, escalations, closing. Promise 2 of the programs is kept by the shape of
//! these types: only the fact, date and kind of a conversation are recorded, never what was said;
//! no type here has a free-text field.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::Channel;

/// A peer supporter was assigned (or reassigned) to the case. Supporters are care team members
/// too, known by their staff id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SupporterAssigned {
    pub supporter_id: String,
    pub assigned_at: DateTime<Utc>,
}

/// The supporter tried to reach the member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactAttempted {
    pub channel: Channel,
    pub outcome: ContactOutcome,
    pub attempted_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(description = "What came of a contact attempt.")
)]
pub enum ContactOutcome {
    NoAnswer,
    MessageLeft,
    Reached,
}

crate::codes!(ContactOutcome {
    NoAnswer => "no_answer",
    MessageLeft => "message_left",
    Reached => "reached",
});

/// The member declined support. Everyone contacted is still offered the resource sheet, which
/// the service sends to the member's address; no further contact follows (promise 4). That the
/// sheet went out is [`ResourceSheetSent`], recorded once the mail server accepted it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SupportDeclined {
    /// Stored as `resource_sheet_sent: true` by versions that sent no sheet at all: a claim
    /// nothing backed. Read so that those events keep reading (and are shown as unverified),
    /// never written now.
    #[serde(
        default,
        rename = "resource_sheet_sent",
        skip_serializing_if = "Option::is_none"
    )]
    pub unverified_sheet_claim: Option<bool>,
    pub declined_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SupportAccepted {
    pub accepted_at: DateTime<Utc>,
}

/// A conversation took place. Its date, modality, format and length band: nothing else.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EncounterRecorded {
    pub held_on: NaiveDate,
    pub modality: Modality,
    pub format: EncounterFormat,
    pub duration: DurationBand,
    pub recorded_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(description = "How a conversation was held.")
)]
pub enum Modality {
    Phone,
    Video,
    InPerson,
}

crate::codes!(Modality {
    Phone => "phone",
    Video => "video",
    InPerson => "in_person",
});

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(description = "One to one, or a group debrief.")
)]
pub enum EncounterFormat {
    Individual,
    Group,
}

crate::codes!(EncounterFormat {
    Individual => "individual",
    Group => "group",
});

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(description = "About how long a conversation lasted.")
)]
pub enum DurationBand {
    #[serde(rename = "under_15_minutes")]
    UnderFifteenMinutes,
    #[serde(rename = "15_to_30_minutes")]
    FifteenToThirtyMinutes,
    #[serde(rename = "30_to_60_minutes")]
    ThirtyToSixtyMinutes,
    #[serde(rename = "over_60_minutes")]
    OverAnHour,
}

crate::codes!(DurationBand {
    UnderFifteenMinutes => "under_15_minutes",
    FifteenToThirtyMinutes => "15_to_30_minutes",
    ThirtyToSixtyMinutes => "30_to_60_minutes",
    OverAnHour => "over_60_minutes",
});

/// The supporter recorded that they gave the member resources (seeds 000, 004: "resources sent
/// as follow-up"). The service also sends the member the program's resource sheet, recorded as
/// [`ResourceSheetSent`] once it went out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourcesSent {
    pub sent_at: DateTime<Utc>,
}

/// The program's resource sheet reached the member's mail server: recorded by the e-mail
/// publisher after the server accepted the message, never before. `sheet_id` is the message's
/// outbox id (and idempotency key), so a message sent twice is recorded once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceSheetSent {
    pub sheet_id: uuid::Uuid,
    pub sent_at: DateTime<Utc>,
}

/// Tier 3: the member was referred to professional help.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReferredToProfessionalHelp {
    pub service: ProfessionalHelp,
    pub referred_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(description = "The professional help a member was referred to (tier 3).")
)]
pub enum ProfessionalHelp {
    EmployeeAssistance,
    Psychology,
    Chaplaincy,
    Other,
}

crate::codes!(ProfessionalHelp {
    EmployeeAssistance => "employee_assistance",
    Psychology => "psychology",
    Chaplaincy => "chaplaincy",
    Other => "other",
});

/// A limit of confidentiality was reached (promise 5): the category, never a narrative.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EscalationRecorded {
    pub category: EscalationCategory,
    pub recorded_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(description = "The limit of confidentiality that was reached (promise 5).")
)]
pub enum EscalationCategory {
    DangerToSelfOrOthers,
    ImpairmentPuttingPatientsAtRisk,
    AbuseOrNeglect,
    DiscriminationHarassmentOrRetaliation,
}

crate::codes!(EscalationCategory {
    DangerToSelfOrOthers => "danger_to_self_or_others",
    ImpairmentPuttingPatientsAtRisk => "impairment_putting_patients_at_risk",
    AbuseOrNeglect => "abuse_or_neglect",
    DiscriminationHarassmentOrRetaliation => "discrimination_harassment_or_retaliation",
});

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseClosed {
    pub reason: CloseReason,
    pub closed_at: DateTime<Utc>,
    /// For a merged case: the case it joined.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged_into: Option<uuid::Uuid>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(
        description = "Why a case closed: `completed` needs the member to have accepted, `declined` a decline,\n`unreachable` enough attempts without reaching the member; `withdrawn` always fits; `merged`\nis reached through `POST /v1/cases/{case_id}/merge`, which names the case it joins."
    )
)]
pub enum CloseReason {
    Completed,
    Declined,
    Unreachable,
    Withdrawn,
    /// The same person had two cases (e.g. under two staff ids): this one joined the other.
    Merged,
}

crate::codes!(CloseReason {
    Completed => "completed",
    Declined => "declined",
    Unreachable => "unreachable",
    Withdrawn => "withdrawn",
    Merged => "merged",
});

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseReopened {
    pub reopened_at: DateTime<Utc>,
}

/// First contact was due and had not been attempted: noticed once, by the deadline watch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FirstContactDeadlinePassed {
    pub due: DateTime<Utc>,
    pub noticed_at: DateTime<Utc>,
}

/// Another trigger named a member whose case is still open: it joins that case, so the member is
/// not contacted twice by two supporters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TriggerLinked {
    pub report: crate::ReportRef,
    pub trigger: crate::TriggerKind,
    pub linked_at: DateTime<Utc>,
    /// The linked report is urgent and the case was routine until now: from here on it is an
    /// urgent case. Absent (false) in links recorded before urgency followed links.
    #[serde(default)]
    pub made_urgent: bool,
    /// When the link made the case urgent while first contact was still owed: first contact is
    /// due by this (the urgent allowance from the link, or the earlier deadline if that was
    /// sooner), and the supporter on call is paged. `None` when nothing moved.
    #[serde(default)]
    pub first_contact_due: Option<DateTime<Utc>>,
}
