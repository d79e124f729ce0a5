//! The care team member aggregate: one person across all their cases. It keeps the promise that
//! a member already in an open case who is named again is not contacted twice by two
//! supporters, and it holds their preferences and their choice to opt out of automatic outreach.

use chrono::{DateTime, Duration, Utc};
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
    /// Purge the member's personal data sealed under data key `key_id`, once `retention` has
    /// passed since their last case ended and no case is open. The key itself is destroyed by
    /// the caller after this is recorded; the aggregate decides whether the purge is due.
    PurgePersonalData {
        staff_id: String,
        key_id: Uuid,
        retention: Duration,
        at: DateTime<Utc>,
    },
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MemberError {
    #[error("the member already has an open case ({0})")]
    AlreadyHasOpenCase(Uuid),
    #[error("a preferred specialty is a name of at most 100 characters")]
    SpecialtyTooLong,
    #[error("the member's case {0} is open: their personal data is still needed")]
    OpenCaseBlocksPurge(Uuid),
    #[error("the retention period after the member's last case is not over")]
    RetentionNotOver,
}

impl MemberError {
    pub fn rule(&self) -> &'static str {
        match self {
            MemberError::AlreadyHasOpenCase(_) => "member-has-an-open-case",
            MemberError::SpecialtyTooLong => "specialty-too-long",
            MemberError::OpenCaseBlocksPurge(_) => "no-purge-while-a-case-is-open",
            MemberError::RetentionNotOver => "retention-period-not-over",
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CareTeamMember {
    open_case: Option<Uuid>,
    opted_out: bool,
    preferences: Preferences,
    /// When the member's last case ended: the retention period runs from here.
    #[serde(default)]
    last_case_ended: Option<DateTime<Utc>>,
    /// When the member last stated preferences or opted out or in: for a member who never had
    /// a case, the retention period runs from here.
    #[serde(default)]
    last_changed: Option<DateTime<Utc>>,
    /// The key of the last purge, while nothing personal has been recorded since: purging
    /// under it again has nothing left to do.
    #[serde(default)]
    purged_key: Option<Uuid>,
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

    /// The data key last purged, if nothing personal was recorded since. Only then may that
    /// key be destroyed: personal data recorded after the purge may be sealed under it.
    pub fn purged_key(&self) -> Option<Uuid> {
        self.purged_key
    }

    fn decide_purge(
        &self,
        key_id: Uuid,
        retention: Duration,
        at: DateTime<Utc>,
    ) -> Result<Option<MemberEvent>, MemberError> {
        if self.purged_key == Some(key_id) {
            return Ok(None);
        }
        if let Some(open) = self.open_case {
            return Err(MemberError::OpenCaseBlocksPurge(open));
        }
        // From the last case's end; for a member who never had one (preferences stated, or
        // opted out, only), from their last change.
        match self.last_case_ended.or(self.last_changed) {
            Some(since) if since + retention <= at => Ok(Some(MemberEvent::PersonalDataPurged {
                // The event is the member's own: naming them again would outlive the key.
                staff_id: String::new(),
                key_id,
                purged_at: at,
            })),
            // Not long enough ago, or nothing recorded at all.
            _ => Err(MemberError::RetentionNotOver),
        }
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
                    personal: Some(preferences),
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
            MemberCommand::PurgePersonalData {
                key_id,
                retention,
                at,
                ..
            } => return self.decide_purge(key_id, retention, at),
        }))
    }
}

impl Aggregate for CareTeamMember {
    const TYPE: &'static str = outreach_events::care_team_member::AGGREGATE_TYPE;
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
            MemberEvent::CaseStarted { case_id, .. } => {
                self.open_case = Some(case_id);
                // The new case's contact details will be sealed under the live key.
                self.purged_key = None;
            }
            MemberEvent::CaseEnded { ended_at, .. } => {
                self.open_case = None;
                self.last_case_ended = Some(ended_at);
            }
            // Purged preferences read as none stated.
            MemberEvent::PreferencesStated {
                personal,
                stated_at,
                ..
            } => {
                self.preferences = personal.unwrap_or_default();
                self.purged_key = None;
                self.last_changed = Some(stated_at);
            }
            MemberEvent::PersonalDataPurged { key_id, .. } => {
                self.preferences = Preferences::default();
                self.purged_key = Some(key_id);
            }
            MemberEvent::OptedOut { opted_out_at, .. } => {
                self.opted_out = true;
                self.last_changed = Some(opted_out_at);
            }
            MemberEvent::OptedIn { opted_in_at, .. } => {
                self.opted_out = false;
                self.last_changed = Some(opted_in_at);
            }
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

    fn ended(case: u128, at: DateTime<Utc>) -> MemberEvent {
        MemberEvent::CaseEnded {
            case_id: Uuid::from_u128(case),
            ended_at: at,
        }
    }

    fn purge(key: u128, days_after: i64) -> MemberCommand {
        MemberCommand::PurgePersonalData {
            staff_id: "E1".into(),
            key_id: Uuid::from_u128(key),
            retention: Duration::days(30),
            at: at() + Duration::days(days_after),
        }
    }

