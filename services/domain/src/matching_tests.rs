use chrono::NaiveDateTime;
use chrono_tz::America::Los_Angeles;
use outreach_events::supporter::{DatePeriod, Day, Training, WeeklyHours};
use outreach_events::{Discipline, Involvement};

use super::*;

fn date(text: &str) -> NaiveDate {
    text.parse().unwrap()
}

fn time(text: &str) -> NaiveTime {
    text.parse().unwrap()
}

/// The instant Los Angeles wall clocks read `text` ("2026-03-03 10:00"), the first one
/// when the reading repeats.
fn la(text: &str) -> DateTime<Utc> {
    let reading = NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M").unwrap();
    Los_Angeles
        .from_local_datetime(&reading)
        .earliest()
        .unwrap()
        .to_utc()
}

fn utc(text: &str) -> DateTime<Utc> {
    NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M")
        .unwrap()
        .and_utc()
}

/// Tuesday 3 March 2026, mid-morning in San Francisco.
fn now() -> DateTime<Utc> {
    la("2026-03-03 10:00")
}

/// A mid-career emergency physician at Parnassus, no preferences, no deadline.
fn case() -> CaseToMatch {
    CaseToMatch {
        member: MemberProfile {
            staff_id: "M-100".into(),
            role: "Attending physician".into(),
            discipline: Discipline::Physician,
            department: "Emergency Medicine".into(),
            seniority: Some(Seniority::MidCareer),
            involvement: Involvement::Primary,
        },
        campus: "Parnassus".into(),
        preferences: Preferences::default(),
        named_in_reports: BTreeSet::from(["M-100".to_string(), "N-200".to_string()]),
        first_contact_due: None,
    }
}

/// A trained nurse in cardiology at Mission Bay, any time, holding 3 of 4 cases: suits the
/// member in nothing but being from another department.
fn supporter(staff_id: &str) -> RosterEntry {
    RosterEntry {
        profile: SupporterProfile {
            staff_id: staff_id.into(),
            campus: "Mission Bay".into(),
            department: "Cardiology".into(),
            discipline: Discipline::Nurse,
            specialty: Some("Cardiac care".into()),
            seniority: Seniority::Trainee,
            languages: vec!["en".into()],
            interests: vec![],
            training: Training {
                status: TrainingStatus::Trained,
                completed_on: Some(date("2025-06-01")),
            },
            capacity: 4,
            availability: Availability::default(),
        },
        gender: None,
        paused: false,
        open_cases: 3,
    }
}

fn ranked(case: &CaseToMatch, roster: &[RosterEntry]) -> Ranking {
    rank(
        case,
        roster,
        &MatchingWeights::default(),
        now(),
        Los_Angeles,
    )
}

fn exclusion_of(case: &CaseToMatch, entry: RosterEntry) -> Option<ExclusionReason> {
    let ranking = ranked(case, &[entry]);
    ranking.excluded.first().map(|excluded| excluded.reason)
}

fn only_candidate(case: &CaseToMatch, entry: RosterEntry) -> Candidate {
    let ranking = ranked(case, &[entry]);
    assert_eq!(ranking.excluded, vec![], "expected a candidate");
    ranking.candidates.into_iter().next().unwrap()
}

fn hours(day: Day, starts: &str, ends: &str) -> WeeklyHours {
    WeeklyHours {
        day,
        starts: time(starts),
        ends: time(ends),
    }
}

fn weekdays(starts: &str, ends: &str) -> Vec<WeeklyHours> {
    [
        Day::Monday,
        Day::Tuesday,
        Day::Wednesday,
        Day::Thursday,
        Day::Friday,
    ]
    .into_iter()
    .map(|day| hours(day, starts, ends))
    .collect()
}

fn on_call(starts: &str, ends: &str) -> DatePeriod {
    DatePeriod {
        starts: date(starts),
        ends: date(ends),
    }
}

// Exclusions, one per rule.

#[test]
fn a_supporter_is_never_offered_to_themselves() {
    assert_eq!(
        exclusion_of(&case(), supporter("M-100")),
        Some(ExclusionReason::IsTheMember)
    );
}

#[test]
fn a_colleague_named_in_the_same_report_is_not_offered() {
    assert_eq!(
        exclusion_of(&case(), supporter("N-200")),
        Some(ExclusionReason::NamedInSameReport)
    );
}

#[test]
fn a_supporter_from_the_members_own_department_is_excluded_unless_asked_for() {
    let mut colleague = supporter("S-1");
    colleague.profile.department = "  emergency medicine ".into();
    assert_eq!(
        exclusion_of(&case(), colleague.clone()),
        Some(ExclusionReason::SameDepartment)
    );

    let mut asked = case();
    asked.preferences.supporter_department = Some(DepartmentPreference::OwnDepartment);
    let candidate = only_candidate(&asked, colleague);
    assert!(candidate
        .reasons
        .contains(&"matches preference: department".to_string()));
    assert!(!candidate
        .reasons
        .contains(&"different department".to_string()));
}

