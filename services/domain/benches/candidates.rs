//! How long ranking takes: every open case ranked against the whole roster, as when a backlog
//! is replayed or a mass-casualty event names hundreds of staff at once.
//!
//! `cargo bench -p outreach-domain --bench candidates`; `CASES` and `SUPPORTERS` override the
//! counts (default 10,000 cases, 500 supporters). The data comes from a seeded xorshift, so
//! every run ranks the same cases.

use std::collections::BTreeSet;
use std::time::Instant;

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use chrono_tz::Tz;
use outreach_domain::matching::{rank, CaseToMatch, ExclusionReason, MatchingWeights, RosterEntry};
use outreach_events::care_team_member::{
    DepartmentPreference, Gender, Preferences, SeniorityPreference,
};
use outreach_events::supporter::{
    Availability, DatePeriod, Day, SupporterProfile, Training, TrainingStatus, WeeklyHours,
};
use outreach_events::{Discipline, Involvement, MemberProfile, Seniority};

const CAMPUSES: [&str; 3] = ["Parnassus", "Mission Bay", "Mount Zion"];
const DEPARTMENTS: [&str; 12] = [
    "Emergency Medicine",
    "Surgery",
    "Anesthesia",
    "Pediatrics",
    "Obstetrics",
    "Internal Medicine",
    "Cardiology",
    "Oncology",
    "Neurology",
    "Critical Care",
    "Pharmacy",
    "Radiology",
];
const SPECIALTIES: [&str; 8] = [
    "Trauma",
    "Neonatal care",
    "Palliative care",
    "Litigation stress",
    "Second victim",
    "Medication error",
    "Patient death",
    "Burnout",
];
const LANGUAGES: [&str; 4] = ["en", "es", "zh", "tl"];
const SENIORITIES: [Seniority; 4] = [
    Seniority::Trainee,
    Seniority::EarlyCareer,
    Seniority::MidCareer,
    Seniority::Senior,
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

/// xorshift64*: small, seeded, good enough to spread test data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }

    fn text(&mut self, items: &[&str]) -> String {
        self.pick(items).to_string()
    }
}

fn hour(h: u32) -> NaiveTime {
    NaiveTime::from_hms_opt(h, 0, 0).expect("an hour of the day")
}

fn availability(rng: &mut Rng, year_starts: NaiveDate) -> Availability {
    match rng.below(10) {
        // Any time.
        0..=2 => Availability::default(),
        // Office hours on weekdays, some with an evening.
        3..=6 => {
            let mut weekly_hours: Vec<_> = DAYS[..5]
                .iter()
                .map(|&day| WeeklyHours {
                    day,
                    starts: hour(8),
                    ends: hour(17),
                })
                .collect();
            if rng.chance(30) {
                weekly_hours.push(WeeklyHours {
                    day: rng.pick(&DAYS),
                    starts: hour(18),
                    ends: hour(22),
                });
            }
            Availability {
                weekly_hours,
                on_call: vec![],
            }
        }
        // A rota: one on-call week a month, a few hours each day of it.
        _ => {
            let first = rng.below(28);
            let on_call = (0..12)
                .map(|month| {
                    let starts = year_starts + Duration::days((first + month * 30) as i64);
                    DatePeriod {
                        starts,
                        ends: starts + Duration::days(6),
                    }
                })
                .collect();
            let starts = 7 + rng.below(10) as u32;
            let weekly_hours = DAYS
                .iter()
                .map(|&day| WeeklyHours {
                    day,
                    starts: hour(starts),
                    ends: hour(starts + 6),
                })
                .collect();
            Availability {
                weekly_hours,
                on_call,
            }
        }
    }
}

fn roster(rng: &mut Rng, size: usize, year_starts: NaiveDate) -> Vec<RosterEntry> {
    (0..size)
        .map(|index| {
            let capacity = 1 + rng.below(5) as u32;
            let interests = (0..rng.below(3)).map(|_| rng.text(&SPECIALTIES)).collect();
            let mut languages = vec!["en".to_string()];
            if rng.chance(25) {
                languages.push(rng.text(&LANGUAGES));
            }
            RosterEntry {
                profile: SupporterProfile {
                    staff_id: format!("S-{index:05}"),
                    campus: rng.text(&CAMPUSES),
                    department: rng.text(&DEPARTMENTS),
                    discipline: rng.pick(&Discipline::ALL),
                    specialty: rng.chance(70).then(|| rng.text(&SPECIALTIES)),
                    seniority: rng.pick(&SENIORITIES),
                    languages,
                    interests,
                    training: Training {
                        status: if rng.chance(90) {
                            TrainingStatus::Trained
                        } else {
                            TrainingStatus::Lapsed
                        },
                        completed_on: Some(year_starts),
                    },
                    capacity,
                    availability: availability(rng, year_starts),
                },
                gender: rng
                    .chance(80)
                    .then(|| rng.pick(&[Gender::Woman, Gender::Man])),
                paused: rng.chance(5),
                open_cases: rng.below(u64::from(capacity) + 1) as u32,
            }
        })
        .collect()
}