    fn purged(key: u128, days_after: i64) -> MemberEvent {
        MemberEvent::PersonalDataPurged {
            staff_id: String::new(),
            key_id: Uuid::from_u128(key),
            purged_at: at() + Duration::days(days_after),
        }
    }

    #[test]
    fn personal_data_is_purged_once_the_retention_period_after_the_last_case_is_over() {
        Scenario::with(())
            .given(vec![started(1), ended(1, at())])
            .when(purge(7, 30))
            .then_expect_events(vec![purged(7, 30)]);
    }

    #[test]
    fn no_purge_before_the_retention_period_is_over() {
        Scenario::with(())
            .given(vec![started(1), ended(1, at())])
            .when(purge(7, 29))
            .then_expect_error(MemberError::RetentionNotOver);
    }

    #[test]
    fn the_retention_period_runs_from_the_last_case_that_ended() {
        Scenario::with(())
            .given(vec![
                started(1),
                ended(1, at() - Duration::days(90)),
                started(2),
                ended(2, at()),
            ])
            .when(purge(7, 10))
            .then_expect_error(MemberError::RetentionNotOver);
    }

    #[test]
    fn no_purge_while_a_case_is_open() {
        Scenario::with(())
            .given(vec![started(1), ended(1, at()), started(2)])
            .when(purge(7, 60))
            .then_expect_error(MemberError::OpenCaseBlocksPurge(Uuid::from_u128(2)));
    }

    #[test]
    fn a_member_of_whom_nothing_is_recorded_is_not_purged() {
        Scenario::with(())
            .given_no_previous_events()
            .when(purge(7, 60))
            .then_expect_error(MemberError::RetentionNotOver);
    }

    fn stated_preferences(days_after: i64) -> MemberEvent {
        MemberEvent::PreferencesStated {
            staff_id: "E1".into(),
            personal: Some(Preferences {
                supporter_specialty: Some("Anaesthesia".into()),
                ..Default::default()
            }),
            stated_at: at() + Duration::days(days_after),
        }
    }

    #[test]
    fn a_member_without_a_case_is_purged_once_the_period_after_their_last_change_is_over() {
        Scenario::with(())
            .given(vec![stated_preferences(0)])
            .when(purge(7, 30))
            .then_expect_events(vec![purged(7, 30)]);
    }

    #[test]
    fn a_member_without_a_case_who_changed_since_waits_for_the_period_after_that_change() {
        Scenario::with(())
            .given(vec![
                stated_preferences(0),
                MemberEvent::OptedOut {
                    staff_id: "E1".into(),
                    opted_out_at: at() + Duration::days(20),
                },
            ])
            .when(purge(7, 30))
            .then_expect_error(MemberError::RetentionNotOver);
    }

    #[test]
    fn purging_again_under_the_same_key_changes_nothing() {
        Scenario::with(())
            .given(vec![started(1), ended(1, at()), purged(7, 30)])
            .when(purge(7, 31))
            .then_expect_events(vec![]);
    }

    #[test]
    fn a_case_after_a_purge_is_purged_again_in_its_turn() {
        // The new case's contact details were sealed under the same live key: purging under
        // it again is not a repeat, read models must drop the new case's data too.
        Scenario::with(())
            .given(vec![
                started(1),
                ended(1, at()),
                purged(7, 30),
                started(2),
                ended(2, at() + Duration::days(31)),
            ])
            .when(purge(7, 61))
            .then_expect_events(vec![purged(7, 61)]);
    }

    #[test]
    fn after_a_purge_the_member_has_no_preferences_and_no_purged_key_once_they_state_some() {
        let stated = MemberEvent::PreferencesStated {
            staff_id: "E1".into(),
            personal: Some(Preferences {
                supporter_specialty: Some("Anaesthesia".into()),
                ..Default::default()
            }),
            stated_at: at(),
        };
        let mut member = CareTeamMember::default();
        for event in [started(1), stated.clone(), ended(1, at()), purged(7, 30)] {
            member.apply(event);
        }
        assert_eq!(member.preferences(), &Preferences::default());
        assert_eq!(member.purged_key(), Some(Uuid::from_u128(7)));
        member.apply(stated);
        assert_eq!(member.purged_key(), None);
    }

    #[test]
    fn shredded_preferences_read_as_none_stated() {
        let mut member = CareTeamMember::default();
        member.apply(MemberEvent::PreferencesStated {
            staff_id: "E1".into(),
            personal: Some(Preferences {
                supporter_specialty: Some("Anaesthesia".into()),
                ..Default::default()
            }),
            stated_at: at(),
        });
        // Replayed after the key was destroyed: the personal part reads as None.
        member.apply(MemberEvent::PreferencesStated {
            staff_id: "E1".into(),
            personal: None,
            stated_at: at(),
        });
        assert_eq!(member.preferences(), &Preferences::default());
    }
}
