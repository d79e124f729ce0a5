//! What every page shows around its content (the navigation of the caller's role), and how
//! times and codes read on a page.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use outreach_texts::Language;

use crate::access::{
    ActAsMember, Caller, Permission, ReadStatistics, Refer, RunTheProgram, Support,
};
use crate::attribution::Author;

/// The links the caller's roles allow, and the sign-out form's CSRF token.
#[derive(Debug, Clone, Default)]
pub(crate) struct Nav {
    pub items: Vec<NavItem>,
    /// Empty when nobody is signed in (the sign-out form is then left out).
    pub csrf: String,
    /// The caller's roles in words, e.g. "program manager".
    pub roles: String,
}

#[derive(Debug, Clone)]
pub(crate) struct NavItem {
    pub href: &'static str,
    pub label: &'static str,
    pub current: bool,
}

impl Nav {
    /// `current` is the href of the page shown.
    pub(crate) fn new(caller: &Caller, csrf: &str, current: &str) -> Nav {
        let pages: [(&[outreach_auth::Role], &str, &str); 7] = [
            (RunTheProgram::ROLES, "/dashboard/queue", "Queue"),
            (
                RunTheProgram::ROLES,
                "/dashboard/attention",
                "Needs attention",
            ),
            (RunTheProgram::ROLES, "/dashboard/roster", "Roster"),
            (Support::ROLES, "/dashboard/my-cases", "My cases"),
            (ReadStatistics::ROLES, "/dashboard/statistics", "Statistics"),
            (Refer::ROLES, "/dashboard/referral", "Refer"),
            (ActAsMember::ROLES, "/dashboard/my-support", "My support"),
        ];
        Nav {
            items: pages
                .into_iter()
                .filter(|(roles, _, _)| caller.0.has_any(roles))
                .map(|(_, href, label)| NavItem {
                    href,
                    label,
                    current: href == current,
                })
                .collect(),
            csrf: csrf.to_owned(),
            roles: caller
                .0
                .roles
                .iter()
                .map(|role| words(role.code()))
                .collect::<Vec<_>>()
                .join(", "),
        }
    }
}

/// Times as the program reads them: in its own time zone.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    pub zone: Tz,
}

impl Clock {
    /// "Tue 1 Dec 2026, 10:42 PST".
    pub(crate) fn at(&self, at: DateTime<Utc>) -> String {
        at.with_timezone(&self.zone)
            .format("%a %-d %b %Y, %H:%M %Z")
            .to_string()
    }
}

/// A code in words: `colleague_referral` reads "colleague referral".
pub(crate) fn words(code: &str) -> String {
    match code {
        "i_report" => "I-report".to_owned(),
        other => other.replace(['_', '-'], " "),
    }
}

