//! Who may be offered to support a member, and in what order: the pure matching policy.
//!
//! Program managers match on campus, clinical background, seniority, practice and availability,
//! never with someone from the member's own department unless the member asks (DOMAIN.md,
//! "The workflow the programs describe").
//!
//! - Scores are whole points, not floats, so ranking is exact and the same on every machine;
//!   ties go to the lighter caseload, then the lower staff id: one input, one order.
//! - A supporter who must not be offered is listed once, with the first reason in
//!   [`ExclusionReason`]'s order: the manager reads one plain reason, and the cheap checks spare
//!   the calendar walk.
//! - Every point comes with its reason in words, so a manager sees why someone ranks where.
//!
//! Text (campus, department, specialty, interests, language) compares trimmed and ignoring case;
//! a blank value matches nothing. Staff ids compare exactly, as the hospital issues them.

use std::collections::BTreeSet;

use chrono::{
    DateTime, Datelike, Days, Duration, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, Offset,
};
use chrono::{TimeZone, Utc, Weekday};
use chrono_tz::Tz;
use outreach_events::care_team_member::{
    DepartmentPreference, Gender, Preferences, SeniorityPreference,
};
use outreach_events::supporter::{Availability, SupporterProfile, TrainingStatus};
use outreach_events::{MemberProfile, Seniority};
use serde::{Deserialize, Serialize};

/// How far past its start an availability walk looks: a year. A later moment is not considered,
/// so a supporter whose only on-call week is over a year away counts as unavailable.
pub const AVAILABILITY_SCAN_DAYS: u64 = 366;

/// Points for each reason a supporter suits a member. A weight of 0 switches its reason off
/// (it is then neither scored nor listed); a partial table keeps the defaults for the rest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MatchingWeights {
    /// "same campus". Default 30.
    pub same_campus: i32,
    /// "same discipline": the same clinical background. Default 25.
    pub same_discipline: i32,
    /// "same seniority": exactly the member's level. Default 20.
    pub same_seniority: i32,
    /// "similar seniority": one level above or below. Default 10.
    pub similar_seniority: i32,
    /// "different department": the programs' default. Default 10. Not given when the member
    /// stated a department preference: that preference scores instead, so nothing counts twice.
    pub different_department: i32,
    /// Each stated preference the supporter meets: "matches preference: specialty",
    /// "department", "gender", "seniority" or "language". Default 40.
    pub preference: i32,
    /// "has room: N of M cases", when the supporter holds at most half their capacity. Default 5.
    pub spare_capacity: i32,
}

impl Default for MatchingWeights {
    fn default() -> Self {
        Self {
            same_campus: 30,
            same_discipline: 25,
            same_seniority: 20,
            similar_seniority: 10,
            different_department: 10,
            preference: 40,
            spare_capacity: 5,
        }
    }
}

/// What matching needs to know about one open case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseToMatch {
    pub member: MemberProfile,
    /// The campus of the event.
    pub campus: String,
    pub preferences: Preferences,
    /// Staff ids named in any report linked to the case (the member's colleagues in the event).
    pub named_in_reports: BTreeSet<String>,
    /// When first contact is due; `None`: no deadline, and availability is not checked.
    pub first_contact_due: Option<DateTime<Utc>>,
}

/// One supporter on the roster as matching sees them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RosterEntry {
    pub profile: SupporterProfile,
    pub gender: Option<Gender>,
    pub paused: bool,
    pub open_cases: u32,
}

/// Everyone on the roster, once: as a candidate, best first, or as excluded, by staff id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ranking {
    pub candidates: Vec<Candidate>,
    pub excluded: Vec<Exclusion>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Candidate {
    pub staff_id: String,
    /// The sum of the weights of `reasons`.
    pub score: i32,
    /// Why, in words, in a fixed order (campus, discipline, seniority, department,
    /// preferences, room).
    pub reasons: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exclusion {
    pub staff_id: String,
    pub reason: ExclusionReason,
}

/// Why a supporter is not offered, in the order the rules are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExclusionReason {
    IsTheMember,
    NamedInSameReport,
    /// Unless the member asked for someone from their own department.
    SameDepartment,
    Paused,
    /// In training, or the refresher has lapsed.
    NotTrained,
    AtCapacity,
    /// No available moment between now and the first-contact deadline (or, for an overdue
    /// case, not available now).
    UnavailableUntilDeadline,
}