/// A case and the moment it is ranked at, spread over a year so clock changes are crossed.
fn case(
    rng: &mut Rng,
    index: usize,
    supporters: usize,
    year: DateTime<Utc>,
) -> (CaseToMatch, DateTime<Utc>) {
    let supporter_id = |rng: &mut Rng| format!("S-{:05}", rng.below(supporters.max(1) as u64));
    let staff_id = if rng.chance(5) {
        supporter_id(rng)
    } else {
        format!("M-{index:06}")
    };
    let mut named_in_reports: BTreeSet<String> = (0..1 + rng.below(5))
        .map(|colleague| format!("M-{index:06}-{colleague}"))
        .collect();
    named_in_reports.insert(staff_id.clone());
    if rng.chance(20) {
        named_in_reports.insert(supporter_id(rng));
    }
    let preferences = if rng.chance(50) {
        Preferences::default()
    } else {
        Preferences {
            channel: None,
            supporter_gender: rng
                .chance(30)
                .then(|| rng.pick(&[Gender::Woman, Gender::Man])),
            supporter_specialty: rng.chance(30).then(|| rng.text(&SPECIALTIES)),
            supporter_department: rng.chance(20).then(|| {
                rng.pick(&[
                    DepartmentPreference::OwnDepartment,
                    DepartmentPreference::OtherDepartment,
                ])
            }),
            supporter_seniority: rng.chance(30).then(|| {
                rng.pick(&[
                    SeniorityPreference::Similar,
                    SeniorityPreference::MoreSenior,
                ])
            }),
            supporter_language: rng.chance(15).then(|| rng.text(&LANGUAGES)),
        }
    };
    let now = year + Duration::minutes(rng.below(365 * 24 * 60) as i64);
    let first_contact_due = match rng.below(20) {
        0 => None,
        1 => Some(now - Duration::hours(3)),
        _ => Some(now + Duration::minutes(30 + rng.below(3 * 24 * 60) as i64)),
    };
    let case = CaseToMatch {
        member: MemberProfile {
            staff_id,
            role: "Registered nurse".into(),
            discipline: rng.pick(&Discipline::ALL),
            department: rng.text(&DEPARTMENTS),
            seniority: rng.chance(90).then(|| rng.pick(&SENIORITIES)),
            involvement: Involvement::Primary,
        },
        campus: rng.text(&CAMPUSES),
        preferences,
        named_in_reports,
        first_contact_due,
    };
    (case, now)
}

fn count_from_env(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(text) => text
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name} must be a whole number, not {text:?}")),
        Err(_) => default,
    }
}

/// Peak resident memory so far, as the kernel reports it (`VmHWM`), if it does.
fn peak_resident() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with("VmHWM:"))
                .map(|line| line["VmHWM:".len()..].trim().to_string())
        })
        .unwrap_or_else(|| "unknown".to_string())
}

fn main() {
    let cases_wanted = count_from_env("CASES", 10_000);
    let supporters = count_from_env("SUPPORTERS", 500);
    let time_zone = Tz::America__Los_Angeles;
    let year_starts = NaiveDate::from_ymd_opt(2026, 1, 1).expect("a date");
    let year = year_starts.and_time(NaiveTime::MIN).and_utc();
    let weights = MatchingWeights::default();

    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let roster = roster(&mut rng, supporters, year_starts);
    let cases: Vec<_> = (0..cases_wanted)
        .map(|index| case(&mut rng, index, supporters, year))
        .collect();
    println!("{cases_wanted} cases x {supporters} supporters, {time_zone}");
    println!("peak resident memory before ranking: {}", peak_resident());

    let mut candidates = 0_usize;
    let mut best_scores = 0_i64;
    let mut excluded = [0_usize; ExclusionReason::ALL.len()];
    let started = Instant::now();
    for (case, now) in &cases {
        let ranking = rank(case, &roster, &weights, *now, time_zone);
        candidates += ranking.candidates.len();
        best_scores += ranking
            .candidates
            .first()
            .map_or(0, |best| i64::from(best.score));
        for exclusion in &ranking.excluded {
            excluded[exclusion.reason as usize] += 1;
        }
        std::hint::black_box(ranking);
    }
    let elapsed = started.elapsed();

    let per_case = elapsed / cases_wanted.max(1) as u32;
    let rate = cases_wanted as f64 / elapsed.as_secs_f64();
    println!(
        "ranked in {:.3} s: {:.1} us per case, {:.0} cases/s",
        elapsed.as_secs_f64(),
        per_case.as_secs_f64() * 1e6,
        rate
    );
    println!("peak resident memory after ranking: {}", peak_resident());
    let per = |count: usize| count as f64 / cases_wanted.max(1) as f64;
    println!(
        "per case: {:.1} candidates, best score {:.1} on average",
        per(candidates),
        best_scores as f64 / cases_wanted.max(1) as f64
    );
    for reason in ExclusionReason::ALL {
        println!(
            "  excluded, {}: {:.2}",
            reason.words(),
            per(excluded[reason as usize])
        );
    }
}