#[test]
fn a_paused_supporter_takes_no_new_cases() {
    let mut resting = supporter("S-1");
    resting.paused = true;
    assert_eq!(
        exclusion_of(&case(), resting),
        Some(ExclusionReason::Paused)
    );
}

#[test]
fn a_supporter_in_training_or_with_a_lapsed_refresher_is_not_offered() {
    for status in [TrainingStatus::InTraining, TrainingStatus::Lapsed] {
        let mut learner = supporter("S-1");
        learner.profile.training.status = status;
        assert_eq!(
            exclusion_of(&case(), learner),
            Some(ExclusionReason::NotTrained),
            "{status:?}"
        );
    }
}

#[test]
fn a_supporter_holding_as_many_cases_as_they_can_is_not_offered() {
    let mut full = supporter("S-1");
    full.open_cases = 4;
    assert_eq!(
        exclusion_of(&case(), full.clone()),
        Some(ExclusionReason::AtCapacity)
    );
    full.profile.capacity = 0;
    full.open_cases = 0;
    assert_eq!(
        exclusion_of(&case(), full),
        Some(ExclusionReason::AtCapacity)
    );
}

#[test]
fn a_supporter_not_on_call_before_the_contact_deadline_is_not_offered() {
    let mut next_week = supporter("S-1");
    next_week.profile.availability.on_call = vec![on_call("2026-03-09", "2026-03-15")];
    let mut due_thursday = case();
    due_thursday.first_contact_due = Some(la("2026-03-05 10:00"));
    assert_eq!(
        exclusion_of(&due_thursday, next_week.clone()),
        Some(ExclusionReason::UnavailableUntilDeadline)
    );

    let mut due_monday = case();
    due_monday.first_contact_due = Some(la("2026-03-09 10:00"));
    assert_eq!(exclusion_of(&due_monday, next_week), None);
}

#[test]
fn an_overdue_case_needs_someone_available_now() {
    let mut overdue = case();
    overdue.first_contact_due = Some(la("2026-03-02 10:00"));
    let mut mornings = supporter("S-1");
    mornings.profile.availability.weekly_hours = weekdays("08:00", "12:00");
    assert_eq!(exclusion_of(&overdue, mornings), None);

    let mut afternoons = supporter("S-2");
    afternoons.profile.availability.weekly_hours = weekdays("13:00", "17:00");
    assert_eq!(
        exclusion_of(&overdue, afternoons),
        Some(ExclusionReason::UnavailableUntilDeadline)
    );
}

#[test]
fn without_a_deadline_availability_is_not_checked() {
    let mut never = supporter("S-1");
    never.profile.availability.on_call = vec![on_call("2020-01-01", "2020-01-07")];
    assert_eq!(exclusion_of(&case(), never), None);
}

#[test]
fn only_the_first_reason_that_applies_is_given() {
    let mut everything_wrong = supporter("N-200");
    everything_wrong.profile.department = "Emergency Medicine".into();
    everything_wrong.paused = true;
    everything_wrong.profile.training.status = TrainingStatus::Lapsed;
    everything_wrong.open_cases = 9;
    assert_eq!(
        exclusion_of(&case(), everything_wrong.clone()),
        Some(ExclusionReason::NamedInSameReport)
    );
    everything_wrong.profile.staff_id = "S-1".into();
    assert_eq!(
        exclusion_of(&case(), everything_wrong.clone()),
        Some(ExclusionReason::SameDepartment)
    );
    everything_wrong.profile.department = "Cardiology".into();
    assert_eq!(
        exclusion_of(&case(), everything_wrong),
        Some(ExclusionReason::Paused)
    );
}

#[test]
fn exclusions_are_listed_by_staff_id_with_their_codes_and_words() {
    let mut paused = supporter("S-2");
    paused.paused = true;
    let ranking = ranked(&case(), &[paused, supporter("S-3"), supporter("M-100")]);
    let listed: Vec<_> = ranking
        .excluded
        .iter()
        .map(|excluded| (excluded.staff_id.as_str(), excluded.reason.words()))
        .collect();
    assert_eq!(listed, [("M-100", "is the member"), ("S-2", "paused")]);
    assert_eq!(
        serde_json::to_value(&ranking.excluded[0]).unwrap(),
        serde_json::json!({"staff_id": "M-100", "reason": "is-the-member"})
    );
    for reason in ExclusionReason::ALL {
        assert_eq!(
            serde_json::to_value(reason).unwrap(),
            serde_json::json!(reason.code())
        );
    }
    let words: Vec<_> = ExclusionReason::ALL.iter().map(|r| r.words()).collect();
    assert_eq!(
        words,
        [
            "is the member",
            "named in the same report",
            "same department as the member",
            "paused",
            "not trained",
            "at capacity",
            "unavailable until the contact deadline",
        ]
    );
}

// Preferences: one scenario each. A preference not met adds nothing and excludes no one.