impl ExclusionReason {
    pub const ALL: [ExclusionReason; 7] = [
        ExclusionReason::IsTheMember,
        ExclusionReason::NamedInSameReport,
        ExclusionReason::SameDepartment,
        ExclusionReason::Paused,
        ExclusionReason::NotTrained,
        ExclusionReason::AtCapacity,
        ExclusionReason::UnavailableUntilDeadline,
    ];

    /// As serialized.
    pub fn code(&self) -> &'static str {
        match self {
            ExclusionReason::IsTheMember => "is-the-member",
            ExclusionReason::NamedInSameReport => "named-in-same-report",
            ExclusionReason::SameDepartment => "same-department",
            ExclusionReason::Paused => "paused",
            ExclusionReason::NotTrained => "not-trained",
            ExclusionReason::AtCapacity => "at-capacity",
            ExclusionReason::UnavailableUntilDeadline => "unavailable-until-deadline",
        }
    }

    /// As a program manager reads it.
    pub fn words(&self) -> &'static str {
        match self {
            ExclusionReason::IsTheMember => "is the member",
            ExclusionReason::NamedInSameReport => "named in the same report",
            ExclusionReason::SameDepartment => "same department as the member",
            ExclusionReason::Paused => "paused",
            ExclusionReason::NotTrained => "not trained",
            ExclusionReason::AtCapacity => "at capacity",
            ExclusionReason::UnavailableUntilDeadline => "unavailable until the contact deadline",
        }
    }
}

/// Ranks the roster for one case at `now`; availability is read in `time_zone`.
///
/// Staff ids are unique on a roster. An overdue case (deadline at or before `now`) needs
/// someone available now.
pub fn rank(
    case: &CaseToMatch,
    roster: &[RosterEntry],
    weights: &MatchingWeights,
    now: DateTime<Utc>,
    time_zone: Tz,
) -> Ranking {
    let span = case
        .first_contact_due
        .map(|due| Span::new(now, due.max(now), time_zone));
    let mut matched: Vec<(Found, &RosterEntry)> = Vec::with_capacity(roster.len());
    let mut excluded = Vec::new();
    for entry in roster {
        match exclusion(case, entry, span.as_ref()) {
            Some(reason) => excluded.push(Exclusion {
                staff_id: entry.profile.staff_id.clone(),
                reason,
            }),
            None => matched.push((found(case, entry, weights), entry)),
        }
    }
    matched.sort_by(|(found_a, a), (found_b, b)| {
        found_b
            .score
            .cmp(&found_a.score)
            .then(a.open_cases.cmp(&b.open_cases))
            .then_with(|| a.profile.staff_id.cmp(&b.profile.staff_id))
    });
    excluded.sort_by(|a, b| a.staff_id.cmp(&b.staff_id).then(a.reason.cmp(&b.reason)));
    let candidates = matched
        .into_iter()
        .map(|(found, entry)| Candidate {
            staff_id: entry.profile.staff_id.clone(),
            score: found.score,
            reasons: found.words(entry),
        })
        .collect();
    Ranking {
        candidates,
        excluded,
    }
}

/// Whether the availability has any moment in `[from, until]`, read as wall-clock time in
/// `time_zone`: on a date within an on-call period (if any are given; dates inclusive) and within
/// weekly hours (if any are given; `starts` included, `ends` excluded, `ends <= starts` empty).
///
/// Exact through clock changes: an hour the clocks skip is in nobody's hours, an hour they repeat
/// is in them both times. Looks at most [`AVAILABILITY_SCAN_DAYS`] past `from`, and not within a
/// day of the ends of chrono's calendar; `until` before `from` is an empty span.
pub fn available_between(
    availability: &Availability,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
    time_zone: Tz,
) -> bool {
    Span::new(from, until, time_zone).admits(availability)
}

