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
#[path = "deadline_tests.rs"]
mod tests;
