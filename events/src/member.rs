//! Who a care team member is: their profile and their contact details, both personal data,
//! stored sealed under the member's data key and purged with it (issue 27).

use serde::{Deserialize, Serialize};

/// What matching and statistics need to know of an involved care team member. No name and no
/// contact details (those are [`MemberContact`]), but personal all the same: with the report,
/// role, department and discipline name the person. Statistics count its discipline when the
/// case opens and never read it again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberProfile {
    /// The hospital's staff identifier (pseudonymous).
    pub staff_id: String,
    /// The member's role as the source names it, e.g. "Attending physician".
    pub role: String,
    pub discipline: Discipline,
    pub department: String,
    pub seniority: Option<Seniority>,
    pub involvement: Involvement,
}

/// Personal data: the only things a peer supporter is ever told.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberContact {
    pub given_name: String,
    pub family_name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub mobile: Option<String>,
    pub preferred_channel: Option<Channel>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(
        description = "The member's discipline; the program's eligibility policy may serve only some."
    )
)]
pub enum Discipline {
    Physician,
    Resident,
    Fellow,
    Nurse,
    Pharmacist,
    RespiratoryTherapist,
    PhysicalTherapist,
    SocialWork,
    SpiritualCare,
    Supervisor,
    AlliedHealth,
    Other,
}

crate::codes!(Discipline {
    Physician => "physician",
    Resident => "resident",
    Fellow => "fellow",
    Nurse => "nurse",
    Pharmacist => "pharmacist",
    RespiratoryTherapist => "respiratory_therapist",
    PhysicalTherapist => "physical_therapist",
    SocialWork => "social_work",
    SpiritualCare => "spiritual_care",
    Supervisor => "supervisor",
    AlliedHealth => "allied_health",
    Other => "other",
});

// In order: matching calls neighbours "similar". (A plain comment: the API documents the
// code without a description.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Seniority {
    Trainee,
    EarlyCareer,
    MidCareer,
    Senior,
}

crate::codes!(Seniority {
    Trainee => "trainee",
    EarlyCareer => "early_career",
    MidCareer => "mid_career",
    Senior => "senior",
});

/// How the member was involved in the reported event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Involvement {
    Primary,
    Witness,
    Reporter,
    Other,
}

impl Involvement {
    pub fn as_str(self) -> &'static str {
        match self {
            Involvement::Primary => "primary",
            Involvement::Witness => "witness",
            Involvement::Reporter => "reporter",
            Involvement::Other => "other",
        }
    }
}

/// The member's preferred way to be contacted (seed 000: e-mail by default, phone or text on request).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(description = "How the supporter tried to reach the member.")
)]
pub enum Channel {
    Email,
    Phone,
    Text,
}

crate::codes!(Channel {
    Email => "email",
    Phone => "phone",
    Text => "text",
});
