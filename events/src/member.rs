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

impl Discipline {
    pub const ALL: [Discipline; 12] = [
        Discipline::Physician,
        Discipline::Resident,
        Discipline::Fellow,
        Discipline::Nurse,
        Discipline::Pharmacist,
        Discipline::RespiratoryTherapist,
        Discipline::PhysicalTherapist,
        Discipline::SocialWork,
        Discipline::SpiritualCare,
        Discipline::Supervisor,
        Discipline::AlliedHealth,
        Discipline::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Discipline::Physician => "physician",
            Discipline::Resident => "resident",
            Discipline::Fellow => "fellow",
            Discipline::Nurse => "nurse",
            Discipline::Pharmacist => "pharmacist",
            Discipline::RespiratoryTherapist => "respiratory_therapist",
            Discipline::PhysicalTherapist => "physical_therapist",
            Discipline::SocialWork => "social_work",
            Discipline::SpiritualCare => "spiritual_care",
            Discipline::Supervisor => "supervisor",
            Discipline::AlliedHealth => "allied_health",
            Discipline::Other => "other",
        }
    }
}

/// In order: matching calls neighbours "similar".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Seniority {
    Trainee,
    EarlyCareer,
    MidCareer,
    Senior,
}

impl Seniority {
    pub fn as_str(self) -> &'static str {
        match self {
            Seniority::Trainee => "trainee",
            Seniority::EarlyCareer => "early_career",
            Seniority::MidCareer => "mid_career",
            Seniority::Senior => "senior",
        }
    }
}

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
pub enum Channel {
    Email,
    Phone,
    Text,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Phone => "phone",
            Channel::Text => "text",
        }
    }
}
