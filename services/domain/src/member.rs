//! The care team member aggregate: one person across all their cases. It keeps the promise that
//! a member already in an open case who is named again is not contacted twice by two
//! supporters, and it holds their preferences and their choice to opt out of automatic outreach.

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use outreach_events::care_team_member::{MemberEvent, Preferences};
use outreach_events::ReportRef;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq)]
pub enum MemberCommand {
    StartCase {
        staff_id: String,
        case_id: Uuid,
        at: DateTime<Utc>,
    },
    EndCase {
        case_id: Uuid,
        at: DateTime<Utc>,
    },
    StatePreferences {
        staff_id: String,
        preferences: Preferences,
        at: DateTime<Utc>,
    },
    OptOut {
        staff_id: String,
        at: DateTime<Utc>,
    },
    OptIn {
        staff_id: String,
        at: DateTime<Utc>,
    },
    SkipAutomaticOutreach {
        staff_id: String,
        report: ReportRef,
        at: DateTime<Utc>,
    },
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MemberError {
    #[error("the member already has an open case ({0})")]
    AlreadyHasOpenCase(Uuid),
    #[error("a preferred specialty is a name of at most 100 characters")]
    SpecialtyTooLong,
}

impl MemberError {
    pub fn rule(&self) -> &'static str {
        match self {
            MemberError::AlreadyHasOpenCase(_) => "member-has-an-open-case",
            MemberError::SpecialtyTooLong => "specialty-too-long",
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CareTeamMember {
    open_case: Option<Uuid>,
    opted_out: bool,
    preferences: Preferences,
}

impl CareTeamMember {
    /// The case later triggers join, as far as this aggregate knows (the case may have ended
    /// without this aggregate hearing of it yet: callers check the case itself).
    pub fn open_case(&self) -> Option<Uuid> {
        self.open_case
    }

    pub fn opted_out(&self) -> bool {
        self.opted_out
    }

    pub fn preferences(&self) -> &Preferences {
        &self.preferences
    }

    fn decide(&self, command: MemberCommand) -> Result<Option<MemberEvent>, MemberError> {
        Ok(Some(match command {
            MemberCommand::StartCase {
                staff_id,
                case_id,
                at,
            } => match self.open_case {
                Some(open) if open == case_id => return Ok(None),
                Some(open) => return Err(MemberError::AlreadyHasOpenCase(open)),
                None => MemberEvent::CaseStarted {
                    staff_id,
                    case_id,
                    started_at: at,
                },
            },
            MemberCommand::EndCase { case_id, at } => {
                if self.open_case != Some(case_id) {
                    return Ok(None);
                }
                MemberEvent::CaseEnded {
                    case_id,
                    ended_at: at,
                }
            }
            MemberCommand::StatePreferences {
                staff_id,
                preferences,
                at,
            } => {
                if preferences
                    .supporter_specialty
                    .as_ref()
                    .is_some_and(|s| s.chars().count() > 100)
                {
                    return Err(MemberError::SpecialtyTooLong);
                }
                if preferences == self.preferences {
                    return Ok(None);
                }
                MemberEvent::PreferencesStated {
                    staff_id,
                    personal: preferences,
                    stated_at: at,
                }
            }
            MemberCommand::OptOut { staff_id, at } if !self.opted_out => MemberEvent::OptedOut {
                staff_id,
                opted_out_at: at,
            },
            MemberCommand::OptIn { staff_id, at } if self.opted_out => MemberEvent::OptedIn {
                staff_id,
                opted_in_at: at,
            },
            MemberCommand::OptOut { .. } | MemberCommand::OptIn { .. } => return Ok(None),
            MemberCommand::SkipAutomaticOutreach {
                staff_id,
                report,
                at,
            } => MemberEvent::AutomaticOutreachSkipped {
                staff_id,
                report,
                skipped_at: at,
            },
        }))
    }
}

impl Aggregate for CareTeamMember {
    const TYPE: &'static str = "CareTeamMember";
    type Command = MemberCommand;
    type Event = MemberEvent;
    type Error = MemberError;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        if let Some(event) = self.decide(command)? {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            MemberEvent::CaseStarted { case_id, .. } => self.open_case = Some(case_id),
            MemberEvent::CaseEnded { .. } => self.open_case = None,
            MemberEvent::PreferencesStated { personal, .. } => self.preferences = personal,
            MemberEvent::OptedOut { .. } => self.opted_out = true,
            MemberEvent::OptedIn { .. } => self.opted_out = false,
            MemberEvent::AutomaticOutreachSkipped { .. } => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use cqrs_es::test::TestFramework;

    use super::*;

    type Scenario = TestFramework<CareTeamMember>;

    fn at() -> DateTime<Utc> {
        DateTime::from_timestamp(1_795_000_000, 0).unwrap()
    }

    fn started(case: u128) -> MemberEvent {
        MemberEvent::CaseStarted {
            staff_id: "E1".into(),
            case_id: Uuid::from_u128(case),
            started_at: at(),
        }
    }

    #[test]
    fn a_member_has_one_open_case_at_a_time() {
        Scenario::with(())
            .given(vec![started(1)])
            .when(MemberCommand::StartCase {
                staff_id: "E1".into(),
                case_id: Uuid::from_u128(2),
                at: at(),
            })
            .then_expect_error(MemberError::AlreadyHasOpenCase(Uuid::from_u128(1)));
    }

    #[test]
    fn starting_the_same_case_again_changes_nothing() {
        Scenario::with(())
            .given(vec![started(1)])
            .when(MemberCommand::StartCase {
                staff_id: "E1".into(),
                case_id: Uuid::from_u128(1),
                at: at(),
            })
            .then_expect_events(vec![]);
    }

    #[test]
    fn once_a_case_ends_a_new_one_can_start() {
        Scenario::with(())
            .given(vec![
                started(1),
                MemberEvent::CaseEnded {
                    case_id: Uuid::from_u128(1),
                    ended_at: at(),
                },
            ])
            .when(MemberCommand::StartCase {
                staff_id: "E1".into(),
                case_id: Uuid::from_u128(2),
                at: at(),
            })
            .then_expect_events(vec![started(2)]);
    }

    #[test]
    fn ending_a_case_that_is_not_the_open_one_changes_nothing() {
        Scenario::with(())
            .given(vec![started(1)])
            .when(MemberCommand::EndCase {
                case_id: Uuid::from_u128(9),
                at: at(),
            })
            .then_expect_events(vec![]);
    }

    #[test]
    fn opting_out_twice_records_it_once() {
        let opted_out = MemberEvent::OptedOut {
            staff_id: "E1".into(),
            opted_out_at: at(),
        };
        Scenario::with(())
            .given(vec![opted_out])
            .when(MemberCommand::OptOut {
                staff_id: "E1".into(),
                at: at(),
            })
            .then_expect_events(vec![]);
    }

    #[test]
    fn a_preferred_specialty_is_a_name_not_a_story() {
        let preferences = Preferences {
            supporter_specialty: Some("x".repeat(101)),
            ..Default::default()
        };
        Scenario::with(())
            .given_no_previous_events()
            .when(MemberCommand::StatePreferences {
                staff_id: "E1".into(),
                preferences,
                at: at(),
            })
            .then_expect_error(MemberError::SpecialtyTooLong);
    }
}
