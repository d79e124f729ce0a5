//! The roster entry's form as sent: every field read by serde_html_form into the API's own
//! types ([`Field`] keeps a field that did not read, so every message shows at once), then the
//! API's roster entry made of them, weekly hours by day and on-call periods by row.

use chrono::NaiveDate;
use outreach_events::care_team_member::Gender as SupporterGender;
use outreach_events::supporter::{Day, TrainingStatus};
use outreach_events::{Discipline, Seniority};
use serde::de::IgnoredAny;
use serde::{Deserialize, Deserializer};

use super::forms::{Field, FieldErrors};
use crate::case_commands::StaffId;
use crate::members::{Email, Phone, ShortText};
use crate::supporters::{Availability, DatePeriod, RosterEntry, Training, WeeklyHours};
use crate::values::TimeOfDay;

/// The form's id on the page: its fields' messages are keyed `roster.<field>`.
pub(crate) const FORM: &str = "roster";

/// The on-call periods the form has rows for.
pub(crate) const ON_CALL_ROWS: usize = 2;

/// Languages and interests a supporter lists, at most (the roster's own limit).
const MAX_LISTED: usize = 20;

/// A comma-separated list of short texts (`en, es`), at most [`MAX_LISTED`] of them.
#[derive(Debug, Clone)]
pub(crate) struct Listed(Vec<ShortText>);

impl<'de> Deserialize<'de> for Listed {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let text = String::deserialize(deserializer)?;
        let items: Vec<&str> = text
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .collect();
        if items.len() > MAX_LISTED {
            return Err(D::Error::custom(format!(
                "list at most {MAX_LISTED}, separated by commas"
            )));
        }
        items
            .into_iter()
            .map(|item| ShortText::try_from(item.to_owned()).map_err(D::Error::custom))
            .collect::<Result<_, _>>()
            .map(Listed)
    }
}

fn absent<T>() -> Field<Option<T>> {
    Field::present(None)
}

/// The fields of the roster entry's form, named as on the page.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EntryForm {
    #[serde(default, rename = "csrf")]
    _csrf: IgnoredAny,
    #[serde(default)]
    staff_id: Field<StaffId>,
    #[serde(default)]
    given_name: Field<ShortText>,
    #[serde(default)]
    family_name: Field<ShortText>,
    #[serde(default)]
    email: Field<Email>,
    #[serde(default = "absent")]
    phone: Field<Option<Phone>>,
    #[serde(default = "absent")]
    gender: Field<Option<SupporterGender>>,
    #[serde(default)]
    campus: Field<ShortText>,
    #[serde(default)]
    department: Field<ShortText>,
    #[serde(default)]
    discipline: Field<Discipline>,
    #[serde(default = "absent")]
    specialty: Field<Option<ShortText>>,
    #[serde(default)]
    seniority: Field<Seniority>,
    #[serde(default = "absent")]
    languages: Field<Option<Listed>>,
    #[serde(default = "absent")]
    interests: Field<Option<Listed>>,
    #[serde(default, rename = "training.status")]
    training_status: Field<TrainingStatus>,
    #[serde(default = "absent", rename = "training.completed_on")]
    training_completed_on: Field<Option<NaiveDate>>,
    #[serde(default)]
    capacity: Field<i64>,
    #[serde(default = "absent", rename = "hours.monday.starts")]
    monday_starts: Field<Option<TimeOfDay>>,
    #[serde(default = "absent", rename = "hours.monday.ends")]
    monday_ends: Field<Option<TimeOfDay>>,
    #[serde(default = "absent", rename = "hours.tuesday.starts")]
    tuesday_starts: Field<Option<TimeOfDay>>,
    #[serde(default = "absent", rename = "hours.tuesday.ends")]
    tuesday_ends: Field<Option<TimeOfDay>>,
    #[serde(default = "absent", rename = "hours.wednesday.starts")]
    wednesday_starts: Field<Option<TimeOfDay>>,
    #[serde(default = "absent", rename = "hours.wednesday.ends")]
    wednesday_ends: Field<Option<TimeOfDay>>,
    #[serde(default = "absent", rename = "hours.thursday.starts")]
    thursday_starts: Field<Option<TimeOfDay>>,
    #[serde(default = "absent", rename = "hours.thursday.ends")]
    thursday_ends: Field<Option<TimeOfDay>>,
    #[serde(default = "absent", rename = "hours.friday.starts")]
    friday_starts: Field<Option<TimeOfDay>>,
    #[serde(default = "absent", rename = "hours.friday.ends")]
    friday_ends: Field<Option<TimeOfDay>>,
    #[serde(default = "absent", rename = "hours.saturday.starts")]
    saturday_starts: Field<Option<TimeOfDay>>,
    #[serde(default = "absent", rename = "hours.saturday.ends")]
    saturday_ends: Field<Option<TimeOfDay>>,
    #[serde(default = "absent", rename = "hours.sunday.starts")]
    sunday_starts: Field<Option<TimeOfDay>>,
    #[serde(default = "absent", rename = "hours.sunday.ends")]
    sunday_ends: Field<Option<TimeOfDay>>,
    #[serde(default = "absent", rename = "on_call[0].starts")]
    on_call_0_starts: Field<Option<NaiveDate>>,
    #[serde(default = "absent", rename = "on_call[0].ends")]
    on_call_0_ends: Field<Option<NaiveDate>>,
    #[serde(default = "absent", rename = "on_call[1].starts")]
    on_call_1_starts: Field<Option<NaiveDate>>,
    #[serde(default = "absent", rename = "on_call[1].ends")]
    on_call_1_ends: Field<Option<NaiveDate>>,
}

