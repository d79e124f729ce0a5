//! Forms: `application/x-www-form-urlencoded` bodies read by serde_html_form straight into typed
//! form structs (each page's own, holding the API's and the domain's types), and refusals turned
//! into messages next to the field they are about.
//!
//! serde_html_form gives names no structure: `x[2000000000]` or `a[b][c]…` is one field name
//! like any other, so nothing a name says is ever allocated. Every form struct denies unknown
//! fields and takes each of its fields once (a repeated name is refused), so a form is at most
//! what the 64 KiB body limit lets through, read once.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};

use crate::error::ApiError;

/// Form fields shown again beside their errors, at most; a real form has under forty.
const MAX_VALUES: usize = 64;
/// A longer name is no field of ours and is not shown again.
const MAX_NAME: usize = 64;

/// The CSRF token a form was sent with; `None` when absent or sent more than once.
pub(crate) fn csrf(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Csrf {
        #[serde(default)]
        csrf: Option<String>,
    }
    serde_html_form::from_bytes::<Csrf>(body)
        .ok()
        .and_then(|form| form.csrf)
}

/// A form of one button: the session's CSRF token and nothing else.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OnlyCsrf {
    #[serde(default, rename = "csrf")]
    _csrf: serde::de::IgnoredAny,
}

/// Reads a form of one button (its CSRF token checked already): anything more is a 400.
pub(crate) fn only_csrf(body: &[u8]) -> Result<(), crate::error::ApiError> {
    serde_html_form::from_bytes::<OnlyCsrf>(body)
        .map(|_| ())
        .map_err(|_| {
            crate::error::ApiError::InvalidBody("the form has fields it does not take".into())
        })
}

/// Reads the body as the form `T` of the form `form` (its id on the page). A refusal names the
/// field serde stopped at (`form.field`), or the form as a whole.
pub(crate) fn read<T: DeserializeOwned>(form: &str, body: &[u8]) -> Result<T, FieldErrors> {
    let deserializer = serde_html_form::Deserializer::from_bytes(body);
    serde_path_to_error::deserialize(deserializer).map_err(|error| {
        let path = error.path().to_string();
        let message = error.into_inner().to_string();
        let mut errors = FieldErrors::default();
        match field_of(&message) {
            // A name the form does not have is the form's problem, not a field's.
            (None, message) if message.starts_with("unknown field") => errors.add(
                form,
                "This form was sent with a field it does not have, so nothing was recorded. \
                 Reload the page and try again.",
            ),
            // "missing field `held_on`" is about that field, wherever serde was.
            (Some(field), message) => errors.add(format!("{form}.{field}"), friendly(message)),
            (None, message) if path != "." && path.len() <= MAX_NAME => {
                errors.add(format!("{form}.{path}"), friendly(message))
            }
            (None, message) => errors.add(form, friendly(message)),
        }
        errors
    })
}

/// A field of a form, read into `T` or kept with the reason it could not be, so that a form
/// reads all its fields and every message shows at once. An empty value of an `Option` is
/// `None`; of anything else, the reason says what to enter.
#[derive(Debug, Clone)]
pub(crate) struct Field<T>(Result<T, String>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Field<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // A form value is one leaf: whatever `T` made of it, the form goes on being read.
        Ok(Field(
            T::deserialize(deserializer).map_err(|e| friendly(&e.to_string())),
        ))
    }
}

impl<T> Default for Field<T> {
    /// A field the form did not send at all.
    fn default() -> Self {
        Field(Err("This is required.".to_owned()))
    }
}

impl<T> Field<T> {
    /// A field read as `value`.
    pub(crate) fn present(value: T) -> Self {
        Field(Ok(value))
    }

    /// The value, if it could be read (the caller says why not, in the reader's language).
    pub(crate) fn ok(self) -> Option<T> {
        self.0.ok()
    }

    /// The value, or `None` with the reason added next to `name` of `form`.
    pub(crate) fn take(self, form: &str, name: &str, errors: &mut FieldErrors) -> Option<T> {
        match self.0 {
            Ok(value) => Some(value),
            Err(reason) => {
                errors.add(format!("{form}.{name}"), reason);
                None
            }
        }
    }
}

/// The values a form was sent with, by field name (the first of each), to show them again.
#[derive(Debug, Default, Clone)]
pub(crate) struct Values(BTreeMap<String, String>);

impl Values {
    /// The fields of `body` as sent, but for its CSRF token; at most [`MAX_VALUES`] of them.
    pub(crate) fn sent(body: &[u8]) -> Values {
        let mut values = BTreeMap::new();
        for (name, value) in form_urlencoded_pairs(body) {
            if values.len() == MAX_VALUES {
                break;
            }
            if name != "csrf" && name.len() <= MAX_NAME {
                values.entry(name).or_insert(value);
            }
        }
        Values(values)
    }

