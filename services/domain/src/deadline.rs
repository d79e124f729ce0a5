//! When first contact is due, and the working calendar it is counted in.
//!
//! Programs promise first contact "usually within two working days" (seed 000), within 24 to
//! 48 hours (ChristianaCare), or within 30 minutes for an urgent page (Lurie Children's RISE).
//! Working days follow the program's calendar; hours and minutes are clock time.
//!
//! How the calendar counts:
//! - A working period runs from `day_starts` (included) to `day_ends` (excluded), local time,
//!   on a working day. A report at 17:00 sharp is an evening report.
//! - A moment inside a working period counts from its own wall-clock time; any other moment
//!   (evening, early morning, weekend, holiday) counts from the start of the next working
//!   period. N working days later is the same wall-clock time on the N-th following working day:
//!   Friday 16:00 + 2 = Tuesday 16:00, Friday 18:00 + 2 = Wednesday 08:00 (it counts from
//!   Monday 08:00), Saturday 10:00 + 2 = Wednesday 08:00.
//! - A wall-clock time the clocks skip (spring forward) means the first instant after the gap;
//!   one they repeat (fall back) means its first occurrence. A moment in the second pass of a
//!   repeated hour counts as the time the clocks went back from (e.g. 02:00), so a later report
//!   never gets an earlier deadline.
//! - No walk looks further than [`SCAN_LIMIT_DAYS`] ahead, so a calendar with no working time
//!   (see [`WorkingCalendar::validate`]) gives far-off answers instead of hanging.

use std::collections::BTreeMap;
use std::collections::BTreeSet;

use chrono::{
    DateTime, Datelike, Days, Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Timelike,
    Utc, Weekday, WeekdaySet,
};
use chrono_tz::Tz;
use outreach_events::TriggerKind;
use serde::{Deserialize, Serialize};

/// How far ahead any calendar walk looks: ten years, far beyond any first-contact allowance.
pub const SCAN_LIMIT_DAYS: u64 = 3660;

/// When the program works: its time zone, working days, working hours and public holidays.
///
/// Written in configuration as
/// `{"time_zone": "America/Los_Angeles", "working_days": ["mon", "tue", "wed", "thu", "fri"],
/// "day_starts": "08:00", "day_ends": "17:00", "holidays": ["2026-12-25"]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WorkingCalendar {
    /// An IANA time zone name, e.g. `America/Los_Angeles`.
    pub time_zone: Tz,
    /// `chrono::Weekday` has no order, so a `WeekdaySet` rather than a `BTreeSet`.
    #[serde(with = "weekday_names")]
    pub working_days: WeekdaySet,
    #[serde(with = "wall_clock")]
    pub day_starts: NaiveTime,
    #[serde(with = "wall_clock")]
    pub day_ends: NaiveTime,
    pub holidays: BTreeSet<NaiveDate>,
}

impl Default for WorkingCalendar {
    /// UTC, Monday to Friday, 08:00 to 17:00, no holidays.
    fn default() -> Self {
        Self {
            time_zone: Tz::UTC,
            working_days: WeekdaySet::from_array([
                Weekday::Mon,
                Weekday::Tue,
                Weekday::Wed,
                Weekday::Thu,
                Weekday::Fri,
            ]),
            day_starts: NaiveTime::from_hms_opt(8, 0, 0).expect("08:00 is a time"),
            day_ends: NaiveTime::from_hms_opt(17, 0, 0).expect("17:00 is a time"),
            holidays: BTreeSet::new(),
        }
    }
}

/// A calendar in which no working time can ever be found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    #[error("working_days is empty: the program would never be at work")]
    NoWorkingDays,
    #[error("day_ends ({day_ends}) must be later than day_starts ({day_starts})")]
    DayEndsNotAfterStart {
        day_starts: NaiveTime,
        day_ends: NaiveTime,
    },
}

