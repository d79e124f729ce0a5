//! Scenarios of the roster, as a program manager would tell them.

use chrono::NaiveTime;
use cqrs_es::test::TestFramework;
use outreach_events::supporter::{Availability, DatePeriod, Day, Training, WeeklyHours};
use outreach_events::{Discipline, Seniority};

use super::*;

type Scenario = TestFramework<PeerSupporter>;

fn scenario() -> Scenario {
    Scenario::with(RosterPolicy {
        campuses: vec!["Parnassus".into(), "Mission Bay".into()],
    })
}

fn at(day: u32) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(&format!("2026-11-{day:02}T10:00:00Z"))
        .unwrap()
        .to_utc()
}

fn profile() -> SupporterProfile {
    SupporterProfile {
        staff_id: "S-100".into(),
        campus: "Parnassus".into(),
        department: "Anesthesia".into(),
        discipline: Discipline::Physician,
        specialty: Some("Anesthesiology".into()),
        seniority: Seniority::Senior,
        languages: vec!["en".into(), "es".into()],
        interests: vec!["litigation stress".into()],
        training: Training {
            status: TrainingStatus::Trained,
            completed_on: NaiveDate::from_ymd_opt(2026, 3, 1),
        },
        capacity: 2,
        availability: Availability {
            weekly_hours: vec![WeeklyHours {
                day: Day::Monday,
                starts: NaiveTime::from_hms_opt(8, 0, 0).unwrap(),
                ends: NaiveTime::from_hms_opt(17, 0, 0).unwrap(),
            }],
            on_call: vec![],
        },
    }
}

fn contact() -> SupporterContact {
    SupporterContact {
        given_name: "Ines".into(),
        family_name: "Okafor".into(),
        email: "ines.okafor@example.org".into(),
        phone: None,
        gender: None,
    }
}

fn joined() -> SupporterEvent {
    SupporterEvent::SupporterJoined {
        profile: profile(),
        personal: contact(),
        joined_at: at(2),
    }
}

fn take(case: u128) -> SupporterCommand {
    SupporterCommand::TakeCase {
        case_id: Uuid::from_u128(case),
        member_staff_id: "E-7".into(),
        at: at(23),
    }
}

fn taken(case: u128) -> SupporterEvent {
    SupporterEvent::CaseTaken {
        case_id: Uuid::from_u128(case),
        taken_at: at(23),
    }
}

fn refused_field(profile: SupporterProfile, contact: SupporterContact) -> String {
    match validate(
        &profile,
        &contact,
        &RosterPolicy {
            campuses: vec!["Parnassus".into()],
        },
        at(23).date_naive(),
    ) {
        Err(SupporterError::Invalid { field, .. }) => field,
        other => panic!("expected a refused field, got {other:?}"),
    }
}

#[test]
fn a_manager_puts_a_trained_supporter_on_the_roster() {
    scenario()
        .given_no_previous_events()
        .when(SupporterCommand::Join {
            profile: profile(),
            contact: contact(),
            at: at(2),
        })
        .then_expect_events(vec![joined()]);
}

#[test]
fn the_same_supporter_cannot_join_twice() {
    scenario()
        .given(vec![joined()])
        .when(SupporterCommand::Join {
            profile: profile(),
            contact: contact(),
            at: at(3),
        })
        .then_expect_error(SupporterError::AlreadyOnRoster);
}

#[test]
fn an_entry_for_an_unknown_campus_is_refused_naming_the_field() {
    scenario()
        .given_no_previous_events()
        .when(SupporterCommand::Join {
            profile: SupporterProfile {
                campus: "Atlantis".into(),
                ..profile()
            },
            contact: contact(),
            at: at(2),
        })
        .then_expect_error_message(
            "`campus`: is not a campus of the program (Parnassus, Mission Bay)",
        );
}