    pub(crate) fn get(&self, name: &str) -> &str {
        self.0.get(name).map(String::as_str).unwrap_or_default()
    }

    pub(crate) fn set(&mut self, name: &str, value: impl Into<String>) {
        self.0.insert(name.to_owned(), value.into());
    }
}

/// The pairs of a form body in order, as serde_html_form reads them.
fn form_urlencoded_pairs(body: &[u8]) -> Vec<(String, String)> {
    serde_html_form::from_bytes::<Vec<(String, String)>>(body).unwrap_or_default()
}

/// Messages next to the fields they are about (`form.field`), and the message of each form as
/// a whole (`form`).
#[derive(Debug, Default, Clone)]
pub(crate) struct FieldErrors(BTreeMap<String, String>);

impl FieldErrors {
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    pub(crate) fn add(&mut self, key: impl Into<String>, message: impl Into<String>) {
        self.0.entry(key.into()).or_insert_with(|| message.into());
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The same keys, each message rewritten by `reword(key, message)` (into a member's
    /// language, say).
    pub(crate) fn reworded(self, reword: impl Fn(&str, &str) -> String) -> FieldErrors {
        FieldErrors(
            self.0
                .into_iter()
                .map(|(key, message)| {
                    let message = reword(&key, &message);
                    (key, message)
                })
                .collect(),
        )
    }

    /// The keys in order, for a summary of what to correct.
    pub(crate) fn keys(&self) -> impl Iterator<Item = &String> {
        self.0.keys()
    }

    /// A refusal of the API as a message next to its field of `form`, when it names one.
    /// `rule_fields` names the field each rule of the program is about. `None`: not a refusal
    /// of the form, but a failure the page must show as such (not found, forbidden, down).
    pub(crate) fn from_refusal(
        form: &str,
        error: ApiError,
        rule_fields: &[(&str, &str)],
    ) -> Result<FieldErrors, ApiError> {
        let mut errors = FieldErrors::default();
        match error {
            ApiError::InvalidBody(message) => {
                let (field, message) = field_of(&message);
                match field {
                    Some(field) => errors.add(format!("{form}.{field}"), friendly(message)),
                    None => errors.add(form, friendly(message)),
                }
            }
            ApiError::InvalidField { field, problem, .. } => {
                errors.add(format!("{form}.{field}"), problem);
            }
            ApiError::Refused { rule, detail } => {
                match rule_fields.iter().find(|(r, _)| *r == rule) {
                    Some((_, field)) => errors.add(format!("{form}.{field}"), detail),
                    None => errors.add(form, detail),
                }
            }
            ApiError::StaleVersion { .. } => errors.add(
                form,
                "Someone changed this case while you had it open, so nothing was recorded. \
                 The page now shows the case as it is: check it and try again.",
            ),
            other => return Err(other),
        }
        Ok(errors)
    }
}

/// `"member.contact.email: …"` → the field's path and the message; field names are ours.
fn field_of(message: &str) -> (Option<&str>, &str) {
    match message.split_once(": ") {
        Some((path, rest))
            if !path.is_empty()
                && path.bytes().all(|b| {
                    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'[' | b']')
                }) =>
        {
            (Some(path), rest)
        }
        _ => {
            // serde's "missing field `held_on`" names the field in backquotes.
            if let Some(field) = message
                .strip_prefix("missing field `")
                .and_then(|rest| rest.strip_suffix('`'))
            {
                return (Some(field), "this is required");
            }
            (None, message)
        }
    }
}

/// serde's wording, for a person: what to do rather than what the parser expected. Never the
/// value sent (serde quotes it in some messages).
fn friendly(message: &str) -> String {
    if message.starts_with("missing field") || message == "this is required" {
        "This is required.".to_owned()
    } else if message.starts_with("unknown variant") {
        "Choose one of the options.".to_owned()
    } else if message == "unsupported value" {
        "Send this field once.".to_owned()
    } else if message.contains("invalid digit")
        || message.contains("number too large")
        || message.contains("cannot parse integer")
    {
        "Enter a whole number.".to_owned()
    } else if message.contains("premature end of input")
        || message.contains("input contains invalid characters")
        || message.contains("input is out of range")
        || message.contains("input is not enough")
        || message.contains("trailing input")
    {
        "Enter a date (or time) in the form shown.".to_owned()
    } else if message.starts_with("invalid type")
        || message.starts_with("invalid value")
        || message.starts_with("invalid length")
    {
        // serde quotes what was sent in these; the page says only that it was not taken.
        "This value is not accepted.".to_owned()
    } else {
        let mut text = message.to_owned();
        if let Some(first) = text.get(0..1) {
            text.replace_range(0..1, &first.to_uppercase());
        }
        if !text.ends_with('.') {
            text.push('.');
        }
        text
    }
}

/// A query string value.
pub(crate) fn url_encode(value: &str) -> String {
    serde_urlencoded::to_string([("v", value)])
        .map(|pair| pair[2..].to_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::*;
    use outreach_events::Channel;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Encounter {
        #[allow(dead_code)]
        csrf: String,
        #[serde(default)]
        version: Option<u64>,
        held_on: NaiveDate,
        #[serde(default)]
        channel: Option<Channel>,
    }

    #[test]
    fn a_form_is_read_into_its_types_and_a_blank_option_is_none() {
        let form: Encounter = read(
            "encounters",
            b"csrf=x&version=3&held_on=2026-07-01&channel=",
        )
        .unwrap();
        assert_eq!(form.version, Some(3));
        assert_eq!(form.held_on, NaiveDate::from_ymd_opt(2026, 7, 1).unwrap());
        assert_eq!(form.channel, None);
    }

    /// What the hand-written reader made of these (two billion nulls, a tree as deep as the
    /// name) is, to serde_html_form, one unknown field name: refused before anything is built.
    #[test]
    fn names_with_indexes_or_nesting_are_unknown_fields_not_structure() {
        let deep = format!("csrf=x&held_on=2026-07-01&{}=1", "a[b]".repeat(5000));
        for body in [
            "csrf=x&held_on=2026-07-01&x[2000000000]=1".to_owned(),
            "csrf=x&held_on=2026-07-01&held_on[2000000000]=1".to_owned(),
            deep,
        ] {
            let errors = read::<Encounter>("encounters", body.as_bytes()).unwrap_err();
            assert!(
                errors.get("encounters").is_some(),
                "{:?}",
                errors.keys().collect::<Vec<_>>()
            );
        }
    }

    #[test]
    fn a_field_sent_many_times_is_refused_next_to_it() {
        let body = format!("csrf=x&{}", "held_on=2026-07-01&".repeat(10_000));
        let errors = read::<Encounter>("encounters", body.as_bytes()).unwrap_err();
        assert_eq!(
            errors.get("encounters.held_on"),
            Some("Send this field once.")
        );
        // So is the CSRF token: a form sent with two is not this session's.
        assert_eq!(csrf(b"csrf=a&csrf=a"), None);
        assert_eq!(csrf(b"csrf=a&x=1"), Some("a".to_owned()));
    }

    #[test]
    fn a_refusal_names_its_field_and_never_the_value() {
        let errors = read::<Encounter>("encounters", b"csrf=x").unwrap_err();
        assert_eq!(errors.get("encounters.held_on"), Some("This is required."));
        let errors =
            read::<Encounter>("encounters", b"csrf=x&held_on=2026-07-01&channel=Zebulonqx")
                .unwrap_err();
        assert_eq!(
            errors.get("encounters.channel"),
            Some("Choose one of the options.")
        );
        let errors = read::<Encounter>("encounters", b"csrf=x&held_on=Zebulonqx").unwrap_err();
        let message = errors.get("encounters.held_on").unwrap();
        assert!(!message.contains("Zebulonqx"), "{message}");
    }

    #[test]
    fn values_shown_again_are_bounded() {
        let body = (0..10_000)
            .map(|n| format!("f{n}=v"))
            .collect::<Vec<_>>()
            .join("&");
        let values = Values::sent(format!("csrf=secret&{body}").as_bytes());
        assert_eq!(values.0.len(), MAX_VALUES);
        assert_eq!(values.get("csrf"), "");
    }

    #[test]
    fn a_refusal_of_the_api_lands_next_to_its_field() {
        let errors = FieldErrors::from_refusal(
            "encounter",
            ApiError::Refused {
                rule: "encounter-in-the-future",
                detail: "an encounter cannot be recorded before it happens".into(),
            },
            &[("encounter-in-the-future", "held_on")],
        )
        .unwrap();
        assert!(errors.get("encounter.held_on").is_some());

        let errors = FieldErrors::from_refusal(
            "contact",
            ApiError::Refused {
                rule: "no-contact-after-decline",
                detail: "the member declined".into(),
            },
            &[],
        )
        .unwrap();
        assert_eq!(errors.get("contact"), Some("the member declined"));

        assert!(FieldErrors::from_refusal("contact", ApiError::Forbidden, &[]).is_err());
    }

    #[test]
    fn values_are_url_encoded() {
        assert_eq!(
            url_encode("/dashboard/cases/1 2"),
            "%2Fdashboard%2Fcases%2F1+2"
        );
    }
}