fn exclusion(
    case: &CaseToMatch,
    entry: &RosterEntry,
    span: Option<&Span>,
) -> Option<ExclusionReason> {
    let profile = &entry.profile;
    let own_department_asked =
        case.preferences.supporter_department == Some(DepartmentPreference::OwnDepartment);
    let reason = if profile.staff_id == case.member.staff_id {
        ExclusionReason::IsTheMember
    } else if case.named_in_reports.contains(&profile.staff_id) {
        ExclusionReason::NamedInSameReport
    } else if !own_department_asked && same_words(&profile.department, &case.member.department) {
        ExclusionReason::SameDepartment
    } else if entry.paused {
        ExclusionReason::Paused
    } else if profile.training.status != TrainingStatus::Trained {
        ExclusionReason::NotTrained
    } else if entry.open_cases >= profile.capacity {
        ExclusionReason::AtCapacity
    } else if span.is_some_and(|span| !span.admits(&profile.availability)) {
        ExclusionReason::UnavailableUntilDeadline
    } else {
        return None;
    };
    Some(reason)
}

/// The reasons a candidate scores for, in the order they are listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reason {
    SameCampus,
    SameDiscipline,
    SameSeniority,
    SimilarSeniority,
    DifferentDepartment,
    PreferredSpecialty,
    PreferredDepartment,
    PreferredGender,
    PreferredSeniority,
    PreferredLanguage,
    SpareCapacity,
}

impl Reason {
    const ALL: [Reason; 11] = [
        Reason::SameCampus,
        Reason::SameDiscipline,
        Reason::SameSeniority,
        Reason::SimilarSeniority,
        Reason::DifferentDepartment,
        Reason::PreferredSpecialty,
        Reason::PreferredDepartment,
        Reason::PreferredGender,
        Reason::PreferredSeniority,
        Reason::PreferredLanguage,
        Reason::SpareCapacity,
    ];

    fn bit(self) -> u16 {
        1 << self as u16
    }

    fn weight(self, weights: &MatchingWeights) -> i32 {
        match self {
            Reason::SameCampus => weights.same_campus,
            Reason::SameDiscipline => weights.same_discipline,
            Reason::SameSeniority => weights.same_seniority,
            Reason::SimilarSeniority => weights.similar_seniority,
            Reason::DifferentDepartment => weights.different_department,
            Reason::PreferredSpecialty
            | Reason::PreferredDepartment
            | Reason::PreferredGender
            | Reason::PreferredSeniority
            | Reason::PreferredLanguage => weights.preference,
            Reason::SpareCapacity => weights.spare_capacity,
        }
    }

    fn words(self, entry: &RosterEntry) -> String {
        match self {
            Reason::SameCampus => "same campus".into(),
            Reason::SameDiscipline => "same discipline".into(),
            Reason::SameSeniority => "same seniority".into(),
            Reason::SimilarSeniority => "similar seniority".into(),
            Reason::DifferentDepartment => "different department".into(),
            Reason::PreferredSpecialty => "matches preference: specialty".into(),
            Reason::PreferredDepartment => "matches preference: department".into(),
            Reason::PreferredGender => "matches preference: gender".into(),
            Reason::PreferredSeniority => "matches preference: seniority".into(),
            Reason::PreferredLanguage => "matches preference: language".into(),
            Reason::SpareCapacity => format!(
                "has room: {} of {} cases",
                entry.open_cases, entry.profile.capacity
            ),
        }
    }
}

/// A candidate's reasons as bits of [`Reason::ALL`], and their points; words come after sorting.
#[derive(Debug, Clone, Copy, Default)]
struct Found {
    score: i32,
    reasons: u16,
}

impl Found {
    fn words(self, entry: &RosterEntry) -> Vec<String> {
        Reason::ALL
            .iter()
            .filter(|reason| self.reasons & reason.bit() != 0)
            .map(|reason| reason.words(entry))
            .collect()
    }
}