impl WorkingCalendar {
    /// Checks the calendar has working time; meant for loading configuration.
    pub fn validate(&self) -> Result<(), CalendarError> {
        if self.working_days.is_empty() {
            return Err(CalendarError::NoWorkingDays);
        }
        if self.day_ends <= self.day_starts {
            return Err(CalendarError::DayEndsNotAfterStart {
                day_starts: self.day_starts,
                day_ends: self.day_ends,
            });
        }
        Ok(())
    }

    /// Is `date` a working day (a working weekday and not a holiday)?
    pub fn is_working_day(&self, date: NaiveDate) -> bool {
        self.working_days.contains(date.weekday()) && !self.holidays.contains(&date)
    }

    /// `days` working days after `from`, counted as the module documentation describes: the same
    /// local wall-clock time on the `days`-th working day after the working moment `from` falls
    /// on, where a `from` outside working hours first moves to the start of the next working
    /// period (so `days = 0` gives that start). Never further than [`SCAN_LIMIT_DAYS`] after
    /// `from`'s local date: a calendar without working time ends there.
    pub fn add_working_days(&self, from: DateTime<Utc>, days: u32) -> DateTime<Utc> {
        let scan_end = self.scan_end(from);
        let Some((mut day, time)) = self.working_moment(from, scan_end) else {
            return self.instant(scan_end.and_time(self.day_starts));
        };
        // Each step moves at least a day and stops at `scan_end`, whatever `days` is.
        for _ in 0..days {
            let Some(next) = self.next_working_day(day, scan_end) else {
                return self.instant(scan_end.and_time(time));
            };
            day = next;
        }
        self.instant(day.and_time(time))
    }