#[test]
fn a_member_asking_for_a_specialty_is_offered_supporters_practising_or_interested_in_it() {
    let mut asked = case();
    asked.preferences.supporter_specialty = Some(" emergency medicine".into());
    let mut practising = supporter("S-1");
    practising.profile.specialty = Some("Emergency Medicine".into());
    let mut interested = supporter("S-2");
    interested.profile.interests = vec!["litigation stress".into(), "EMERGENCY MEDICINE".into()];
    let other = supporter("S-3");

    let ranking = ranked(&asked, &[practising, interested, other]);
    let scores: Vec<_> = ranking
        .candidates
        .iter()
        .map(|c| (c.staff_id.as_str(), c.score))
        .collect();
    assert_eq!(scores, [("S-1", 50), ("S-2", 50), ("S-3", 10)]);
    assert_eq!(
        ranking.candidates[0].reasons,
        ["different department", "matches preference: specialty"]
    );
}

#[test]
fn asking_for_another_department_scores_the_preference_instead_of_the_default() {
    let mut asked = case();
    asked.preferences.supporter_department = Some(DepartmentPreference::OtherDepartment);
    let candidate = only_candidate(&asked, supporter("S-1"));
    assert_eq!(candidate.reasons, ["matches preference: department"]);
    assert_eq!(candidate.score, 40);
}

#[test]
fn a_member_asking_for_a_gender_is_offered_supporters_of_that_gender_first() {
    let mut asked = case();
    asked.preferences.supporter_gender = Some(Gender::Woman);
    let mut woman = supporter("S-2");
    woman.gender = Some(Gender::Woman);
    let mut man = supporter("S-1");
    man.gender = Some(Gender::Man);
    let unstated = supporter("S-0");

    let ranking = ranked(&asked, &[man, unstated, woman]);
    assert_eq!(ranking.excluded, vec![]);
    assert_eq!(ranking.candidates[0].staff_id, "S-2");
    assert!(ranking.candidates[0]
        .reasons
        .contains(&"matches preference: gender".to_string()));
    assert_eq!(ranking.candidates[1].score, ranking.candidates[2].score);
}

#[test]
fn a_member_asking_for_someone_similar_in_seniority_accepts_one_level_either_side() {
    let mut asked = case();
    asked.preferences.supporter_seniority = Some(SeniorityPreference::Similar);
    let matches = |seniority: Seniority| {
        let mut peer = supporter("S-1");
        peer.profile.seniority = seniority;
        only_candidate(&asked, peer)
            .reasons
            .contains(&"matches preference: seniority".to_string())
    };
    assert!(!matches(Seniority::Trainee));
    assert!(matches(Seniority::EarlyCareer));
    assert!(matches(Seniority::MidCareer));
    assert!(matches(Seniority::Senior));
}

#[test]
fn a_member_asking_for_someone_more_senior_is_matched_only_above_their_own_level() {
    let mut asked = case();
    asked.preferences.supporter_seniority = Some(SeniorityPreference::MoreSenior);
    let matches = |case: &CaseToMatch, seniority: Seniority| {
        let mut peer = supporter("S-1");
        peer.profile.seniority = seniority;
        only_candidate(case, peer)
            .reasons
            .contains(&"matches preference: seniority".to_string())
    };
    assert!(!matches(&asked, Seniority::MidCareer));
    assert!(matches(&asked, Seniority::Senior));

    let mut level_unknown = asked.clone();
    level_unknown.member.seniority = None;
    assert!(!matches(&level_unknown, Seniority::Senior));
}

#[test]
fn a_member_asking_for_a_language_is_offered_supporters_who_speak_it() {
    let mut asked = case();
    asked.preferences.supporter_language = Some("ES".into());
    let mut speaker = supporter("S-1");
    speaker.profile.languages = vec!["en".into(), "es".into()];
    assert!(only_candidate(&asked, speaker)
        .reasons
        .contains(&"matches preference: language".to_string()));
    assert!(!only_candidate(&asked, supporter("S-2"))
        .reasons
        .contains(&"matches preference: language".to_string()));
}

#[test]
fn an_unmet_preference_adds_nothing_and_excludes_no_one() {
    let mut asked = case();
    asked.preferences = Preferences {
        supporter_gender: Some(Gender::NonBinary),
        supporter_specialty: Some("Neonatology".into()),
        supporter_seniority: Some(SeniorityPreference::MoreSenior),
        supporter_language: Some("tl".into()),
        ..Preferences::default()
    };
    let candidate = only_candidate(&asked, supporter("S-1"));
    assert_eq!(candidate.reasons, ["different department"]);
    assert_eq!(candidate.score, 10);
}

// Ranking.

#[test]
fn the_best_match_comes_first_with_its_reasons_in_words() {
    let mut asked = case();
    asked.preferences.supporter_language = Some("es".into());
    let mut close = supporter("S-9");
    close.profile.campus = "parnassus".into();
    close.profile.discipline = Discipline::Physician;
    close.profile.seniority = Seniority::Senior;
    close.profile.languages = vec!["es".into()];
    close.open_cases = 1;
    let ranking = ranked(&asked, &[supporter("S-1"), close]);

    let best = &ranking.candidates[0];
    assert_eq!(best.staff_id, "S-9");
    assert_eq!(
        best.reasons,
        [
            "same campus",
            "same discipline",
            "similar seniority",
            "different department",
            "matches preference: language",
            "has room: 1 of 4 cases",
        ]
    );
    assert_eq!(best.score, 30 + 25 + 10 + 10 + 40 + 5);
    assert_eq!(ranking.candidates[1].reasons, ["different department"]);
}