#[test]
fn every_wrong_field_is_named() {
    let mut hours = profile();
    hours.availability.weekly_hours[0].ends = NaiveTime::from_hms_opt(7, 0, 0).unwrap();
    assert_eq!(
        refused_field(hours, contact()),
        "availability.weekly_hours[0]"
    );

    let mut weeks = profile();
    weeks.availability.on_call = vec![DatePeriod {
        starts: NaiveDate::from_ymd_opt(2026, 12, 7).unwrap(),
        ends: NaiveDate::from_ymd_opt(2026, 12, 1).unwrap(),
    }];
    assert_eq!(refused_field(weeks, contact()), "availability.on_call[0]");

    let too_many = SupporterProfile {
        capacity: MAX_CAPACITY + 1,
        ..profile()
    };
    assert_eq!(refused_field(too_many, contact()), "capacity");

    let untrained_date = SupporterProfile {
        training: Training {
            status: TrainingStatus::Trained,
            completed_on: None,
        },
        ..profile()
    };
    assert_eq!(
        refused_field(untrained_date, contact()),
        "training.completed_on"
    );

    let future = SupporterProfile {
        training: Training {
            status: TrainingStatus::Trained,
            completed_on: NaiveDate::from_ymd_opt(2027, 1, 1),
        },
        ..profile()
    };
    assert_eq!(refused_field(future, contact()), "training.completed_on");

    let blank_language = SupporterProfile {
        languages: vec!["en".into(), " ".into()],
        ..profile()
    };
    assert_eq!(refused_field(blank_language, contact()), "languages[1]");

    let no_email = SupporterContact {
        email: "ines".into(),
        ..contact()
    };
    assert_eq!(refused_field(profile(), no_email), "email");

    let blank_department = SupporterProfile {
        department: "".into(),
        ..profile()
    };
    assert_eq!(refused_field(blank_department, contact()), "department");
}

#[test]
fn a_supporter_in_training_needs_no_completion_date() {
    let in_training = SupporterProfile {
        training: Training {
            status: TrainingStatus::InTraining,
            completed_on: None,
        },
        ..profile()
    };
    assert_eq!(
        validate(
            &in_training,
            &contact(),
            &RosterPolicy::default(),
            at(23).date_naive()
        ),
        Ok(())
    );
}

#[test]
fn a_changed_entry_replaces_the_old_one_but_keeps_the_staff_id() {
    let changed = SupporterProfile {
        capacity: 4,
        ..profile()
    };
    scenario()
        .given(vec![joined()])
        .when(SupporterCommand::ChangeProfile {
            profile: changed.clone(),
            contact: contact(),
            at: at(5),
        })
        .then_expect_events(vec![SupporterEvent::SupporterProfileChanged {
            profile: changed,
            personal: contact(),
            changed_at: at(5),
        }]);
    scenario()
        .given(vec![joined()])
        .when(SupporterCommand::ChangeProfile {
            profile: SupporterProfile {
                staff_id: "S-999".into(),
                ..profile()
            },
            contact: contact(),
            at: at(5),
        })
        .then_expect_error(SupporterError::StaffIdChanged);
}

#[test]
fn nobody_can_change_or_pause_a_supporter_who_is_not_on_the_roster() {
    scenario()
        .given_no_previous_events()
        .when(SupporterCommand::Pause { at: at(5) })
        .then_expect_error(SupporterError::NotOnRoster);
    scenario()
        .given_no_previous_events()
        .when(take(1))
        .then_expect_error(SupporterError::NotOnRoster);
}

#[test]
fn a_paused_supporter_takes_no_new_case_until_resumed() {
    let paused = SupporterEvent::SupporterPaused { paused_at: at(20) };
    scenario()
        .given(vec![joined(), paused.clone()])
        .when(take(1))
        .then_expect_error(SupporterError::Paused);
    scenario()
        .given(vec![joined(), paused.clone()])
        .when(SupporterCommand::Pause { at: at(21) })
        .then_expect_events(vec![]);
    scenario()
        .given(vec![
            joined(),
            paused,
            SupporterEvent::SupporterResumed { resumed_at: at(22) },
        ])
        .when(take(1))
        .then_expect_events(vec![taken(1)]);
}

