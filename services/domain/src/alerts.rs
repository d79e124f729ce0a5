//! When people are told about a case without anyone watching a screen: the assigned supporter
//! before first contact is due, the program managers when a case waits too long for a supporter,
//! and who is paged for an urgent case. Pure decisions; the process managers act on them.

use chrono::{DateTime, NaiveDate, Utc};
use outreach_events::supporter::Availability;
use serde::{Deserialize, Serialize};

use crate::deadline::WorkingCalendar;

/// A length of time as the program counts it: working hours in its calendar (a routine case's
/// reminder does not ring at 3 a.m. on a Sunday), or minutes on the clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Span {
    WorkingHours(u32),
    Minutes(u32),
}

impl Span {
    fn seconds(self) -> i64 {
        match self {
            Span::WorkingHours(hours) => i64::from(hours) * 3600,
            Span::Minutes(minutes) => i64::from(minutes) * 60,
        }
    }

    /// The time from `from` to `to` counted as this span counts (working or clock seconds;
    /// 0 when `to` is earlier).
    fn measure(self, calendar: &WorkingCalendar, from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
        match self {
            Span::WorkingHours(_) => calendar.working_seconds_between(from, to),
            Span::Minutes(_) => (to - from).num_seconds().max(0),
        }
    }
}

/// `[alerts]` timing: when the reminder and the managers' alert are due.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertTiming {
    /// The assigned supporter is reminded when no more than this is left before first contact
    /// is due (and none was attempted).
    pub remind_before: Span,
    /// The program managers are alerted when a case has waited this long for a supporter.
    pub unassigned_after: Span,
}

impl Default for AlertTiming {
    fn default() -> Self {
        Self {
            remind_before: Span::WorkingHours(4),
            unassigned_after: Span::WorkingHours(4),
        }
    }
}

impl AlertTiming {
    /// Whether the supporter of a case due at `due` is to be reminded at `now`: the deadline
    /// is ahead, and within `remind_before`.
    pub fn reminder_due(
        &self,
        calendar: &WorkingCalendar,
        due: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> bool {
        let lead = self.remind_before;
        now < due && lead.measure(calendar, now, due) <= lead.seconds()
    }

    /// Whether a case waiting for a supporter since `since` has waited too long at `now`.
    pub fn waited_too_long(
        &self,
        calendar: &WorkingCalendar,
        since: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> bool {
        let limit = self.unassigned_after;
        limit.measure(calendar, since, now) >= limit.seconds()
    }
}

/// A supporter as the on-call rota sees them.
#[derive(Debug, Clone, Copy)]
pub struct RotaEntry<'a> {
    pub staff_id: &'a str,
    pub campus: &'a str,
    pub availability: &'a Availability,
    /// Trained and not paused: takes new cases.
    pub takes_cases: bool,
}

impl RotaEntry<'_> {
    /// On call on `day`: the roster names an on-call period that holds it. A supporter with no
    /// on-call periods is available every week for routine cases, but on no one's rota.
    pub fn on_call(&self, day: NaiveDate) -> bool {
        self.takes_cases
            && self
                .availability
                .on_call
                .iter()
                .any(|period| period.starts <= day && day <= period.ends)
    }
}

/// Who is paged for an urgent case of `campus` on `day` (the program's local date): a supporter
/// on call that day who takes cases and is not the member, one of the case's campus first, then
/// the lowest staff id, so every instance pages the same person. `None`: nobody is on call.
pub fn on_call<'a>(
    rota: impl IntoIterator<Item = RotaEntry<'a>>,
    day: NaiveDate,
    campus: &str,
    member_staff_id: &str,
) -> Option<&'a str> {
    rota.into_iter()
        .filter(|entry| entry.on_call(day) && entry.staff_id != member_staff_id)
        .min_by_key(|entry| (entry.campus != campus, entry.staff_id))
        .map(|entry| entry.staff_id)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use outreach_events::supporter::DatePeriod;

    use super::*;

    /// Monday 23 November 2026 at `hour`, in the default calendar (UTC, 08:00 to 17:00).
    fn monday(hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, hour, 0, 0).unwrap()
    }

    #[test]
    fn the_reminder_comes_within_the_last_working_hours_before_the_deadline() {
        let timing = AlertTiming::default();
        let calendar = WorkingCalendar::default();
        // Due Tuesday 10:00: four working hours before is Monday 15:00.
        let due = monday(10) + chrono::Duration::days(1);
        assert!(!timing.reminder_due(&calendar, due, monday(14)));
        assert!(timing.reminder_due(&calendar, due, monday(15)));
        // The evening counts no working hours: still within them.
        assert!(timing.reminder_due(&calendar, due, monday(20)));
        assert!(!timing.reminder_due(&calendar, due, due));
        let clock = AlertTiming {
            remind_before: Span::Minutes(10),
            ..timing
        };
        assert!(!clock.reminder_due(&calendar, monday(10), monday(9)));
        assert!(clock.reminder_due(
            &calendar,
            monday(10),
            monday(10) - chrono::Duration::minutes(10)
        ));
    }

    #[test]
    fn a_case_waits_for_a_supporter_in_working_hours_or_on_the_clock() {
        let calendar = WorkingCalendar::default();
        let timing = AlertTiming::default();
        assert!(!timing.waited_too_long(&calendar, monday(9), monday(12)));
        assert!(timing.waited_too_long(&calendar, monday(9), monday(13)));
        // Opened Friday evening: the weekend counts no working hours.
        let friday_evening = Utc.with_ymd_and_hms(2026, 11, 20, 18, 0, 0).unwrap();
        assert!(!timing.waited_too_long(&calendar, friday_evening, monday(11)));
        let clock = AlertTiming {
            unassigned_after: Span::Minutes(0),
            ..timing
        };
        assert!(clock.waited_too_long(&calendar, monday(9), monday(9)));
    }

    #[test]
    fn the_supporter_on_call_that_day_is_paged_one_of_the_case_campus_first() {
        let day = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
        let week = Availability {
            weekly_hours: vec![],
            on_call: vec![DatePeriod {
                starts: day,
                ends: day + chrono::Duration::days(6),
            }],
        };
        let next_week = Availability {
            weekly_hours: vec![],
            on_call: vec![DatePeriod {
                starts: day + chrono::Duration::days(7),
                ends: day + chrono::Duration::days(13),
            }],
        };
        let always = Availability::default();
        let entry = |staff_id, campus, availability, takes_cases| RotaEntry {
            staff_id,
            campus,
            availability,
            takes_cases,
        };
        let rota = [
            entry("S1", "Mission Bay", &week, true),
            entry("S2", "Parnassus", &week, false),
            entry("S3", "Parnassus", &next_week, true),
            entry("S4", "Parnassus", &always, true),
            entry("S5", "Parnassus", &week, true),
        ];
        assert_eq!(on_call(rota, day, "Parnassus", "E1"), Some("S5"));
        assert_eq!(on_call(rota, day, "Mount Zion", "E1"), Some("S1"));
        assert_eq!(on_call(rota, day, "Parnassus", "S5"), Some("S1"));
        assert_eq!(
            on_call(rota, day - chrono::Duration::days(1), "Parnassus", "E1"),
            None
        );
    }
}
