use chrono_tz::America::Los_Angeles;
use chrono_tz::Europe::London;

use super::*;

fn date(text: &str) -> NaiveDate {
    text.parse().unwrap()
}

fn time(text: &str) -> NaiveTime {
    text.parse().unwrap()
}

/// Monday to Friday, 08:00 to 17:00, in San Francisco.
fn san_francisco() -> WorkingCalendar {
    WorkingCalendar {
        time_zone: Los_Angeles,
        ..WorkingCalendar::default()
    }
}

fn with_holidays(calendar: WorkingCalendar, holidays: &[&str]) -> WorkingCalendar {
    WorkingCalendar {
        holidays: holidays.iter().map(|day| date(day)).collect(),
        ..calendar
    }
}

/// A program whose working hours start at `starts` every day of the week: its day begins in
/// the hour the clocks skip or repeat.
fn every_day_from(time_zone: Tz, starts: &str) -> WorkingCalendar {
    WorkingCalendar {
        time_zone,
        working_days: WeekdaySet::ALL,
        day_starts: time(starts),
        ..WorkingCalendar::default()
    }
}

/// The instant a calendar's wall clock reads `text` ("2026-11-13 16:00"); the first one
/// when the reading repeats.
fn local(calendar: &WorkingCalendar, text: &str) -> DateTime<Utc> {
    let reading = NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M").unwrap();
    calendar
        .time_zone
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

/// How the calendar's wall clock shows an instant, with weekday and offset.
fn shown(calendar: &WorkingCalendar, at: DateTime<Utc>) -> String {
    at.with_timezone(&calendar.time_zone)
        .format("%a %Y-%m-%d %H:%M %Z")
        .to_string()
}

fn due(calendar: &WorkingCalendar, from: &str, days: u32) -> String {
    shown(
        calendar,
        calendar.add_working_days(local(calendar, from), days),
    )
}

const US_HOLIDAYS_2026: [&str; 4] = ["2026-11-26", "2026-11-27", "2026-12-25", "2027-01-01"];

#[test]
fn a_report_on_an_ordinary_weekday_is_due_two_working_days_later_at_the_same_time() {
    let sf = san_francisco();
    assert_eq!(due(&sf, "2026-11-17 10:00", 2), "Thu 2026-11-19 10:00 PST");
    assert_eq!(due(&sf, "2026-11-17 08:00", 1), "Wed 2026-11-18 08:00 PST");
}

#[test]
fn a_friday_afternoon_report_is_due_on_tuesday_afternoon() {
    assert_eq!(
        due(&san_francisco(), "2026-11-13 16:00", 2),
        "Tue 2026-11-17 16:00 PST"
    );
}

#[test]
fn an_evening_report_counts_from_the_next_morning() {
    let sf = san_francisco();
    // Friday evening counts from Monday 08:00: due Wednesday, not Tuesday.
    assert_eq!(due(&sf, "2026-11-13 18:00", 2), "Wed 2026-11-18 08:00 PST");
    assert_eq!(due(&sf, "2026-11-17 21:30", 2), "Fri 2026-11-20 08:00 PST");
    // 17:00 sharp is already the evening.
    assert_eq!(due(&sf, "2026-11-17 17:00", 2), "Fri 2026-11-20 08:00 PST");
    // Before the day starts counts from that day's start.
    assert_eq!(due(&sf, "2026-11-17 06:00", 2), "Thu 2026-11-19 08:00 PST");
    // No allowance at all: the start of the next working period.
    assert_eq!(due(&sf, "2026-11-17 21:30", 0), "Wed 2026-11-18 08:00 PST");
}

#[test]
fn a_weekend_report_counts_from_monday_morning() {
    let sf = san_francisco();
    assert_eq!(due(&sf, "2026-11-14 10:00", 2), "Wed 2026-11-18 08:00 PST");
    assert_eq!(due(&sf, "2026-11-15 23:59", 1), "Tue 2026-11-17 08:00 PST");
}

#[test]
fn thanksgiving_and_the_day_after_are_not_working_days() {
    let sf = with_holidays(san_francisco(), &US_HOLIDAYS_2026);
    assert!(!sf.is_working_day(date("2026-11-26")));
    assert!(!sf.is_working_day(date("2026-11-27")));
    assert!(!sf.is_working_day(date("2026-11-28")));
    assert!(sf.is_working_day(date("2026-11-25")));
    // Wednesday before Thanksgiving: Thursday to Sunday are off.
    assert_eq!(due(&sf, "2026-11-25 15:00", 2), "Tue 2026-12-01 15:00 PST");
    // Reported on Thanksgiving itself: counts from Monday 08:00.
    assert_eq!(due(&sf, "2026-11-26 11:00", 2), "Wed 2026-12-02 08:00 PST");
}

#[test]
fn christmas_and_new_year_are_skipped() {
    let sf = with_holidays(san_francisco(), &US_HOLIDAYS_2026);
    assert_eq!(due(&sf, "2026-12-24 14:00", 2), "Tue 2026-12-29 14:00 PST");
    assert_eq!(due(&sf, "2026-12-31 09:00", 2), "Tue 2027-01-05 09:00 PST");
    assert_eq!(due(&sf, "2026-12-25 12:00", 1), "Tue 2026-12-29 08:00 PST");
}

#[test]
fn a_working_day_starting_in_the_skipped_hour_starts_when_the_clocks_resume() {
    // Los Angeles skips 02:00 to 03:00 on Sunday 8 March 2026.
    let night_shift = every_day_from(Los_Angeles, "02:30");
    // 02:45 on Saturday plus one day would be 02:45 on Sunday, which never happens.
    assert_eq!(
        due(&night_shift, "2026-03-07 02:45", 1),
        "Sun 2026-03-08 03:00 PDT"
    );
    assert_eq!(
        night_shift.add_working_days(local(&night_shift, "2026-03-07 02:45"), 1),
        utc("2026-03-08 10:00")
    );
    // Friday evening counts from Saturday 02:30; one day on is Sunday's missing 02:30.
    assert_eq!(
        due(&night_shift, "2026-03-06 20:00", 1),
        "Sun 2026-03-08 03:00 PDT"
    );
    // Clock times on the far side of the change keep their wall-clock reading.
    assert_eq!(
        due(&night_shift, "2026-03-07 16:00", 2),
        "Mon 2026-03-09 16:00 PDT"
    );
    // Sunday's working day is an hour short: 03:00 PDT to 17:00 PDT.
    let sunday = (
        local(&night_shift, "2026-03-08 00:00"),
        local(&night_shift, "2026-03-09 00:00"),
    );
    assert_eq!(
        night_shift.working_seconds_between(sunday.0, sunday.1),
        14 * 3600
    );
}

#[test]
fn a_working_day_starting_in_the_repeated_hour_starts_at_its_first_occurrence() {
    // Los Angeles repeats 01:00 to 02:00 on Sunday 1 November 2026 (02:30 is not repeated,
    // so this program starts at 01:30).
    let night_shift = every_day_from(Los_Angeles, "01:30");
    assert_eq!(
        due(&night_shift, "2026-10-31 01:30", 1),
        "Sun 2026-11-01 01:30 PDT"
    );
    // 01:45 in the first pass keeps its reading; 01:15 in the second pass comes later, so it
    // counts as 02:00 rather than earning an earlier deadline.
    let first_pass = utc("2026-11-01 08:45");
    let second_pass = utc("2026-11-01 09:15");
    assert_eq!(shown(&night_shift, first_pass), "Sun 2026-11-01 01:45 PDT");
    assert_eq!(shown(&night_shift, second_pass), "Sun 2026-11-01 01:15 PST");
    assert_eq!(
        shown(&night_shift, night_shift.add_working_days(first_pass, 1)),
        "Mon 2026-11-02 01:45 PST"
    );
    assert_eq!(
        shown(&night_shift, night_shift.add_working_days(second_pass, 1)),
        "Mon 2026-11-02 02:00 PST"
    );
    // Sunday's working day is an hour long: 01:30 PDT to 17:00 PST.
    let sunday = (
        local(&night_shift, "2026-11-01 00:00"),
        local(&night_shift, "2026-11-02 00:00"),
    );
    assert_eq!(
        night_shift.working_seconds_between(sunday.0, sunday.1),
        16 * 3600 + 1800
    );
}

#[test]
fn deadlines_never_run_backwards_through_a_change_of_clocks() {
    for (calendar, night) in [
        (every_day_from(Los_Angeles, "01:30"), "2026-11-01 05:00"),
        (every_day_from(Los_Angeles, "02:30"), "2026-03-08 06:00"),
        (every_day_from(London, "01:30"), "2026-10-25 00:00"),
        (every_day_from(London, "01:30"), "2026-03-29 00:00"),
    ] {
        let mut previous = DateTime::<Utc>::MIN_UTC;
        for minute in 0..6 * 60 {
            let reported = utc(night) + Duration::minutes(minute);
            let deadline = calendar.add_working_days(reported, 1);
            assert!(
                deadline >= previous,
                "{} ran backwards",
                shown(&calendar, reported)
            );
            assert!(deadline > reported);
            previous = deadline;
        }
    }
}

#[test]
fn london_keeps_its_office_hours_through_both_clock_changes() {
    let london = WorkingCalendar {
        time_zone: London,
        day_starts: time("09:00"),
        ..WorkingCalendar::default()
    };
    // Friday in GMT, Tuesday in BST: still 16:00 on the office clock.
    assert_eq!(
        due(&london, "2026-03-27 16:00", 2),
        "Tue 2026-03-31 16:00 BST"
    );
    assert_eq!(
        london.add_working_days(utc("2026-03-27 16:00"), 2),
        utc("2026-03-31 15:00")
    );
    assert_eq!(
        due(&london, "2026-10-23 16:00", 2),
        "Tue 2026-10-27 16:00 GMT"
    );
    assert_eq!(
        london.add_working_days(utc("2026-10-23 15:00"), 2),
        utc("2026-10-27 16:00")
    );
    // London skips 01:00 to 02:00 on 29 March 2026.
    let night_shift = every_day_from(London, "01:30");
    assert_eq!(
        due(&night_shift, "2026-03-28 01:30", 1),
        "Sun 2026-03-29 02:00 BST"
    );
}

#[test]
fn an_urgent_page_does_not_wait_for_monday() {
    let urgent = DeadlinePolicy {
        calendar: san_francisco(),
        first_contact: Allowance::Minutes(30),
        ..DeadlinePolicy::default()
    };
    let sunday_night = local(&urgent.calendar, "2026-11-15 03:00");
    let due = urgent.first_contact_due(TriggerKind::Incident, sunday_night);
    assert_eq!(shown(&urgent.calendar, due), "Sun 2026-11-15 03:30 PST");
}

#[test]
fn hours_are_clock_hours_through_the_weekend() {
    let within_48_hours = DeadlinePolicy {
        first_contact: Allowance::Hours(48),
        ..DeadlinePolicy::default()
    };
    let due = within_48_hours.first_contact_due(TriggerKind::IReport, utc("2026-11-13 16:00"));
    assert_eq!(due, utc("2026-11-15 16:00"));
}

#[test]
fn an_incident_can_have_a_shorter_deadline_than_an_i_report() {
    let policy = DeadlinePolicy {
        calendar: san_francisco(),
        by_trigger: BTreeMap::from([("incident".to_string(), Allowance::Hours(24))]),
        ..DeadlinePolicy::default()
    };
    let friday = local(&policy.calendar, "2026-11-13 16:00");
    let incident = policy.first_contact_due(TriggerKind::Incident, friday);
    let i_report = policy.first_contact_due(TriggerKind::IReport, friday);
    assert_eq!(
        shown(&policy.calendar, incident),
        "Sat 2026-11-14 16:00 PST"
    );
    assert_eq!(
        shown(&policy.calendar, i_report),
        "Tue 2026-11-17 16:00 PST"
    );
    assert_eq!(
        policy.allowance(TriggerKind::IReport),
        Allowance::WorkingDays(2)
    );
}

#[test]
fn the_default_promise_is_two_working_days() {
    let policy = DeadlinePolicy::default();
    assert_eq!(policy.first_contact, Allowance::WorkingDays(2));
    assert_eq!(policy.calendar.time_zone, Tz::UTC);
    assert_eq!(
        policy.first_contact_due(TriggerKind::Incident, utc("2026-11-13 16:00")),
        utc("2026-11-17 16:00")
    );
    assert_eq!(policy.validate(), Ok(()));
}

#[test]
fn working_time_over_a_weekend_counts_only_friday_and_monday_hours() {
    let sf = san_francisco();
    let from = local(&sf, "2026-11-13 16:00");
    let to = local(&sf, "2026-11-16 10:00");
    assert_eq!(sf.working_seconds_between(from, to), 3 * 3600);
    assert_eq!(sf.working_seconds_between(to, from), 0);
    assert_eq!(sf.working_seconds_between(from, from), 0);
    // Inside one working period it is plain clock time.
    let morning = local(&sf, "2026-11-16 08:30");
    assert_eq!(sf.working_seconds_between(morning, to), 5400);
    // Entirely in the evening: none.
    assert_eq!(
        sf.working_seconds_between(
            local(&sf, "2026-11-16 18:00"),
            local(&sf, "2026-11-16 23:00")
        ),
        0
    );
}

#[test]
fn working_time_over_thanksgiving_skips_the_holidays() {
    let sf = with_holidays(san_francisco(), &US_HOLIDAYS_2026);
    let from = local(&sf, "2026-11-25 16:00");
    let to = local(&sf, "2026-11-30 09:00");
    assert_eq!(sf.working_seconds_between(from, to), 2 * 3600);
    assert_eq!(
        san_francisco().working_seconds_between(from, to),
        2 * 3600 + 2 * 9 * 3600
    );
}

#[test]
fn a_calendar_without_working_time_is_refused_and_hangs_nothing() {
    let never = WorkingCalendar {
        working_days: WeekdaySet::EMPTY,
        ..san_francisco()
    };
    assert_eq!(never.validate(), Err(CalendarError::NoWorkingDays));
    assert!(never
        .validate()
        .unwrap_err()
        .to_string()
        .contains("working_days"));

    let inverted = WorkingCalendar {
        day_starts: time("17:00"),
        day_ends: time("08:00"),
        ..san_francisco()
    };
    let error = inverted.validate().unwrap_err();
    assert_eq!(
        error,
        CalendarError::DayEndsNotAfterStart {
            day_starts: time("17:00"),
            day_ends: time("08:00")
        }
    );
    assert!(error.to_string().contains("day_ends"));
    let zero_length = WorkingCalendar {
        day_ends: time("08:00"),
        ..san_francisco()
    };
    assert!(zero_length.validate().is_err());

    let every_day_a_holiday = WorkingCalendar {
        holidays: date("2026-01-01").iter_days().take(4000).collect(),
        ..san_francisco()
    };

    let from = local(&never, "2026-11-13 16:00");
    let ten_years_on = date("2026-11-13") + Days::new(SCAN_LIMIT_DAYS);
    for calendar in [&never, &every_day_a_holiday] {
        let gave_up = calendar.add_working_days(from, u32::MAX);
        assert_eq!(calendar.local_date(gave_up), ten_years_on);
        assert_eq!(calendar.add_working_days(from, 2), gave_up);
        assert_eq!(
            calendar.working_seconds_between(from, from + Duration::days(365)),
            0
        );
    }
    // Inverted hours have no working time, but the days still count from day_starts.
    assert_eq!(
        due(&inverted, "2026-11-13 16:00", 2),
        "Tue 2026-11-17 17:00 PST"
    );
    assert_eq!(
        inverted.working_seconds_between(from, from + Duration::days(30)),
        0
    );
    // Even a sound calendar stops ten years on.
    let sf = san_francisco();
    assert_eq!(
        sf.local_date(sf.add_working_days(from, u32::MAX)),
        ten_years_on
    );
}

#[test]
fn a_calendar_reads_and_writes_as_configuration_spells_it() {
    let written = r#"{"time_zone":"America/Los_Angeles","working_days":["mon","tue","wed","thu","fri"],"day_starts":"08:00","day_ends":"17:00","holidays":["2026-12-25"]}"#;
    let calendar: WorkingCalendar = serde_json::from_str(written).unwrap();
    assert_eq!(calendar, with_holidays(san_francisco(), &["2026-12-25"]));
    assert_eq!(serde_json::to_string(&calendar).unwrap(), written);

    // Missing fields take the defaults; chrono's spellings of weekdays are understood.
    let partial: WorkingCalendar =
        serde_json::from_str(r#"{"working_days":["Sat","sunday"],"day_ends":"12:30:15"}"#).unwrap();
    assert_eq!(partial.time_zone, Tz::UTC);
    assert_eq!(
        partial.working_days,
        WeekdaySet::from_array([Weekday::Sat, Weekday::Sun])
    );
    assert_eq!(partial.day_ends, time("12:30:15"));
    let rewritten = serde_json::to_string(&partial).unwrap();
    assert!(
        rewritten.contains(r#""working_days":["sat","sun"]"#),
        "{rewritten}"
    );
    assert_eq!(
        serde_json::from_str::<WorkingCalendar>(&rewritten).unwrap(),
        partial
    );

    for wrong in [
        r#"{"time_zone":"America/San_Francisco"}"#,
        r#"{"working_days":["mon","funday"]}"#,
        r#"{"day_starts":"8 o'clock"}"#,
        r#"{"holidays":["25/12/2026"]}"#,
        r#"{"weekends":["sat"]}"#,
    ] {
        assert!(
            serde_json::from_str::<WorkingCalendar>(wrong).is_err(),
            "{wrong} was accepted"
        );
    }
}

#[test]
fn a_deadline_policy_reads_as_configuration_spells_it() {
    let written = r#"{"calendar":{"time_zone":"Europe/London"},"first_contact":{"working_days":2},"by_trigger":{"incident":{"minutes":30},"i_report":{"hours":48}}}"#;
    let policy: DeadlinePolicy = serde_json::from_str(written).unwrap();
    assert_eq!(policy.calendar.time_zone, London);
    assert_eq!(
        policy.allowance(TriggerKind::Incident),
        Allowance::Minutes(30)
    );
    assert_eq!(policy.allowance(TriggerKind::IReport), Allowance::Hours(48));
    let reread: DeadlinePolicy =
        serde_json::from_str(&serde_json::to_string(&policy).unwrap()).unwrap();
    assert_eq!(reread, policy);

    // A misspelt trigger would quietly lose the urgent override.
    let misspelt = r#"{"by_trigger":{"i-report":{"minutes":30}}}"#;
    let error = serde_json::from_str::<DeadlinePolicy>(misspelt)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("by_trigger") && error.contains("i-report"),
        "{error}"
    );
    assert!(serde_json::from_str::<DeadlinePolicy>(r#"{"first_contact":{"days":2}}"#).is_err());
}

/// Inside a working period of a working day, or exactly at its end.
fn lands_in_working_hours(calendar: &WorkingCalendar, at: DateTime<Utc>) -> bool {
    let day = calendar.local_date(at);
    let (start, end) = calendar.working_hours_on(day);
    calendar.is_working_day(day) && start <= at && at <= end
}

#[test]
fn over_a_year_deadlines_move_forward_and_land_in_working_hours() {
    let calendars = [
        with_holidays(san_francisco(), &US_HOLIDAYS_2026),
        every_day_from(Los_Angeles, "02:30"),
        every_day_from(Los_Angeles, "01:30"),
        WorkingCalendar {
            time_zone: London,
            day_starts: time("09:00"),
            ..WorkingCalendar::default()
        },
    ];
    // About 17.5 hours apart, so the instants fall at every time of day and week.
    let instants: Vec<_> = (0..500)
        .map(|i| utc("2026-01-01 00:00") + Duration::seconds(63_113 * i))
        .collect();
    for calendar in &calendars {
        for days in 1..=5 {
            let mut previous = DateTime::<Utc>::MIN_UTC;
            for &reported in &instants {
                let deadline = calendar.add_working_days(reported, days);
                let case = format!(
                    "{} + {days}: {}",
                    shown(calendar, reported),
                    shown(calendar, deadline)
                );
                assert!(deadline > reported, "not after the report: {case}");
                assert!(
                    deadline >= previous,
                    "earlier than a prior report's: {case}"
                );
                assert!(
                    lands_in_working_hours(calendar, deadline),
                    "outside working hours: {case}"
                );
                previous = deadline;
            }
        }
    }
}
