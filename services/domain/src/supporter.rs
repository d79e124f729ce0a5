//! The peer supporter aggregate: one trained colleague on the roster, and the cases they hold.
//!
//! It is the consistency boundary for capacity: a case is assigned only after a slot was taken
//! here, and two managers assigning at once race on this aggregate's version, so the loser sees
//! the winner's slot and cannot take the last one twice.

use chrono::{DateTime, NaiveDate, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use outreach_events::supporter::{
    SupporterContact, SupporterEvent, SupporterProfile, TrainingStatus,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use uuid::Uuid;

/// The most cases a supporter may be asked to hold at once: a volunteer with a clinical job.
pub const MAX_CAPACITY: u32 = 20;
const MAX_NAME: usize = 100;
const MAX_LIST: usize = 20;

#[derive(Debug, Clone, PartialEq)]
pub enum SupporterCommand {
    Join {
        profile: SupporterProfile,
        contact: SupporterContact,
        at: DateTime<Utc>,
    },
    ChangeProfile {
        profile: SupporterProfile,
        contact: SupporterContact,
        at: DateTime<Utc>,
    },
    Pause {
        at: DateTime<Utc>,
    },
    Resume {
        at: DateTime<Utc>,
    },
    /// Hold a slot for `case_id`, whose member is `member_staff_id`. Taking a case already held
    /// changes nothing, so a retried assignment does not hold two slots.
    TakeCase {
        case_id: Uuid,
        member_staff_id: String,
        at: DateTime<Utc>,
    },
    /// Free the slot held for `case_id`; releasing a case not held changes nothing.
    ReleaseCase {
        case_id: Uuid,
        at: DateTime<Utc>,
    },
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SupporterError {
    #[error("`{field}`: {problem}")]
    Invalid { field: String, problem: String },
    #[error("the supporter is already on the roster")]
    AlreadyOnRoster,
    #[error("there is no supporter with this staff id on the roster")]
    NotOnRoster,
    #[error("a roster entry keeps its staff id")]
    StaffIdChanged,
    #[error("the supporter is paused and takes no new cases")]
    Paused,
    #[error("the supporter has not completed peer support training")]
    NotTrained,
    #[error("the supporter already holds {0} cases, their capacity")]
    AtCapacity(u32),
    #[error("a supporter cannot support themselves")]
    IsTheMember,
}

impl SupporterError {
    pub fn rule(&self) -> &'static str {
        match self {
            SupporterError::Invalid { .. } => "invalid-roster-entry",
            SupporterError::AlreadyOnRoster => "supporter-already-on-roster",
            SupporterError::NotOnRoster => "supporter-not-found",
            SupporterError::StaffIdChanged => "staff-id-changed",
            SupporterError::Paused => "supporter-paused",
            SupporterError::NotTrained => "supporter-not-trained",
            SupporterError::AtCapacity(_) => "supporter-at-capacity",
            SupporterError::IsTheMember => "supporter-is-the-member",
        }
    }

    fn invalid(field: impl Into<String>, problem: impl Into<String>) -> Self {
        SupporterError::Invalid {
            field: field.into(),
            problem: problem.into(),
        }
    }
}

/// What the roster accepts: the program's campuses. An empty list accepts any campus name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RosterPolicy {
    pub campuses: Vec<String>,
}

/// Checks a roster entry as a manager typed it, naming the first field that is wrong.
/// The API calls it to answer with the field; the aggregate calls it again on every change.
pub fn validate(
    profile: &SupporterProfile,
    contact: &SupporterContact,
    policy: &RosterPolicy,
    today: NaiveDate,
) -> Result<(), SupporterError> {
    let name = |field: &str, value: &str| -> Result<(), SupporterError> {
        match value.trim().chars().count() {
            0 => Err(SupporterError::invalid(field, "must not be empty")),
            n if n > MAX_NAME => Err(SupporterError::invalid(
                field,
                format!("must be at most {MAX_NAME} characters"),
            )),
            _ => Ok(()),
        }
    };
    let list = |field: &str, values: &[String]| -> Result<(), SupporterError> {
        if values.len() > MAX_LIST {
            return Err(SupporterError::invalid(
                field,
                format!("must list at most {MAX_LIST}"),
            ));
        }
        values
            .iter()
            .enumerate()
            .try_for_each(|(i, value)| name(&format!("{field}[{i}]"), value))
    };
    name("staff_id", &profile.staff_id)?;
    name("campus", &profile.campus)?;
    if !policy.campuses.is_empty() && !policy.campuses.iter().any(|c| c == &profile.campus) {
        return Err(SupporterError::invalid(
            "campus",
            format!(
                "is not a campus of the program ({})",
                policy.campuses.join(", ")
            ),
        ));
    }
    name("department", &profile.department)?;
    if let Some(specialty) = &profile.specialty {
        name("specialty", specialty)?;
    }
    list("languages", &profile.languages)?;
    list("interests", &profile.interests)?;
    match (profile.training.status, profile.training.completed_on) {
        (TrainingStatus::InTraining, _) => {}
        (_, None) => {
            return Err(SupporterError::invalid(
                "training.completed_on",
                "is required once training is completed",
            ))
        }
        (_, Some(on)) if on > today => {
            return Err(SupporterError::invalid(
                "training.completed_on",
                "must not be in the future",
            ))
        }
        _ => {}
    }
    if profile.capacity > MAX_CAPACITY {
        return Err(SupporterError::invalid(
            "capacity",
            format!("must be from 0 to {MAX_CAPACITY}"),
        ));
    }
    for (i, hours) in profile.availability.weekly_hours.iter().enumerate() {
        if hours.ends <= hours.starts {
            return Err(SupporterError::invalid(
                format!("availability.weekly_hours[{i}]"),
                "ends before it starts",
            ));
        }
    }
    for (i, period) in profile.availability.on_call.iter().enumerate() {
        if period.ends < period.starts {
            return Err(SupporterError::invalid(
                format!("availability.on_call[{i}]"),
                "ends before it starts",
            ));
        }
    }
    name("given_name", &contact.given_name)?;
    name("family_name", &contact.family_name)?;
    let email = contact.email.trim();
    let plausible = email
        .split_once('@')
        .is_some_and(|(local, domain)| !local.is_empty() && !domain.is_empty());
    if !plausible || email.len() > 254 {
        return Err(SupporterError::invalid("email", "is not an e-mail address"));
    }
    if let Some(phone) = &contact.phone {
        name("phone", phone)?;
    }
    Ok(())
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PeerSupporter {
    pub profile: Option<SupporterProfile>,
    pub paused: bool,
    /// The cases a slot is held for.
    pub holding: BTreeSet<Uuid>,
}

impl PeerSupporter {
    pub fn is_on_roster(&self) -> bool {
        self.profile.is_some()
    }

    fn profile(&self) -> Result<&SupporterProfile, SupporterError> {
        self.profile.as_ref().ok_or(SupporterError::NotOnRoster)
    }
}

impl Aggregate for PeerSupporter {
    const TYPE: &'static str = outreach_events::supporter::AGGREGATE_TYPE;
    type Command = SupporterCommand;
    type Event = SupporterEvent;
    type Error = SupporterError;
    type Services = RosterPolicy;

    async fn handle(
        &mut self,
        command: Self::Command,
        policy: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        use SupporterCommand as C;
        let event = match command {
            C::Join {
                profile,
                contact,
                at,
            } => {
                if self.is_on_roster() {
                    return Err(SupporterError::AlreadyOnRoster);
                }
                validate(&profile, &contact, policy, at.date_naive())?;
                SupporterEvent::SupporterJoined {
                    profile,
                    personal: contact,
                    joined_at: at,
                }
            }
            C::ChangeProfile {
                profile,
                contact,
                at,
            } => {
                if self.profile()?.staff_id != profile.staff_id {
                    return Err(SupporterError::StaffIdChanged);
                }
                validate(&profile, &contact, policy, at.date_naive())?;
                SupporterEvent::SupporterProfileChanged {
                    profile,
                    personal: contact,
                    changed_at: at,
                }
            }
            C::Pause { at } => {
                self.profile()?;
                if self.paused {
                    return Ok(());
                }
                SupporterEvent::SupporterPaused { paused_at: at }
            }
            C::Resume { at } => {
                self.profile()?;
                if !self.paused {
                    return Ok(());
                }
                SupporterEvent::SupporterResumed { resumed_at: at }
            }
            C::TakeCase {
                case_id,
                member_staff_id,
                at,
            } => {
                let profile = self.profile()?;
                if self.holding.contains(&case_id) {
                    return Ok(());
                }
                if profile.staff_id == member_staff_id {
                    return Err(SupporterError::IsTheMember);
                }
                if self.paused {
                    return Err(SupporterError::Paused);
                }
                if profile.training.status != TrainingStatus::Trained {
                    return Err(SupporterError::NotTrained);
                }
                if self.holding.len() as u32 >= profile.capacity {
                    return Err(SupporterError::AtCapacity(profile.capacity));
                }
                SupporterEvent::CaseTaken {
                    case_id,
                    taken_at: at,
                }
            }
            C::ReleaseCase { case_id, at } => {
                if !self.holding.contains(&case_id) {
                    return Ok(());
                }
                SupporterEvent::CaseReleased {
                    case_id,
                    released_at: at,
                }
            }
        };
        sink.write(event, self).await;
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            SupporterEvent::SupporterJoined { profile, .. }
            | SupporterEvent::SupporterProfileChanged { profile, .. } => {
                self.profile = Some(profile)
            }
            SupporterEvent::SupporterPaused { .. } => self.paused = true,
            SupporterEvent::SupporterResumed { .. } => self.paused = false,
            SupporterEvent::CaseTaken { case_id, .. } => {
                self.holding.insert(case_id);
            }
            SupporterEvent::CaseReleased { case_id, .. } => {
                self.holding.remove(&case_id);
            }
        }
    }
}

#[cfg(test)]
#[path = "supporter_tests.rs"]
mod tests;