/// Both ends of a span on the form, or neither: the row, `None` when left empty.
fn span<T>(
    name: &str,
    starts: Field<Option<T>>,
    ends: Field<Option<T>>,
    errors: &mut FieldErrors,
) -> Option<(T, T)> {
    let starts = starts.take(FORM, &format!("{name}.starts"), errors)?;
    let ends = ends.take(FORM, &format!("{name}.ends"), errors)?;
    match (starts, ends) {
        (Some(starts), Some(ends)) => Some((starts, ends)),
        (None, None) => None,
        (Some(_), None) => {
            errors.add(format!("{FORM}.{name}.ends"), "Give the end too.");
            None
        }
        (None, Some(_)) => {
            errors.add(format!("{FORM}.{name}.starts"), "Give the start too.");
            None
        }
    }
}

impl EntryForm {
    /// The API's roster entry, or a message next to every field that is wrong.
    pub(crate) fn entry(self) -> Result<RosterEntry, FieldErrors> {
        let mut errors = FieldErrors::default();
        let e = &mut errors;
        let week = [
            (Day::Monday, self.monday_starts, self.monday_ends),
            (Day::Tuesday, self.tuesday_starts, self.tuesday_ends),
            (Day::Wednesday, self.wednesday_starts, self.wednesday_ends),
            (Day::Thursday, self.thursday_starts, self.thursday_ends),
            (Day::Friday, self.friday_starts, self.friday_ends),
            (Day::Saturday, self.saturday_starts, self.saturday_ends),
            (Day::Sunday, self.sunday_starts, self.sunday_ends),
        ];
        let weekly_hours: Vec<WeeklyHours> = week
            .into_iter()
            .filter_map(|(day, starts, ends)| {
                let name = day.as_str();
                let (starts, ends) = span(&format!("hours.{name}"), starts, ends, e)?;
                Some(WeeklyHours { day, starts, ends })
            })
            .collect();
        let rows = [
            (self.on_call_0_starts, self.on_call_0_ends),
            (self.on_call_1_starts, self.on_call_1_ends),
        ];
        let on_call: Vec<DatePeriod> = rows
            .into_iter()
            .enumerate()
            .filter_map(|(row, (starts, ends))| {
                let (starts, ends) = span(&format!("on_call[{row}]"), starts, ends, e)?;
                Some(DatePeriod { starts, ends })
            })
            .collect();
        let listed = |field: Field<Option<Listed>>, name, e: &mut FieldErrors| {
            field
                .take(FORM, name, e)
                .map(|l| l.map_or_else(Vec::new, |l| l.0))
        };
        // Every field is read before any is missed, so each wrong one gets its message.
        let staff_id = self.staff_id.take(FORM, "staff_id", e);
        let given_name = self.given_name.take(FORM, "given_name", e);
        let family_name = self.family_name.take(FORM, "family_name", e);
        let email = self.email.take(FORM, "email", e);
        let phone = self.phone.take(FORM, "phone", e);
        let gender = self.gender.take(FORM, "gender", e);
        let campus = self.campus.take(FORM, "campus", e);
        let department = self.department.take(FORM, "department", e);
        let discipline = self.discipline.take(FORM, "discipline", e);
        let specialty = self.specialty.take(FORM, "specialty", e);
        let seniority = self.seniority.take(FORM, "seniority", e);
        let languages = listed(self.languages, "languages", e);
        let interests = listed(self.interests, "interests", e);
        let status = self.training_status.take(FORM, "training.status", e);
        let completed_on = self
            .training_completed_on
            .take(FORM, "training.completed_on", e);
        let capacity = self.capacity.take(FORM, "capacity", e);
        let entry = (|| {
            Some(RosterEntry {
                staff_id: staff_id?,
                given_name: given_name?,
                family_name: family_name?,
                email: email?,
                phone: phone?,
                gender: gender?,
                campus: campus?,
                department: department?,
                discipline: discipline?,
                specialty: specialty?,
                seniority: seniority?,
                languages: languages?,
                interests: interests?,
                training: Training {
                    status: status?,
                    completed_on: completed_on?,
                },
                capacity: capacity?,
                availability: Availability {
                    weekly_hours,
                    on_call,
                },
            })
        })();
        match entry {
            Some(entry) if errors.is_empty() => Ok(entry),
            _ => Err(errors),
        }
    }
}

/// Where a value the API refused (`availability.weekly_hours[1].ends`) is on the form
/// (`hours.tuesday.ends`): rows of hours are the entry's days, periods its rows in order.
pub(crate) fn form_field(entry: &RosterEntry, path: &str) -> String {
    let row = |prefix: &str| -> Option<(usize, String)> {
        let rest = path.strip_prefix(prefix)?.strip_prefix('[')?;
        let (index, rest) = rest.split_once(']')?;
        Some((index.parse().ok()?, rest.to_owned()))
    };
    if let Some((i, rest)) = row("availability.weekly_hours") {
        if let Some(hours) = entry.availability.weekly_hours.get(i) {
            let day = hours.day.as_str();
            let end = rest.strip_prefix('.').unwrap_or("ends");
            return format!("hours.{day}.{end}");
        }
    }
    if let Some((i, rest)) = row("availability.on_call") {
        let end = rest.strip_prefix('.').unwrap_or("ends");
        return format!("on_call[{i}].{end}");
    }
    // languages[3] is the languages field.
    path.split('[').next().unwrap_or(path).to_owned()
}