#[test]
fn a_supporter_whose_training_lapsed_takes_no_new_case() {
    scenario()
        .given(vec![SupporterEvent::SupporterJoined {
            profile: SupporterProfile {
                training: Training {
                    status: TrainingStatus::Lapsed,
                    completed_on: NaiveDate::from_ymd_opt(2024, 1, 1),
                },
                ..profile()
            },
            personal: contact(),
            joined_at: at(2),
        }])
        .when(take(1))
        .then_expect_error(SupporterError::NotTrained);
}

#[test]
fn a_supporter_at_capacity_takes_no_further_case() {
    scenario()
        .given(vec![joined(), taken(1), taken(2)])
        .when(take(3))
        .then_expect_error(SupporterError::AtCapacity(2));
}

#[test]
fn a_released_slot_can_be_taken_again() {
    scenario()
        .given(vec![
            joined(),
            taken(1),
            taken(2),
            SupporterEvent::CaseReleased {
                case_id: Uuid::from_u128(1),
                released_at: at(23),
            },
        ])
        .when(take(3))
        .then_expect_events(vec![taken(3)]);
}

#[test]
fn taking_a_case_already_held_or_releasing_one_not_held_changes_nothing() {
    scenario()
        .given(vec![joined(), taken(1), taken(2)])
        .when(take(1))
        .then_expect_events(vec![]);
    scenario()
        .given(vec![joined()])
        .when(SupporterCommand::ReleaseCase {
            case_id: Uuid::from_u128(1),
            at: at(23),
        })
        .then_expect_events(vec![]);
}

#[test]
fn a_supporter_cannot_take_their_own_case() {
    scenario()
        .given(vec![joined()])
        .when(SupporterCommand::TakeCase {
            case_id: Uuid::from_u128(1),
            member_staff_id: "S-100".into(),
            at: at(23),
        })
        .then_expect_error(SupporterError::IsTheMember);
}

mod properties {
    use proptest::prelude::*;

    use super::*;

    #[derive(Debug, Clone)]
    enum Step {
        Take(u128),
        Release(u128),
        Pause,
        Resume,
        Capacity(u32),
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            4 => (0..6_u128).prop_map(Step::Take),
            2 => (0..6_u128).prop_map(Step::Release),
            1 => Just(Step::Pause),
            1 => Just(Step::Resume),
            1 => (0..4_u32).prop_map(Step::Capacity),
        ]
    }

    fn command(step: &Step) -> SupporterCommand {
        match step {
            Step::Take(case) => take(*case),
            Step::Release(case) => SupporterCommand::ReleaseCase {
                case_id: Uuid::from_u128(*case),
                at: at(23),
            },
            Step::Pause => SupporterCommand::Pause { at: at(23) },
            Step::Resume => SupporterCommand::Resume { at: at(23) },
            Step::Capacity(capacity) => SupporterCommand::ChangeProfile {
                profile: SupporterProfile {
                    capacity: *capacity,
                    ..profile()
                },
                contact: contact(),
                at: at(23),
            },
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            // A failure is reported with its minimal case; nothing is written into the tree.
            failure_persistence: None,
            ..ProptestConfig::default()
        })]

        /// Whatever managers do in whatever order, a case is taken only while the supporter is
        /// active and below capacity, and a case is held at most once.
        #[test]
        fn no_sequence_of_commands_takes_a_case_beyond_capacity(
            steps in proptest::collection::vec(step(), 1..40)
        ) {
            let mut history = vec![joined()];
            let mut supporter = PeerSupporter::default();
            supporter.apply(joined());
            for step in &steps {
                let before = supporter.clone();
                let produced = scenario()
                    .given(history.clone())
                    .when(command(step))
                    .inspect_result()
                    .unwrap_or_default();
                for event in produced {
                    if let SupporterEvent::CaseTaken { case_id, .. } = &event {
                        let capacity = before.profile.as_ref().unwrap().capacity as usize;
                        prop_assert!(!before.paused);
                        prop_assert!(before.holding.len() < capacity);
                        prop_assert!(!before.holding.contains(case_id));
                    }
                    supporter.apply(event.clone());
                    history.push(event);
                }
            }
        }
    }
}