/// How long until `due` (or how long past it), in days, hours and minutes of the clock.
pub(crate) fn time_left(due: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let span = |minutes: i64| {
        let (days, hours, minutes) = (minutes / 1440, (minutes % 1440) / 60, minutes % 60);
        match (days, hours) {
            (0, 0) => format!("{minutes} min"),
            (0, _) => format!("{hours} h {minutes} min"),
            _ => format!("{days} d {hours} h"),
        }
    };
    let minutes = (due - now).num_minutes();
    if minutes >= 0 {
        format!("{} left", span(minutes))
    } else {
        format!("overdue by {}", span(-minutes))
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;

    #[test]
    fn time_left_reads_in_days_hours_and_minutes() {
        let now = Utc::now();
        assert_eq!(time_left(now + Duration::minutes(42), now), "42 min left");
        assert_eq!(
            time_left(now + Duration::minutes(125), now),
            "2 h 5 min left"
        );
        assert_eq!(
            time_left(now + Duration::minutes(3 * 1440 + 60), now),
            "3 d 1 h left"
        );
        assert_eq!(
            time_left(now - Duration::minutes(90), now),
            "overdue by 1 h 30 min"
        );
    }

    #[test]
    fn codes_read_as_words() {
        assert_eq!(words("colleague_referral"), "colleague referral");
        assert_eq!(words("i_report"), "I-report");
        assert_eq!(words("program_manager"), "program manager");
    }
}

/// A form on a page, built from its controls so that every control has its label, its hint
/// and its error message tied to it (`aria-describedby`) the same way.
#[derive(Debug, Clone)]
pub(crate) struct FormView {
    /// Prefixes the controls' ids and the keys of its errors.
    pub id: &'static str,
    pub action: String,
    pub title: String,
    pub submit: String,
    pub controls: Vec<Control>,
    /// The message of the form as a whole (a rule of the program refused it).
    pub error: Option<String>,
    pub csrf: String,
    /// The version of the case or record the page shows; sent back as `If-Match` would be.
    pub version: Option<u64>,
    /// Fixed values the form sends along (e.g. a referral's idempotency key).
    pub hidden: Vec<(String, String)>,
    /// A button that reads as a secondary action (pause, decline).
    pub quiet: bool,
    /// The level of the form's heading: 3 under a page's section, 2 as a page's own form.
    pub level: u8,
    /// The language of the words the form adds around its controls ("(required)", "Error:").
    pub lang: Language,
}

#[derive(Debug, Clone)]
pub(crate) struct Control {
    pub id: String,
    pub name: String,
    pub label: String,
    /// `text`, `email`, `tel`, `date`, `time`, `number`, `select` or `radio`.
    pub kind: &'static str,
    pub options: Vec<Choice>,
    pub value: String,
    pub required: bool,
    pub hint: Option<String>,
    pub error: Option<String>,
    pub max_length: Option<u32>,
    pub autocomplete: &'static str,
}

#[derive(Debug, Clone)]
pub(crate) struct Choice {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

impl Control {
    fn new(name: &str, label: &str, kind: &'static str) -> Control {
        Control {
            id: String::new(),
            name: name.to_owned(),
            label: label.to_owned(),
            kind,
            options: Vec::new(),
            value: String::new(),
            required: false,
            hint: None,
            error: None,
            max_length: None,
            autocomplete: "off",
        }
    }

    pub(crate) fn text(name: &str, label: &str) -> Control {
        Control::new(name, label, "text").max_length(100)
    }

    pub(crate) fn input(name: &str, label: &str, kind: &'static str) -> Control {
        Control::new(name, label, kind)
    }

    /// A select of codes, each shown in words; `blank` is the label of "none chosen", if any.
    pub(crate) fn select(name: &str, label: &str, codes: &[&str], blank: Option<&str>) -> Control {
        let mut control = Control::new(name, label, "select");
        if let Some(blank) = blank {
            control.options.push(Choice {
                value: String::new(),
                label: blank.to_owned(),
                selected: false,
            });
        }
        control.options.extend(codes.iter().map(|code| Choice {
            value: (*code).to_owned(),
            label: capitalised(&words(code)),
            selected: false,
        }));
        control
    }

    /// Radio buttons of codes, each shown in words.
    pub(crate) fn radio(name: &str, label: &str, codes: &[&str]) -> Control {
        let mut control = Control::select(name, label, codes, None);
        control.kind = "radio";
        control
    }

    pub(crate) fn required(mut self) -> Control {
        self.required = true;
        self
    }

    pub(crate) fn hint(mut self, hint: &str) -> Control {
        self.hint = Some(hint.to_owned());
        self
    }

    pub(crate) fn value(mut self, value: impl Into<String>) -> Control {
        self.value = value.into();
        self
    }

    pub(crate) fn max_length(mut self, max: u32) -> Control {
        self.max_length = Some(max);
        self
    }

    pub(crate) fn autocomplete(mut self, autocomplete: &'static str) -> Control {
        self.autocomplete = autocomplete;
        self
    }

    /// The ids of the hint and error, for `aria-describedby`.
    pub(crate) fn described_by(&self) -> String {
        let mut ids = Vec::new();
        if self.hint.is_some() {
            ids.push(format!("{}-hint", self.id));
        }
        if self.error.is_some() {
            ids.push(format!("{}-error", self.id));
        }
        ids.join(" ")
    }
}

impl FormView {
    pub(crate) fn new(id: &'static str, action: String, title: &str, submit: &str) -> FormView {
        FormView {
            id,
            action,
            title: title.to_owned(),
            submit: submit.to_owned(),
            controls: Vec::new(),
            error: None,
            csrf: String::new(),
            version: None,
            hidden: Vec::new(),
            quiet: false,
            level: 3,
            lang: Language::En,
        }
    }

    /// The form is the page's own: its heading is a level 2.
    pub(crate) fn on_its_own(mut self) -> FormView {
        self.level = 2;
        self
    }

    /// A form a care team member reads, in their language (the program's staff read English).
    pub(crate) fn in_language(mut self, lang: Language) -> FormView {
        self.lang = lang;
        self
    }

    pub(crate) fn controls(mut self, controls: Vec<Control>) -> FormView {
        self.controls = controls;
        self
    }

    pub(crate) fn version(mut self, version: u64) -> FormView {
        self.version = Some(version);
        self
    }

    pub(crate) fn quiet(mut self) -> FormView {
        self.quiet = true;
        self
    }

    pub(crate) fn hidden(mut self, name: &str, value: impl Into<String>) -> FormView {
        self.hidden.push((name.to_owned(), value.into()));
        self
    }

    /// Ids, the session's CSRF token, and, when this is the form that was sent and refused,
    /// the values sent and the messages next to their fields.
    pub(crate) fn finish(
        mut self,
        csrf: &str,
        sent: Option<(&super::forms::Values, &super::forms::FieldErrors)>,
        failed_form: Option<&str>,
    ) -> FormView {
        self.csrf = csrf.to_owned();
        let this_failed = failed_form == Some(self.id);
        for control in &mut self.controls {
            control.id = format!("{}-{}", self.id, control.name.replace(['.', '[', ']'], "-"));
            if let (true, Some((values, errors))) = (this_failed, sent) {
                control.value = values.get(&control.name).to_owned();
                control.error = errors
                    .get(&format!("{}.{}", self.id, control.name))
                    .map(str::to_owned);
            }
            let value = control.value.clone();
            for choice in &mut control.options {
                choice.selected = choice.value == value;
            }
        }
        if let (true, Some((_, errors))) = (this_failed, sent) {
            self.error = errors.get(self.id).map(str::to_owned);
            // A message about a field this form does not show goes with the form.
            if self.error.is_none() && self.controls.iter().all(|c| c.error.is_none()) {
                self.error = errors
                    .keys()
                    .next()
                    .and_then(|key| errors.get(key))
                    .map(str::to_owned);
            }
        }
        self
    }
}

/// "Colleague referral" from "colleague referral".
pub(crate) fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Who took a step, in the director's words: the program's staff by role, staff id and
/// subject; a care team member by relation only; the service's own processes by name.
pub(crate) fn who(author: &Author) -> String {
    let via = match author.source.as_deref() {
        Some("dashboard") => ", on the dashboard",
        Some("api") => ", through the API",
        _ => "",
    };
    let named = match (&author.staff_id, &author.subject) {
        (Some(staff_id), Some(subject)) => format!(" {staff_id} ({subject})"),
        (None, Some(subject)) => format!(" {subject}"),
        _ => String::new(),
    };
    match (author.role.as_deref(), author.relation.as_deref()) {
        (Some("care_team_member"), Some("self")) => format!("the member themselves{via}"),
        (Some("care_team_member"), Some(relation)) => {
            format!("a {} of the member, not named{via}", words(relation))
        }
        (Some(role), _) => format!("{}{named}{via}", words(role)),
        (None, _) => match author.source.as_deref() {
            Some("intake") => "intake, from a safety report".to_owned(),
            Some(process) => format!("the service ({})", words(process)),
            None => "not recorded".to_owned(),
        },
    }
}