#[test]
fn seniority_counts_fully_at_the_same_level_partly_one_level_away_and_not_when_unknown() {
    let reasons_for = |member: Option<Seniority>, supporter_level: Seniority| {
        let mut asked = case();
        asked.member.seniority = member;
        let mut peer = supporter("S-1");
        peer.profile.seniority = supporter_level;
        only_candidate(&asked, peer).reasons
    };
    let mid = Some(Seniority::MidCareer);
    assert!(reasons_for(mid, Seniority::MidCareer).contains(&"same seniority".to_string()));
    assert!(reasons_for(mid, Seniority::Senior).contains(&"similar seniority".to_string()));
    assert_eq!(
        reasons_for(mid, Seniority::Trainee),
        ["different department"]
    );
    assert_eq!(
        reasons_for(None, Seniority::MidCareer),
        ["different department"]
    );
}

#[test]
fn a_supporter_holding_at_most_half_their_capacity_has_room() {
    let reasons_holding = |open_cases: u32| {
        let mut peer = supporter("S-1");
        peer.open_cases = open_cases;
        only_candidate(&case(), peer).reasons
    };
    assert_eq!(
        reasons_holding(2),
        ["different department", "has room: 2 of 4 cases"]
    );
    assert_eq!(
        reasons_holding(0),
        ["different department", "has room: 0 of 4 cases"]
    );
    assert_eq!(reasons_holding(3), ["different department"]);
}

#[test]
fn equal_scores_go_to_the_lighter_caseload_then_the_lower_staff_id() {
    let mut light = supporter("S-9");
    light.open_cases = 2;
    light.profile.capacity = 3;
    let order: Vec<_> = ranked(&case(), &[supporter("S-5"), light, supporter("S-2")])
        .candidates
        .into_iter()
        .map(|candidate| candidate.staff_id)
        .collect();
    assert_eq!(order, ["S-9", "S-2", "S-5"]);
}

#[test]
fn a_weight_of_zero_switches_its_reason_off() {
    let weights = MatchingWeights {
        different_department: 0,
        ..MatchingWeights::default()
    };
    let ranking = rank(&case(), &[supporter("S-1")], &weights, now(), Los_Angeles);
    assert_eq!(ranking.candidates[0].reasons, Vec::<String>::new());
    assert_eq!(ranking.candidates[0].score, 0);
}

#[test]
fn weights_read_from_a_partial_table_keep_the_documented_defaults() {
    let weights: MatchingWeights =
        serde_json::from_value(serde_json::json!({"same_campus": 50})).unwrap();
    assert_eq!(
        weights,
        MatchingWeights {
            same_campus: 50,
            same_discipline: 25,
            same_seniority: 20,
            similar_seniority: 10,
            different_department: 10,
            preference: 40,
            spare_capacity: 5,
        }
    );
    let typo = serde_json::from_value::<MatchingWeights>(serde_json::json!({"same_campis": 1}));
    assert!(typo.is_err());
}

// Availability.

#[test]
fn weekday_office_hours_do_not_cover_a_weekend_deadline() {
    let office = Availability {
        weekly_hours: weekdays("09:00", "17:00"),
        on_call: vec![],
    };
    let friday_evening = la("2026-03-06 18:00");
    assert!(!available_between(
        &office,
        friday_evening,
        la("2026-03-08 12:00"),
        Los_Angeles
    ));
    assert!(!available_between(
        &office,
        friday_evening,
        la("2026-03-09 08:59"),
        Los_Angeles
    ));
    assert!(available_between(
        &office,
        friday_evening,
        la("2026-03-09 09:00"),
        Los_Angeles
    ));
    // The end of the hours is not in them; the start is.
    assert!(!available_between(
        &office,
        la("2026-03-06 17:00"),
        la("2026-03-06 17:00"),
        Los_Angeles
    ));
}

#[test]
fn weekend_hours_cover_a_weekend_deadline() {
    let weekends = Availability {
        weekly_hours: vec![hours(Day::Saturday, "10:00", "14:00")],
        on_call: vec![],
    };
    assert!(available_between(
        &weekends,
        la("2026-03-06 18:00"),
        la("2026-03-08 12:00"),
        Los_Angeles
    ));
}

#[test]
fn an_on_call_week_includes_its_first_and_last_dates() {
    let on_call_week = Availability {
        weekly_hours: vec![],
        on_call: vec![on_call("2026-03-09", "2026-03-15")],
    };
    let sunday_night = la("2026-03-08 23:00");
    assert!(!available_between(
        &on_call_week,
        sunday_night,
        la("2026-03-08 23:59"),
        Los_Angeles
    ));
    assert!(available_between(
        &on_call_week,
        sunday_night,
        la("2026-03-09 00:00"),
        Los_Angeles
    ));
    let last_evening = la("2026-03-15 23:30");
    assert!(available_between(
        &on_call_week,
        last_evening,
        last_evening,
        Los_Angeles
    ));
    let after = la("2026-03-16 00:00");
    assert!(!available_between(
        &on_call_week,
        after,
        after + Duration::days(3),
        Los_Angeles
    ));
}