    /// Working time (within working hours on working days) between two instants, in seconds;
    /// 0 when `to <= from`. For statistics ("time to first contact in working hours"). Counts
    /// at most [`SCAN_LIMIT_DAYS`] of calendar from `from`.
    pub fn working_seconds_between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
        if to <= from {
            return 0;
        }
        let last_day = self.scan_end(from).min(self.local_date(to));
        self.local_date(from)
            .iter_days()
            .take_while(|day| *day <= last_day)
            .filter(|day| self.is_working_day(*day))
            .map(|day| {
                let (start, end) = self.working_hours_on(day);
                (end.min(to) - start.max(from)).max(Duration::zero())
            })
            .sum::<Duration>()
            .num_seconds()
    }

    fn local_date(&self, at: DateTime<Utc>) -> NaiveDate {
        at.with_timezone(&self.time_zone).date_naive()
    }

    fn scan_end(&self, from: DateTime<Utc>) -> NaiveDate {
        self.local_date(from)
            .checked_add_days(Days::new(SCAN_LIMIT_DAYS))
            .unwrap_or(NaiveDate::MAX)
    }

    /// The working period of `day` as instants; empty when the calendar's hours are inverted.
    fn working_hours_on(&self, day: NaiveDate) -> (DateTime<Utc>, DateTime<Utc>) {
        (
            self.instant(day.and_time(self.day_starts)),
            self.instant(day.and_time(self.day_ends)),
        )
    }

    /// The first working day after `day`, if there is one by `scan_end`.
    fn next_working_day(&self, day: NaiveDate, scan_end: NaiveDate) -> Option<NaiveDate> {
        day.iter_days()
            .skip(1)
            .take_while(|next| *next <= scan_end)
            .find(|next| self.is_working_day(*next))
    }

    /// The working day and wall-clock time that `at` counts from: its own inside working hours,
    /// otherwise the start of the next working period (none by `scan_end`: `None`).
    fn working_moment(
        &self,
        at: DateTime<Utc>,
        scan_end: NaiveDate,
    ) -> Option<(NaiveDate, NaiveTime)> {
        let today = self.local_date(at);
        if self.is_working_day(today) {
            let (start, end) = self.working_hours_on(today);
            if at < start {
                return Some((today, self.day_starts));
            }
            if at < end {
                return Some((today, self.wall_clock_at(at)));
            }
        }
        Some((self.next_working_day(today, scan_end)?, self.day_starts))
    }

    /// The wall-clock time `at` counts as: the earliest one whose instant is not before `at`.
    /// That is the clock's reading, except in the second pass of a repeated hour, which counts
    /// as the reading the clocks went back from, so counting never runs backwards.
    fn wall_clock_at(&self, at: DateTime<Utc>) -> NaiveTime {
        let reading = at.with_timezone(&self.time_zone).naive_local();
        let in_second_pass = self.earliest(reading).is_some_and(|first| first < at);
        if in_second_pass {
            if let Some(after_repeat) =
                self.first_wall_clock_where(reading, |instant| instant >= at)
            {
                return after_repeat.time();
            }
        }
        reading.time()
    }

    /// The instant a local wall-clock time names. A time the clocks skip names the first
    /// instant after the gap; a time they repeat names its first occurrence.
    fn instant(&self, local: NaiveDateTime) -> DateTime<Utc> {
        self.earliest(local)
            .or_else(|| {
                let after_gap = self.first_wall_clock_where(local, |_| true)?;
                self.earliest(after_gap)
            })
            // Only out at the ends of chrono's range; any answer beats a panic there.
            .unwrap_or_else(|| local.and_utc())
    }

    fn earliest(&self, local: NaiveDateTime) -> Option<DateTime<Utc>> {
        self.time_zone
            .from_local_datetime(&local)
            .earliest()
            .map(|at| at.to_utc())
    }

    /// The first whole-second wall-clock time from `start` that exists and whose first
    /// occurrence satisfies `accept`, searching 26 hours on; `accept` must stay true once true.
    /// Time zone changes fall on whole seconds and no gap or repeat lasts longer than a day
    /// (Samoa skipped 30 December 2011), so this finds the end of any gap or repeated hour.
    fn first_wall_clock_where(
        &self,
        start: NaiveDateTime,
        accept: impl Fn(DateTime<Utc>) -> bool,
    ) -> Option<NaiveDateTime> {
        let start = start.with_nanosecond(0)?;
        let at = |seconds: i64| start.checked_add_signed(Duration::seconds(seconds));
        let holds = |seconds: i64| {
            at(seconds)
                .and_then(|local| self.earliest(local))
                .is_some_and(&accept)
        };
        // Invariant: `holds(found)`, and nothing at or before `not_yet` holds.
        let (mut not_yet, mut found) = (0_i64, 26 * 3600);
        if holds(not_yet) {
            return Some(start);
        }
        if !holds(found) {
            return None;
        }
        while found - not_yet > 1 {
            let middle = not_yet + (found - not_yet) / 2;
            if holds(middle) {
                found = middle;
            } else {
                not_yet = middle;
            }
        }
        at(found)
    }
}

/// How long the program allows until first contact. Written `{"working_days": 2}`,
/// `{"hours": 48}` or `{"minutes": 30}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Allowance {
    /// Counted in the program's working calendar.
    WorkingDays(u32),
    /// Clock time, nights and weekends included.
    Hours(u32),
    /// Clock time: an urgent page does not wait for Monday.
    Minutes(u32),
}

/// The program's promise of first contact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeadlinePolicy {
    pub calendar: WorkingCalendar,
    /// The allowance for triggers `by_trigger` does not name.
    pub first_contact: Allowance,
    /// Allowances for particular trigger kinds, keyed by `TriggerKind::as_str()` ("incident",
    /// "i_report"). A misspelt key is refused when read: it would silently lose the override.
    #[serde(deserialize_with = "trigger_kind_names::deserialize")]
    pub by_trigger: BTreeMap<String, Allowance>,
}

impl Default for DeadlinePolicy {
    /// "Usually within two working days" (seed 000), in the default calendar.
    fn default() -> Self {
        Self {
            calendar: WorkingCalendar::default(),
            first_contact: Allowance::WorkingDays(2),
            by_trigger: BTreeMap::new(),
        }
    }
}

impl DeadlinePolicy {
    /// Checks the calendar has working time; meant for loading configuration.
    pub fn validate(&self) -> Result<(), CalendarError> {
        self.calendar.validate()
    }

