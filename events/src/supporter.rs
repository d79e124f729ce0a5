//! Events of the peer supporter aggregate: one trained colleague on the program's roster, what
//! program managers record about them, and the cases they hold.
//!
//! A supporter is hospital staff too, known by their staff id, so "a supporter cannot support
//! themselves" and "not named in the same report" compare like with like.

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::care_team_member::Gender;
use crate::{Discipline, Seniority};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum SupporterEvent {
    /// A program manager put the supporter on the roster.
    SupporterJoined {
        profile: SupporterProfile,
        personal: SupporterContact,
        joined_at: DateTime<Utc>,
    },
    /// The roster entry was replaced as a whole: what a manager saw and saved.
    SupporterProfileChanged {
        profile: SupporterProfile,
        personal: SupporterContact,
        changed_at: DateTime<Utc>,
    },
    /// Takes no new cases until resumed (leave, burnout, a break); keeps the ones held.
    SupporterPaused {
        paused_at: DateTime<Utc>,
    },
    SupporterResumed {
        resumed_at: DateTime<Utc>,
    },
    /// A slot of the supporter's capacity is held for a case being assigned to them. Held here,
    /// on the supporter, so two managers assigning at once cannot both take the last slot.
    CaseTaken {
        case_id: Uuid,
        taken_at: DateTime<Utc>,
    },
    /// The case ended, went to someone else, or its assignment failed: the slot is free again.
    CaseReleased {
        case_id: Uuid,
        released_at: DateTime<Utc>,
    },
}

/// What matching reads about a supporter. Facts of their work, no personal data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SupporterProfile {
    pub staff_id: String,
    pub campus: String,
    pub department: String,
    pub discipline: Discipline,
    /// Area of practice, e.g. "Emergency medicine".
    #[serde(default)]
    pub specialty: Option<String>,
    pub seniority: Seniority,
    /// Languages a conversation can be held in, e.g. "en", "es".
    #[serde(default)]
    pub languages: Vec<String>,
    /// Topics the supporter offers to talk about, e.g. "litigation stress".
    #[serde(default)]
    pub interests: Vec<String>,
    pub training: Training,
    /// The most cases the supporter holds at once.
    pub capacity: u32,
    pub availability: Availability,
}

/// The supporter's name and how the program reaches them: personal data, purgeable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SupporterContact {
    pub given_name: String,
    pub family_name: String,
    /// Where assignment notices are e-mailed.
    pub email: String,
    #[serde(default)]
    pub phone: Option<String>,
    /// Only as the supporter describes themselves, and only if they choose to.
    #[serde(default)]
    pub gender: Option<Gender>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Training {
    pub status: TrainingStatus,
    /// When the training was completed; required once trained.
    #[serde(default)]
    pub completed_on: Option<NaiveDate>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum TrainingStatus {
    InTraining,
    Trained,
    /// Trained once, but the refresher is overdue: takes no new cases.
    Lapsed,
}

crate::codes!(TrainingStatus {
    InTraining => "in_training",
    Trained => "trained",
    Lapsed => "lapsed",
});

/// When the supporter can take peer support calls, in the program's time zone.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Availability {
    /// Hours in a week; no hours means any time (as for a supporter on the rota around the clock).
    #[serde(default)]
    pub weekly_hours: Vec<WeeklyHours>,
    /// The on-call weeks: if any are given, the supporter is available only within them
    /// (dates inclusive); if none are, every week.
    #[serde(default)]
    pub on_call: Vec<DatePeriod>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeeklyHours {
    pub day: Day,
    pub starts: NaiveTime,
    pub ends: NaiveTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatePeriod {
    pub starts: NaiveDate,
    pub ends: NaiveDate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Day {
    Monday,
    Tuesday,
    Wednesday,
    Thursday,
    Friday,
    Saturday,
    Sunday,
}

crate::codes!(Day {
    Monday => "monday",
    Tuesday => "tuesday",
    Wednesday => "wednesday",
    Thursday => "thursday",
    Friday => "friday",
    Saturday => "saturday",
    Sunday => "sunday",
});

impl Day {
    pub fn weekday(self) -> chrono::Weekday {
        use chrono::Weekday;
        match self {
            Day::Monday => Weekday::Mon,
            Day::Tuesday => Weekday::Tue,
            Day::Wednesday => Weekday::Wed,
            Day::Thursday => Weekday::Thu,
            Day::Friday => Weekday::Fri,
            Day::Saturday => Weekday::Sat,
            Day::Sunday => Weekday::Sun,
        }
    }
}

/// The name the peer supporter's events are stored under in the event store (`aggregate_type`).
pub const AGGREGATE_TYPE: &str = "PeerSupporter";

/// The type each event is stored under (`event_type()`), for readers that pick events by type.
impl SupporterEvent {
    pub const SUPPORTER_JOINED: &'static str = "SupporterJoined";
    pub const SUPPORTER_PROFILE_CHANGED: &'static str = "SupporterProfileChanged";
    pub const SUPPORTER_PAUSED: &'static str = "SupporterPaused";
    pub const SUPPORTER_RESUMED: &'static str = "SupporterResumed";
    pub const CASE_TAKEN: &'static str = "CaseTaken";
    pub const CASE_RELEASED: &'static str = "CaseReleased";

    /// Every type, in the order `event_type()` lists them.
    pub const TYPES: [&'static str; 6] = [
        Self::SUPPORTER_JOINED,
        Self::SUPPORTER_PROFILE_CHANGED,
        Self::SUPPORTER_PAUSED,
        Self::SUPPORTER_RESUMED,
        Self::CASE_TAKEN,
        Self::CASE_RELEASED,
    ];
}

impl cqrs_es::DomainEvent for SupporterEvent {
    fn event_type(&self) -> String {
        match self {
            SupporterEvent::SupporterJoined { .. } => Self::SUPPORTER_JOINED,
            SupporterEvent::SupporterProfileChanged { .. } => Self::SUPPORTER_PROFILE_CHANGED,
            SupporterEvent::SupporterPaused { .. } => Self::SUPPORTER_PAUSED,
            SupporterEvent::SupporterResumed { .. } => Self::SUPPORTER_RESUMED,
            SupporterEvent::CaseTaken { .. } => Self::CASE_TAKEN,
            SupporterEvent::CaseReleased { .. } => Self::CASE_RELEASED,
        }
        .to_string()
    }

    fn event_version(&self) -> String {
        crate::CURRENT_VERSION.to_string()
    }
}
