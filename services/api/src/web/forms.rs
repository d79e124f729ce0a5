//! Forms: reading `application/x-www-form-urlencoded` bodies into the JSON API's own request
//! bodies (so a form is checked by exactly the rules a JSON body is), and turning the API's
//! refusals into messages next to the field they are about.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::error::ApiError;

/// A form as sent: its fields in order, repeated names kept.
#[derive(Debug, Default, Clone)]
pub(crate) struct Form {
    fields: Vec<(String, String)>,
}

impl Form {
    pub(crate) fn parse(body: &[u8]) -> Result<Form, ApiError> {
        serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
            .map(|fields| Form { fields })
            .map_err(|_| ApiError::InvalidBody("the form could not be read".to_owned()))
    }

    /// The first value of `name`, if sent.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// The value of `name`, trimmed; `None` when absent or blank.
    pub(crate) fn value(&self, name: &str) -> Option<&str> {
        self.get(name).map(str::trim).filter(|v| !v.is_empty())
    }

    /// The version of the case (or record) the page was rendered at, sent back with the form.
    pub(crate) fn version(&self) -> Option<u64> {
        self.value("version").and_then(|v| v.parse().ok())
    }

    /// The fields as submitted, to show them again beside their errors.
    pub(crate) fn values(&self) -> Values {
        Values(
            self.fields
                .iter()
                .filter(|(key, _)| key != "csrf")
                .map(|(key, value)| (key.clone(), value.clone()))
                .collect(),
        )
    }

    /// The form as the JSON body the API would take: dotted names and `[i]` make objects and
    /// arrays (`training.status`, `availability.weekly_hours[0].day`); blank values are left
    /// out, so an optional field left empty is absent; `csrf` and `version` are the page's,
    /// not the command's. Numbers are sent as numbers where `numbers` names the field.
    pub(crate) fn to_json(&self, numbers: &[&str]) -> Value {
        let mut root = Value::Object(Map::new());
        for (name, value) in &self.fields {
            let value = value.trim();
            if value.is_empty() || name == "csrf" || name == "version" {
                continue;
            }
            let value = match value.parse::<i64>() {
                Ok(number) if numbers.contains(&name.as_str()) => Value::from(number),
                _ => Value::from(value),
            };
            insert(&mut root, name, value);
        }
        // Rows of a form are numbered as shown; rows left blank leave no gap.
        compact(&mut root);
        root
    }

    /// Reads the form as the API's body `T`, naming the field serde stopped at.
    pub(crate) fn body<T: DeserializeOwned>(&self, numbers: &[&str]) -> Result<T, ApiError> {
        read(self.to_json(numbers))
    }
}

/// Reads `value` as `T`; a refusal names the path of the field it is about, as the JSON API's
/// 400s do (`training.completed_on: …`).
pub(crate) fn read<T: DeserializeOwned>(value: Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(value).map_err(|error| {
        let path = error.path().to_string();
        let message = error.into_inner().to_string();
        ApiError::InvalidBody(if path == "." {
            message
        } else {
            format!("{path}: {message}")
        })
    })
}

fn compact(value: &mut Value) {
    match value {
        Value::Array(items) => {
            items.retain(|item| !item.is_null());
            items.iter_mut().for_each(compact);
        }
        Value::Object(map) => map.values_mut().for_each(compact),
        _ => {}
    }
}

fn insert(root: &mut Value, path: &str, value: Value) {
    let mut node = root;
    let mut parts = path.split('.').peekable();
    while let Some(part) = parts.next() {
        let (key, index) = match part.split_once('[') {
            Some((key, rest)) => (key, rest.trim_end_matches(']').parse::<usize>().ok()),
            None => (part, None),
        };
        let last = parts.peek().is_none();
        let Value::Object(map) = node else { return };
        node = match index {
            None if last => {
                map.insert(key.to_owned(), value);
                return;
            }
            None => map
                .entry(key.to_owned())
                .or_insert_with(|| Value::Object(Map::new())),
            Some(index) => {
                let Value::Array(items) = map
                    .entry(key.to_owned())
                    .or_insert_with(|| Value::Array(Vec::new()))
                else {
                    return;
                };
                while items.len() <= index {
                    items.push(Value::Null);
                }
                if last {
                    items[index] = value;
                    return;
                }
                if items[index].is_null() {
                    items[index] = Value::Object(Map::new());
                }
                &mut items[index]
            }
        };
    }
}

/// The values a form was sent with, by field name.
#[derive(Debug, Default, Clone)]
pub(crate) struct Values(BTreeMap<String, String>);

impl Values {
    pub(crate) fn get(&self, name: &str) -> &str {
        self.0.get(name).map(String::as_str).unwrap_or_default()
    }

    pub(crate) fn set(&mut self, name: &str, value: impl Into<String>) {
        self.0.insert(name.to_owned(), value.into());
    }
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

/// serde's wording, for a person: what to do rather than what the parser expected.
fn friendly(message: &str) -> String {
    if message.starts_with("missing field") {
        "This is required.".to_owned()
    } else if message.starts_with("unknown variant") {
        "Choose one of the options.".to_owned()
    } else if message.starts_with("invalid type: string") && message.contains("expected i64") {
        "Enter a whole number.".to_owned()
    } else if message.contains("premature end of input")
        || message.contains("input contains invalid characters")
        || message.contains("input is out of range")
    {
        "Enter a date (or time) in the form shown.".to_owned()
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
    use serde_json::json;

    use super::*;

    #[test]
    fn dotted_and_indexed_names_make_the_json_body() {
        let form = Form::parse(
            b"csrf=x&version=3&staff_id=S1&training.status=trained&training.completed_on=&\
              availability.weekly_hours[0].day=monday&availability.weekly_hours[0].starts=08:00&\
              availability.weekly_hours[2].day=friday&capacity=4",
        )
        .unwrap();
        assert_eq!(
            form.to_json(&["capacity"]),
            json!({
                "staff_id": "S1",
                "training": {"status": "trained"},
                "availability": {"weekly_hours": [
                    {"day": "monday", "starts": "08:00"},
                    {"day": "friday"},
                ]},
                "capacity": 4,
            })
        );
        assert_eq!(form.version(), Some(3));
        assert_eq!(form.get("csrf"), Some("x"));
    }

    #[test]
    fn a_refusal_lands_next_to_its_field() {
        let errors = FieldErrors::from_refusal(
            "encounter",
            ApiError::InvalidBody("missing field `held_on`".into()),
            &[],
        )
        .unwrap();
        assert_eq!(errors.get("encounter.held_on"), Some("This is required."));

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