fn found(case: &CaseToMatch, entry: &RosterEntry, weights: &MatchingWeights) -> Found {
    let profile = &entry.profile;
    let member = &case.member;
    let preferences = &case.preferences;
    let mut found = Found::default();
    let mut give = |reason: Reason, applies: bool| {
        let points = reason.weight(weights);
        if applies && points != 0 {
            found.reasons |= reason.bit();
            found.score = found.score.saturating_add(points);
        }
    };

    give(
        Reason::SameCampus,
        same_words(&profile.campus, &case.campus),
    );
    give(
        Reason::SameDiscipline,
        profile.discipline == member.discipline,
    );
    let levels_apart = member
        .seniority
        .map(|level| (rung(profile.seniority) - rung(level)).abs());
    give(Reason::SameSeniority, levels_apart == Some(0));
    give(Reason::SimilarSeniority, levels_apart == Some(1));

    let same_department = same_words(&profile.department, &member.department);
    let different_department =
        !is_blank(&profile.department) && !is_blank(&member.department) && !same_department;
    give(
        Reason::DifferentDepartment,
        preferences.supporter_department.is_none() && different_department,
    );

    let specialty = preferences.supporter_specialty.as_deref();
    give(
        Reason::PreferredSpecialty,
        specialty.is_some_and(|wanted| {
            profile
                .specialty
                .as_deref()
                .is_some_and(|specialty| same_words(specialty, wanted))
                || profile
                    .interests
                    .iter()
                    .any(|interest| same_words(interest, wanted))
        }),
    );
    give(
        Reason::PreferredDepartment,
        match preferences.supporter_department {
            Some(DepartmentPreference::OwnDepartment) => same_department,
            Some(DepartmentPreference::OtherDepartment) => different_department,
            None => false,
        },
    );
    give(
        Reason::PreferredGender,
        preferences
            .supporter_gender
            .is_some_and(|wanted| entry.gender == Some(wanted)),
    );
    give(
        Reason::PreferredSeniority,
        match (preferences.supporter_seniority, member.seniority) {
            (Some(SeniorityPreference::Similar), Some(_)) => {
                levels_apart.is_some_and(|apart| apart <= 1)
            }
            (Some(SeniorityPreference::MoreSenior), Some(level)) => profile.seniority > level,
            _ => false,
        },
    );
    give(
        Reason::PreferredLanguage,
        preferences
            .supporter_language
            .as_deref()
            .is_some_and(|wanted| {
                profile
                    .languages
                    .iter()
                    .any(|language| same_words(language, wanted))
            }),
    );
    give(
        Reason::SpareCapacity,
        u64::from(entry.open_cases) * 2 <= u64::from(profile.capacity),
    );
    found
}

/// Seniority as a rung on the ladder, so neighbours are one apart.
fn rung(seniority: Seniority) -> i32 {
    match seniority {
        Seniority::Trainee => 0,
        Seniority::EarlyCareer => 1,
        Seniority::MidCareer => 2,
        Seniority::Senior => 3,
    }
}

fn is_blank(text: &str) -> bool {
    text.trim().is_empty()
}

/// Equal once trimmed, ignoring case; a blank never matches.
fn same_words(a: &str, b: &str) -> bool {
    let (a, b) = (a.trim(), b.trim());
    if a.is_empty() || b.is_empty() {
        return false;
    }
    if a.eq_ignore_ascii_case(b) {
        return true;
    }
    !(a.is_ascii() && b.is_ascii())
        && a.chars()
            .flat_map(char::to_lowercase)
            .eq(b.chars().flat_map(char::to_lowercase))
}

/// A span of time cut into local dates, each with the wall-clock times the span covers on it.
///
/// The span is first cut where the clocks change, so within each piece wall-clock time runs
/// evenly; a date appears twice when the clocks go back over it. Built once per case and read
/// for every supporter, so each check is a few comparisons of times.
struct Span {
    days: Vec<CoveredDay>,
}