    /// The allowance for a case of `trigger`.
    pub fn allowance(&self, trigger: TriggerKind) -> Allowance {
        self.by_trigger
            .get(trigger.as_str())
            .copied()
            .unwrap_or(self.first_contact)
    }

    /// When first contact is due for a case of `trigger` opened at `opened_at`. Hours and
    /// minutes are clock time (an urgent page does not wait for Monday); working days follow
    /// the calendar.
    pub fn first_contact_due(
        &self,
        trigger: TriggerKind,
        opened_at: DateTime<Utc>,
    ) -> DateTime<Utc> {
        self.due_after(self.allowance(trigger), opened_at)
    }

    /// `allowance` after `opened_at`: working days in the calendar, hours and minutes on the
    /// clock (the urgency policy's allowance is counted here too).
    pub fn due_after(&self, allowance: Allowance, opened_at: DateTime<Utc>) -> DateTime<Utc> {
        let clock = |allowed: Duration| {
            opened_at
                .checked_add_signed(allowed)
                .unwrap_or(DateTime::<Utc>::MAX_UTC)
        };
        match allowance {
            Allowance::WorkingDays(days) => self.calendar.add_working_days(opened_at, days),
            Allowance::Hours(hours) => clock(Duration::hours(hours.into())),
            Allowance::Minutes(minutes) => clock(Duration::minutes(minutes.into())),
        }
    }
}

/// Working days as program managers write them: `["mon", "tue", "wed", "thu", "fri"]`.
/// Reading also accepts chrono's other spellings ("Mon", "monday").
mod weekday_names {
    use chrono::{Weekday, WeekdaySet};
    use serde::de::{Error, Unexpected};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(days: &WeekdaySet, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(days.iter(Weekday::Mon).map(short_name))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<WeekdaySet, D::Error> {
        Vec::<String>::deserialize(deserializer)?
            .iter()
            .map(|name| {
                name.parse::<Weekday>().map_err(|_| {
                    D::Error::invalid_value(Unexpected::Str(name), &"a weekday such as \"mon\"")
                })
            })
            .collect()
    }

    fn short_name(day: Weekday) -> &'static str {
        match day {
            Weekday::Mon => "mon",
            Weekday::Tue => "tue",
            Weekday::Wed => "wed",
            Weekday::Thu => "thu",
            Weekday::Fri => "fri",
            Weekday::Sat => "sat",
            Weekday::Sun => "sun",
        }
    }
}

/// Wall-clock times as `"08:00"`; seconds only when there are some.
mod wall_clock {
    use chrono::{NaiveTime, Timelike};
    use serde::de::{Error, Unexpected};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(time: &NaiveTime, serializer: S) -> Result<S::Ok, S::Error> {
        if time.second() == 0 && time.nanosecond() == 0 {
            serializer.collect_str(&format_args!("{:02}:{:02}", time.hour(), time.minute()))
        } else {
            serializer.collect_str(time)
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<NaiveTime, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(|_| {
            D::Error::invalid_value(Unexpected::Str(&text), &"a time of day such as \"08:00\"")
        })
    }
}

/// `by_trigger` keys, checked against the trigger kinds' own names.
mod trigger_kind_names {
    use std::collections::BTreeMap;

    use outreach_events::TriggerKind;
    use serde::de::{value, Error, IntoDeserializer};
    use serde::{Deserialize, Deserializer};

    use super::Allowance;

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<BTreeMap<String, Allowance>, D::Error> {
        let by_trigger = BTreeMap::<String, Allowance>::deserialize(deserializer)?;
        for name in by_trigger.keys() {
            // TriggerKind's serde names are its `as_str` names, and stay in step with new kinds.
            TriggerKind::deserialize(name.as_str().into_deserializer()).map_err(
                |error: value::Error| D::Error::custom(format_args!("by_trigger: {error}")),
            )?;
        }
        Ok(by_trigger)
    }
}

#[cfg(test)]
mod tests {
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
            serde_json::from_str(r#"{"working_days":["Sat","sunday"],"day_ends":"12:30:15"}"#)
                .unwrap();
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
}