#[test]
fn on_call_weeks_and_weekly_hours_must_both_hold() {
    let evenings_on_call = Availability {
        weekly_hours: vec![hours(Day::Wednesday, "18:00", "22:00")],
        on_call: vec![on_call("2026-03-09", "2026-03-15")],
    };
    // Wednesday evening 4 March: right hours, wrong week.
    assert!(!available_between(
        &evenings_on_call,
        la("2026-03-03 10:00"),
        la("2026-03-06 10:00"),
        Los_Angeles
    ));
    // Wednesday evening 11 March: both.
    assert!(available_between(
        &evenings_on_call,
        la("2026-03-10 10:00"),
        la("2026-03-11 18:30"),
        Los_Angeles
    ));
}

#[test]
fn hours_keep_their_wall_clock_times_when_the_clocks_spring_forward() {
    // Sunday 8 March 2026: Los Angeles goes from 02:00 PST to 03:00 PDT.
    let sunday_morning = Availability {
        weekly_hours: vec![hours(Day::Sunday, "08:00", "09:00")],
        on_call: vec![],
    };
    // 08:30 PDT is 15:30 UTC; read with the winter offset it would be 07:30.
    let half_past_eight = utc("2026-03-08 15:30");
    assert!(available_between(
        &sunday_morning,
        half_past_eight,
        half_past_eight,
        Los_Angeles
    ));
    let nine = utc("2026-03-08 16:00");
    assert!(!available_between(&sunday_morning, nine, nine, Los_Angeles));

    // An hour the clocks skip is in nobody's hours.
    let skipped = Availability {
        weekly_hours: vec![hours(Day::Sunday, "02:00", "02:30")],
        on_call: vec![],
    };
    assert!(!available_between(
        &skipped,
        la("2026-03-08 00:00"),
        la("2026-03-08 23:59"),
        Los_Angeles
    ));
}

#[test]
fn an_hour_the_clocks_repeat_is_available_both_times() {
    // Sunday 1 November 2026: Los Angeles goes back from 02:00 PDT to 01:00 PST.
    let small_hours = Availability {
        weekly_hours: vec![hours(Day::Sunday, "01:00", "01:30")],
        on_call: vec![],
    };
    let first_pass = utc("2026-11-01 08:15"); // 01:15 PDT
    let between = utc("2026-11-01 08:45"); // 01:45 PDT
    let second_pass = utc("2026-11-01 09:15"); // 01:15 PST
    for (at, expected) in [(first_pass, true), (between, false), (second_pass, true)] {
        assert_eq!(
            available_between(&small_hours, at, at, Los_Angeles),
            expected,
            "{at}"
        );
    }
}

#[test]
fn a_deadline_before_now_is_an_empty_span_and_far_deadlines_look_a_year_ahead() {
    let any_time = Availability::default();
    assert!(!available_between(
        &any_time,
        now(),
        now() - Duration::seconds(1),
        Los_Angeles
    ));
    let in_two_years = Availability {
        weekly_hours: vec![],
        on_call: vec![on_call("2028-03-01", "2028-03-07")],
    };
    assert!(!available_between(
        &in_two_years,
        now(),
        now() + Duration::days(3 * 365),
        Los_Angeles
    ));
}

#[test]
fn the_ends_of_the_calendar_neither_panic_nor_hang() {
    let any_time = Availability::default();
    let (first, last) = (DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC);
    for zone in [Tz::UTC, Los_Angeles, Tz::Pacific__Kiritimati] {
        assert!(available_between(
            &any_time,
            first,
            first + Duration::days(2),
            zone
        ));
        assert!(available_between(
            &any_time,
            last - Duration::days(2),
            last,
            zone
        ));
    }
}

#[test]
fn inverted_weekly_hours_are_empty() {
    let inverted = Availability {
        weekly_hours: vec![hours(Day::Tuesday, "17:00", "09:00")],
        on_call: vec![],
    };
    assert!(!available_between(
        &inverted,
        now() - Duration::days(1),
        now() + Duration::days(1),
        Los_Angeles
    ));
}

mod properties {
    use chrono::Timelike;
    use proptest::prelude::*;
    use proptest::test_runner::Config;

    use super::*;

    const ZONES: [Tz; 5] = [
        Tz::UTC,
        Tz::America__Los_Angeles,
        Tz::Europe__London,
        Tz::Australia__Lord_Howe,
        Tz::America__Santiago,
    ];

    const DAYS: [Day; 7] = [
        Day::Monday,
        Day::Tuesday,
        Day::Wednesday,
        Day::Thursday,
        Day::Friday,
        Day::Saturday,
        Day::Sunday,
    ];

    /// Days around clock changes in the zones above, and an ordinary one.
    const NEAR: [&str; 8] = [
        "2026-03-08",
        "2026-11-01",
        "2026-03-29",
        "2026-10-25",
        "2026-04-05",
        "2026-10-04",
        "2026-09-06",
        "2026-06-17",
    ];