struct CoveredDay {
    date: NaiveDate,
    weekday: Weekday,
    /// The first wall-clock time covered.
    starts: NaiveTime,
    /// The last wall-clock time covered (included); `None`: to the end of the day.
    ends: Option<NaiveTime>,
}

impl Span {
    fn new(from: DateTime<Utc>, until: DateTime<Utc>, time_zone: Tz) -> Span {
        let mut days = Vec::new();
        let limit = from
            .checked_add_days(Days::new(AVAILABILITY_SCAN_DAYS))
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        // A day's margin at the ends of the calendar keeps every wall-clock reading in range.
        let margin = Duration::days(1);
        let from = from.max(DateTime::<Utc>::MIN_UTC + margin);
        let until = until.min(limit).min(DateTime::<Utc>::MAX_UTC - margin);
        if until < from {
            return Span { days };
        }
        let mut starts = from;
        loop {
            let offset = offset_at(time_zone, starts);
            let change = next_change(time_zone, starts, until, offset);
            // A piece ends the nanosecond before the clocks change, or at `until`.
            let ends = change.map_or(until, |at| at - Duration::nanoseconds(1));
            cover(
                &mut days,
                starts.with_timezone(&offset).naive_local(),
                ends.with_timezone(&offset).naive_local(),
            );
            match change {
                Some(at) => starts = at,
                None => return Span { days },
            }
        }
    }

    fn admits(&self, availability: &Availability) -> bool {
        self.days.iter().any(|day| {
            let on_call = availability.on_call.is_empty()
                || availability
                    .on_call
                    .iter()
                    .any(|period| period.starts <= day.date && day.date <= period.ends);
            on_call
                && (availability.weekly_hours.is_empty()
                    || availability.weekly_hours.iter().any(|hours| {
                        hours.day.weekday() == day.weekday
                            && hours.starts < hours.ends
                            && day.starts < hours.ends
                            && day.ends.is_none_or(|ends| hours.starts <= ends)
                    }))
        })
    }
}

/// Adds the local dates from `starts` to `ends` (both included, wall-clock times).
fn cover(days: &mut Vec<CoveredDay>, starts: NaiveDateTime, ends: NaiveDateTime) {
    let last = ends.date();
    let mut date = starts.date();
    while date <= last {
        days.push(CoveredDay {
            date,
            weekday: date.weekday(),
            starts: if date == starts.date() {
                starts.time()
            } else {
                NaiveTime::MIN
            },
            ends: (date == last).then(|| ends.time()),
        });
        match date.succ_opt() {
            Some(next) => date = next,
            None => break,
        }
    }
}

fn offset_at(time_zone: Tz, at: DateTime<Utc>) -> FixedOffset {
    time_zone.offset_from_utc_datetime(&at.naive_utc()).fix()
}

/// The first instant after `after`, up to `until`, at which the offset is no longer `offset`.
///
/// Probes a day at a time, then bisects to the second (clocks change on whole seconds), so
/// it assumes no zone changes its clocks twice within one day.
fn next_change(
    time_zone: Tz,
    after: DateTime<Utc>,
    until: DateTime<Utc>,
    offset: FixedOffset,
) -> Option<DateTime<Utc>> {
    let mut probe = after;
    while probe < until {
        let next = probe
            .checked_add_signed(Duration::days(1))
            .map_or(until, |next| next.min(until));
        if offset_at(time_zone, next) != offset {
            let changed = |second: i64| {
                DateTime::<Utc>::from_timestamp(second, 0)
                    .is_some_and(|at| offset_at(time_zone, at) != offset)
            };
            // Invariant: not changed at `same`, changed at `differs`.
            let (mut same, mut differs) = (probe.timestamp(), next.timestamp());
            while differs - same > 1 {
                let middle = same + (differs - same) / 2;
                if changed(middle) {
                    differs = middle;
                } else {
                    same = middle;
                }
            }
            return DateTime::<Utc>::from_timestamp(differs, 0);
        }
        probe = next;
    }
    None
}

#[cfg(test)]
#[path = "matching_tests.rs"]
mod tests;
