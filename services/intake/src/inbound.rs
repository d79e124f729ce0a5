//! The parts of each inbound message that intake reads. Everything else in the message
//! (patient, narrative, diagnosis, medications, room, contributing factors, actions taken,
//! harm description, withdrawal reason, and any field the source adds) has no field here and
//! is never deserialised. `harm.level` and `category` are read only by the trigger and urgency
//! policies and dropped with them: only the two decisions are kept.

use outreach_domain::HarmLevel;
use outreach_events::{Channel, Discipline, Involvement, Seniority};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
pub struct IncidentReported {
    pub report_id: String,
    /// Read by the urgency policy only.
    #[serde(default)]
    pub category: Option<String>,
    pub harm: Harm,
    pub location: Location,
    pub involved_staff: Vec<StaffMember>,
}

#[derive(Debug, Deserialize)]
pub struct IReportFiled {
    pub report_id: String,
    pub location: Location,
    pub reporter: Option<StaffMember>,
    /// Read by the urgency policy only.
    #[serde(default)]
    pub category: Option<String>,
    pub harm: Option<Harm>,
    pub involved_staff: Vec<StaffMember>,
}

#[derive(Debug, Deserialize)]
pub struct IncidentAmended {
    pub report_id: String,
    #[serde(default)]
    pub staff_added: Vec<StaffMember>,
    #[serde(default)]
    pub staff_removed: Vec<String>,
}

#[derive(Debug, Deserialize)]
pub struct IncidentWithdrawn {
    pub report_id: String,
}

#[derive(Debug, Deserialize)]
pub struct Location {
    pub campus: String,
    pub unit: String,
}

#[derive(Debug, Deserialize)]
pub struct Harm {
    pub level: HarmGrade,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HarmGrade {
    None,
    Mild,
    Moderate,
    Severe,
    Death,
    Unknown,
}

impl HarmGrade {
    pub fn level(self) -> Option<HarmLevel> {
        match self {
            HarmGrade::None => Some(HarmLevel::None),
            HarmGrade::Mild => Some(HarmLevel::Mild),
            HarmGrade::Moderate => Some(HarmLevel::Moderate),
            HarmGrade::Severe => Some(HarmLevel::Severe),
            HarmGrade::Death => Some(HarmLevel::Death),
            HarmGrade::Unknown => None,
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct StaffMember {
    pub staff_id: String,
    pub name: Name,
    pub role: String,
    pub discipline: Discipline,
    pub department: String,
    pub seniority: Option<Seniority>,
    pub contact: Contact,
    pub preferred_channel: Option<Channel>,
    pub involvement: Involvement,
}

#[derive(Debug, Deserialize)]
pub struct Name {
    pub given: String,
    pub family: String,
}

#[derive(Debug, Deserialize)]
pub struct Contact {
    pub email: Option<String>,
    pub phone: Option<String>,
    pub mobile: Option<String>,
}