    fn config() -> Config {
        Config {
            cases: 200,
            failure_persistence: None,
            ..Config::default()
        }
    }

    fn seniority() -> impl Strategy<Value = Seniority> {
        prop::sample::select(vec![
            Seniority::Trainee,
            Seniority::EarlyCareer,
            Seniority::MidCareer,
            Seniority::Senior,
        ])
    }

    fn pick(words: &'static [&'static str]) -> impl Strategy<Value = String> {
        prop::sample::select(words).prop_map(String::from)
    }

    fn some_of(words: &'static [&'static str]) -> impl Strategy<Value = Vec<String>> {
        prop::sample::subsequence(words, 0..=words.len())
            .prop_map(|words| words.into_iter().map(String::from).collect())
    }

    /// A moment near a clock change, on a whole minute.
    fn moment() -> impl Strategy<Value = DateTime<Utc>> {
        (prop::sample::select(NEAR.to_vec()), -4 * 1440..4 * 1440_i64).prop_map(|(day, minutes)| {
            date(day).and_time(NaiveTime::MIN).and_utc() + Duration::minutes(minutes)
        })
    }

    /// A zone and a moment within twelve hours of one of its clock changes (given in UTC), on a
    /// whole minute.
    fn near_a_clock_change() -> impl Strategy<Value = (Tz, DateTime<Utc>)> {
        let changes = vec![
            (Tz::America__Los_Angeles, "2026-03-08 10:00"),
            (Tz::America__Los_Angeles, "2026-11-01 09:00"),
            (Tz::Europe__London, "2026-03-29 01:00"),
            (Tz::Europe__London, "2026-10-25 01:00"),
            (Tz::Australia__Lord_Howe, "2026-04-04 15:00"),
            (Tz::Australia__Lord_Howe, "2026-10-03 15:30"),
            (Tz::America__Santiago, "2026-04-05 03:00"),
            (Tz::America__Santiago, "2026-09-06 04:00"),
            (Tz::UTC, "2026-06-17 12:00"),
        ];
        (prop::sample::select(changes), -720..720_i64)
            .prop_map(|((zone, change), minutes)| (zone, utc(change) + Duration::minutes(minutes)))
    }

    /// Weekly hours on quarter hours of `days`, a few of them empty; on-call weeks near
    /// `anchors`.
    fn availability(
        anchors: Vec<NaiveDate>,
        days: Vec<Day>,
    ) -> impl Strategy<Value = Availability> {
        // Mostly short, so that whether a span meets them turns on the clocks.
        let window = (prop::sample::select(days), 0..96_u32, -2..16_i32).prop_map(
            |(day, starts, length)| WeeklyHours {
                day,
                starts: quarter(starts),
                ends: quarter(starts.saturating_add_signed(length)),
            },
        );
        let period = (prop::sample::select(anchors), -6..6_i64, 0..9_i64).prop_map(
            |(anchor, shift, length)| {
                let starts = anchor + Duration::days(shift);
                DatePeriod {
                    starts,
                    ends: starts + Duration::days(length),
                }
            },
        );
        (
            prop::collection::vec(window, 0..6),
            prop::option::weighted(0.5, prop::collection::vec(period, 1..3)),
        )
            .prop_map(|(weekly_hours, on_call)| Availability {
                weekly_hours,
                on_call: on_call.unwrap_or_default(),
            })
    }

    /// Quarter `n` of the day; 96 is the last representable instant, as near to midnight
    /// as a `NaiveTime` gets.
    fn quarter(n: u32) -> NaiveTime {
        NaiveTime::from_num_seconds_from_midnight_opt((n * 900).min(86_399), 0).unwrap()
    }

    fn gender() -> impl Strategy<Value = Option<Gender>> {
        prop::option::of(prop::sample::select(vec![
            Gender::Woman,
            Gender::Man,
            Gender::NonBinary,
        ]))
    }

    const CAMPUSES: &[&str] = &["Parnassus", " parnassus", "Mission Bay", ""];
    const DEPARTMENTS: &[&str] = &["Emergency", "emergency ", "Surgery", "ICU", " "];
    const SPECIALTIES: &[&str] = &["Trauma", "trauma", "Paediatrics", "Oncology"];
    const LANGUAGES: &[&str] = &["en", "ES", "fr"];

    fn discipline() -> impl Strategy<Value = Discipline> {
        prop::sample::select(Discipline::ALL[..4].to_vec())
    }

    fn roster_entry(index: usize) -> impl Strategy<Value = RosterEntry> {
        let status = prop::sample::select(vec![
            TrainingStatus::Trained,
            TrainingStatus::Trained,
            TrainingStatus::InTraining,
            TrainingStatus::Lapsed,
        ]);
        (
            (
                pick(CAMPUSES),
                pick(DEPARTMENTS),
                discipline(),
                prop::option::of(pick(SPECIALTIES)),
                seniority(),
                some_of(LANGUAGES),
                some_of(SPECIALTIES),
            ),
            (
                status,
                0..6_u32,
                availability(NEAR.map(date).to_vec(), DAYS.to_vec()),
            ),
            (gender(), prop::bool::weighted(0.1), 0..7_u32),
        )
            .prop_map(
                move |(
                    (campus, department, discipline, specialty, seniority, languages, interests),
                    (status, capacity, availability),
                    (gender, paused, open_cases),
                )| RosterEntry {
                    profile: SupporterProfile {
                        staff_id: format!("S-{index:02}"),
                        campus,
                        department,
                        discipline,
                        specialty,
                        seniority,
                        languages,
                        interests,
                        training: Training {
                            status,
                            completed_on: None,
                        },
                        capacity,
                        availability,
                    },
                    gender,
                    paused,
                    open_cases,
                },
            )
    }

    fn roster() -> impl Strategy<Value = Vec<RosterEntry>> {
        (0..30_usize).prop_flat_map(|size| (0..size).map(roster_entry).collect::<Vec<_>>())
    }

    fn preferences() -> impl Strategy<Value = Preferences> {
        (
            gender(),
            prop::option::of(pick(SPECIALTIES)),
            prop::option::of(prop::sample::select(vec![
                DepartmentPreference::OwnDepartment,
                DepartmentPreference::OtherDepartment,
            ])),
            prop::option::of(prop::sample::select(vec![
                SeniorityPreference::Similar,
                SeniorityPreference::MoreSenior,
            ])),
            prop::option::of(pick(LANGUAGES)),
        )
            .prop_map(
                |(gender, specialty, department, seniority, language)| Preferences {
                    channel: None,
                    supporter_gender: gender,
                    supporter_specialty: specialty,
                    supporter_department: department,
                    supporter_seniority: seniority,
                    supporter_language: language,
                },
            )
    }

    fn case_to_match() -> impl Strategy<Value = CaseToMatch> {
        (
            (
                0..35_usize,
                pick(DEPARTMENTS),
                discipline(),
                prop::option::of(seniority()),
            ),
            pick(CAMPUSES),
            preferences(),
            prop::collection::btree_set(0..35_usize, 0..6),
            prop::option::of(-3 * 1440..10 * 1440_i64),
        )
            .prop_map(
                |((member, department, discipline, seniority), campus, preferences, named, due)| {
                    CaseToMatch {
                        member: MemberProfile {
                            staff_id: format!("S-{member:02}"),
                            role: "Nurse".into(),
                            discipline,
                            department,
                            seniority,
                            involvement: Involvement::Primary,
                        },
                        campus,
                        preferences,
                        named_in_reports: named
                            .into_iter()
                            .map(|index| format!("S-{index:02}"))
                            .collect(),
                        // Minutes from now; resolved against `now` in each property.
                        first_contact_due: due.map(|minutes| {
                            DateTime::<Utc>::UNIX_EPOCH + Duration::minutes(minutes)
                        }),
                    }
                },
            )
    }

    fn weights() -> impl Strategy<Value = MatchingWeights> {
        prop::collection::vec(-10..60_i32, 7).prop_map(|w| MatchingWeights {
            same_campus: w[0],
            same_discipline: w[1],
            same_seniority: w[2],
            similar_seniority: w[3],
            different_department: w[4],
            preference: w[5],
            spare_capacity: w[6],
        })
    }

    /// A case, a roster, the same roster shuffled, weights, now and a zone.
    fn scene() -> impl Strategy<
        Value = (
            CaseToMatch,
            Vec<RosterEntry>,
            Vec<RosterEntry>,
            MatchingWeights,
            DateTime<Utc>,
            Tz,
        ),
    > {
        (
            case_to_match(),
            roster(),
            weights(),
            moment(),
            prop::sample::select(ZONES.to_vec()),
        )
            .prop_flat_map(|(mut case, roster, weights, now, zone)| {
                case.first_contact_due = case
                    .first_contact_due
                    .map(|offset| now + (offset - DateTime::<Utc>::UNIX_EPOCH));
                let shuffled = Just(roster.clone()).prop_shuffle();
                (
                    Just(case),
                    Just(roster),
                    shuffled,
                    Just(weights),
                    Just(now),
                    Just(zone),
                )
            })
    }

    fn weight_of(reason: &str, weights: &MatchingWeights) -> i32 {
        match reason {
            "same campus" => weights.same_campus,
            "same discipline" => weights.same_discipline,
            "same seniority" => weights.same_seniority,
            "similar seniority" => weights.similar_seniority,
            "different department" => weights.different_department,
            _ if reason.starts_with("matches preference: ") => weights.preference,
            _ if reason.starts_with("has room: ") => weights.spare_capacity,
            _ => panic!("unknown reason {reason:?}"),
        }
    }

    /// Whether some whole minute in `[from, until]` reads as available: the slow, obvious
    /// answer. Exact here because hours fall on quarter hours and the moments on minutes.
    fn available_by_the_minute(
        availability: &Availability,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
        zone: Tz,
    ) -> bool {
        let mut at = from;
        while at <= until {
            let reading = at.with_timezone(&zone).naive_local();
            let on_call = availability.on_call.is_empty()
                || availability
                    .on_call
                    .iter()
                    .any(|p| p.starts <= reading.date() && reading.date() <= p.ends);
            let in_hours = availability.weekly_hours.is_empty()
                || availability.weekly_hours.iter().any(|h| {
                    h.day.weekday() == reading.weekday()
                        && h.starts <= reading.time()
                        && reading.time() < h.ends
                });
            if on_call && in_hours {
                return true;
            }
            at += Duration::minutes(1);
        }
        false
    }

    proptest! {
        #![proptest_config(config())]

        #[test]
        fn every_supporter_is_listed_once_and_no_excluded_one_is_a_candidate(
            (case, roster, _shuffled, weights, now, zone) in scene()
        ) {
            let ranking = rank(&case, &roster, &weights, now, zone);
            let candidates: BTreeSet<_> =
                ranking.candidates.iter().map(|c| c.staff_id.clone()).collect();
            let excluded: BTreeSet<_> =
                ranking.excluded.iter().map(|e| e.staff_id.clone()).collect();
            prop_assert!(candidates.is_disjoint(&excluded));
            prop_assert_eq!(candidates.len() + excluded.len(), roster.len());
            prop_assert_eq!(ranking.candidates.len() + ranking.excluded.len(), roster.len());
            let mut listed: Vec<_> = candidates.union(&excluded).cloned().collect();
            let mut ids: Vec<_> = roster.iter().map(|e| e.profile.staff_id.clone()).collect();
            listed.sort();
            ids.sort();
            prop_assert_eq!(listed, ids);
            prop_assert!(ranking.excluded.windows(2).all(|w| w[0].staff_id <= w[1].staff_id));
        }

        #[test]
        fn no_candidate_breaks_a_rule(
            (case, roster, _shuffled, weights, now, zone) in scene()
        ) {
            let ranking = rank(&case, &roster, &weights, now, zone);
            for candidate in &ranking.candidates {
                let entry = roster
                    .iter()
                    .find(|e| e.profile.staff_id == candidate.staff_id)
                    .unwrap();
                prop_assert_ne!(&candidate.staff_id, &case.member.staff_id);
                prop_assert!(!case.named_in_reports.contains(&candidate.staff_id));
                prop_assert!(!entry.paused);
                prop_assert_eq!(entry.profile.training.status, TrainingStatus::Trained);
                prop_assert!(entry.open_cases < entry.profile.capacity);
                if case.preferences.supporter_department
                    != Some(DepartmentPreference::OwnDepartment)
                {
                    let member = &case.member.department;
                    prop_assert!(!same_words(&entry.profile.department, member));
                }
                if let Some(due) = case.first_contact_due {
                    prop_assert!(available_between(
                        &entry.profile.availability, now, due.max(now), zone
                    ));
                }
            }
        }

        #[test]
        fn ranking_is_deterministic_whatever_the_roster_order(
            (case, roster, shuffled, weights, now, zone) in scene()
        ) {
            let first = rank(&case, &roster, &weights, now, zone);
            prop_assert_eq!(&first, &rank(&case, &roster, &weights, now, zone));
            prop_assert_eq!(&first, &rank(&case, &shuffled, &weights, now, zone));
        }

        #[test]
        fn candidates_are_sorted_by_score_then_caseload_then_staff_id(
            (case, roster, _shuffled, weights, now, zone) in scene()
        ) {
            let ranking = rank(&case, &roster, &weights, now, zone);
            let open_cases = |id: &str| {
                roster.iter().find(|e| e.profile.staff_id == id).unwrap().open_cases
            };
            for pair in ranking.candidates.windows(2) {
                let key = |c: &Candidate| {
                    (std::cmp::Reverse(c.score), open_cases(&c.staff_id), c.staff_id.clone())
                };
                prop_assert!(key(&pair[0]) < key(&pair[1]));
            }
        }

        #[test]
        fn a_score_is_the_sum_of_the_weights_of_its_reasons(
            (case, roster, _shuffled, weights, now, zone) in scene()
        ) {
            for candidate in rank(&case, &roster, &weights, now, zone).candidates {
                let sum: i32 = candidate.reasons.iter().map(|r| weight_of(r, &weights)).sum();
                prop_assert_eq!(candidate.score, sum);
                prop_assert!(candidate.reasons.iter().all(|r| weight_of(r, &weights) != 0));
            }
        }

    }

    proptest! {
        #![proptest_config(Config { cases: 2000, ..config() })]

        #[test]
        fn availability_agrees_with_a_minute_by_minute_walk(
            (zone, from, availability) in near_a_clock_change().prop_flat_map(|(zone, from)| {
                let today = from.with_timezone(&zone).date_naive();
                let days = [today.pred_opt().unwrap(), today, today.succ_opt().unwrap()]
                    .map(|day| DAYS[day.weekday().num_days_from_monday() as usize]);
                (Just(zone), Just(from), availability(vec![today], days.to_vec()))
            }),
            minutes in prop_oneof![-60..6 * 60_i64, -60..2 * 1440_i64],
        ) {
            let until = from + Duration::minutes(minutes);
            prop_assert_eq!(from.second(), 0);
            prop_assert_eq!(
                available_between(&availability, from, until, zone),
                available_by_the_minute(&availability, from, until, zone)
            );
        }
    }
}
