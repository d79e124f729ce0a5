//! The values bodies and forms share, each checked as it is read (so a 400 names its field) and
//! documented by exactly the rule it is checked by: the OpenAPI document's `pattern`,
//! `minLength` and `maxLength` say what the code accepts, no more and no less.

use std::borrow::Cow;

use chrono::{NaiveTime, Timelike};
use serde::{Deserialize, Deserializer};
use utoipa::openapi::{ObjectBuilder, RefOr, Schema, Type};
use utoipa::{PartialSchema, ToSchema};

/// Control characters (general category Cc): what `char::is_control` refuses.
macro_rules! control {
    () => {
        r"\u0000-\u001F\u007F-\u009F"
    };
}

/// White space (the Unicode White_Space property, what `str::trim` removes) and control.
macro_rules! blank {
    () => {
        concat!(r"\u0000-\u0020\u007F-\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000")
    };
}

/// One line (no control characters) with at least one character that is not white space.
pub(crate) const SHORT_TEXT_PATTERN: &str = concat!(
    "^[^",
    control!(),
    "]*[^",
    blank!(),
    "][^",
    control!(),
    "]*$"
);
/// An identifier: a letter or digit, then letters, digits, `.`, `_` or `-`.
pub(crate) const STAFF_ID_PATTERN: &str = "^[A-Za-z0-9][A-Za-z0-9._-]*$";
/// Something, `@`, something without `@`; no white space or control characters anywhere.
pub(crate) const EMAIL_PATTERN: &str = concat!("^[^", blank!(), "]+@[^@", blank!(), "]+$");
pub(crate) const PHONE_PATTERN: &str = r"^\+?[0-9 ()-]{3,32}$";
/// `09:00` or `09:00:00`.
pub(crate) const TIME_OF_DAY_PATTERN: &str = "^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?$";

fn string(min: Option<usize>, max: usize, pattern: &str, example: &str) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(min)
        .max_length(Some(max))
        .pattern(Some(pattern))
        .examples([example])
        .into()
}

macro_rules! schema {
    ($type:ident, $name:literal, $schema:expr) => {
        impl PartialSchema for $type {
            fn schema() -> RefOr<Schema> {
                $schema
            }
        }

        impl ToSchema for $type {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed($name)
            }
        }
    };
}

/// A staff id as the safety-reporting systems write them (`common.v1.schema.json#/$defs/staffId`):
/// an identifier, so it cannot carry text about anyone.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct StaffId(pub(crate) String);

impl StaffId {
    const MAX_LEN: usize = 64;
}

impl TryFrom<String> for StaffId {
    type Error = &'static str;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        let mut bytes = value.bytes();
        let well_formed = value.len() <= Self::MAX_LEN
            && bytes.next().is_some_and(|b| b.is_ascii_alphanumeric())
            && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if well_formed {
            Ok(StaffId(value))
        } else {
            Err("a staff id is 1 to 64 letters, digits, `.`, `_` or `-`, starting with a letter or digit")
        }
    }
}

schema!(
    StaffId,
    "StaffId",
    string(Some(1), StaffId::MAX_LEN, STAFF_ID_PATTERN, "E10001")
);

/// A member's staff id in a body, with the rules of [`StaffId`].
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct MemberStaffId(pub(crate) String);

impl TryFrom<String> for MemberStaffId {
    type Error = &'static str;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        StaffId::try_from(value.clone())?;
        Ok(MemberStaffId(value))
    }
}

schema!(MemberStaffId, "StaffId", StaffId::schema());

/// A name, role, department, campus, unit, specialty or language: 1 to 100 characters on one
/// line, not all white space.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct ShortText(pub(crate) String);

impl ShortText {
    pub(crate) const MAX_CHARS: usize = 100;
}

impl TryFrom<String> for ShortText {
    type Error = &'static str;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        if value.trim().is_empty() {
            Err("must not be empty")
        } else if value.chars().count() > Self::MAX_CHARS {
            Err("must be at most 100 characters")
        } else if value.chars().any(char::is_control) {
            Err("must be one line without control characters")
        } else {
            Ok(ShortText(value))
        }
    }
}

schema!(
    ShortText,
    "ShortText",
    string(Some(1), ShortText::MAX_CHARS, SHORT_TEXT_PATTERN, "ICU 4")
);

/// An e-mail address: something, `@`, something; no spaces.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Email(pub(crate) String);

impl Email {
    const MAX_CHARS: usize = 254;
}

impl TryFrom<String> for Email {
    type Error = &'static str;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        let well_formed = value.chars().count() <= Self::MAX_CHARS
            && !value.chars().any(|c| c.is_whitespace() || c.is_control())
            && value
                .rsplit_once('@')
                .is_some_and(|(local, domain)| !local.is_empty() && !domain.is_empty());
        if well_formed {
            Ok(Email(value))
        } else {
            Err("an e-mail address is up to 254 characters, with an `@` and no spaces")
        }
    }
}

schema!(
    Email,
    "Email",
    string(
        None,
        Email::MAX_CHARS,
        EMAIL_PATTERN,
        "ana.silva@hospital.example"
    )
);

/// A phone number: `^\+?[0-9 ()-]{3,32}$`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Phone(pub(crate) String);

impl TryFrom<String> for Phone {
    type Error = &'static str;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        let number = value.strip_prefix('+').unwrap_or(&value);
        let well_formed = (3..=32).contains(&number.len())
            && number
                .bytes()
                .all(|b| b.is_ascii_digit() || matches!(b, b' ' | b'(' | b')' | b'-'));
        if well_formed {
            Ok(Phone(value))
        } else {
            Err("a phone number is an optional `+` and 3 to 32 digits, spaces, `(`, `)` or `-`")
        }
    }
}

schema!(
    Phone,
    "Phone",
    string(None, 33, PHONE_PATTERN, "+1 555 0100")
);

/// A caller as the identity provider names them (`sub`): 1 to 255 characters, no control
/// characters.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Subject(pub(crate) String);

impl TryFrom<String> for Subject {
    type Error = &'static str;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        let length = value.chars().count();
        if (1..=255).contains(&length) && !value.chars().any(char::is_control) {
            Ok(Subject(value))
        } else {
            Err("a subject is 1 to 255 characters without control characters")
        }
    }
}

schema!(
    Subject,
    "Subject",
    string(
        Some(1),
        255,
        concat!("^[^", control!(), "]+$"),
        "oidc|director"
    )
);

/// A time of day in the program's time zone: `09:00`, or `09:00:00`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeOfDay(pub(crate) NaiveTime);

impl<'de> Deserialize<'de> for TimeOfDay {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        // The pattern's shape exactly: chrono alone would also take a leap second or a fraction.
        let shaped = matches!(text.len(), 5 | 8)
            && text.bytes().enumerate().all(|(i, b)| match i {
                2 | 5 => b == b':',
                _ => b.is_ascii_digit(),
            });
        let format = if text.len() == 5 { "%H:%M" } else { "%H:%M:%S" };
        match NaiveTime::parse_from_str(&text, format) {
            // chrono reads `:60` as a leap second; the pattern has none.
            Ok(time) if shaped && time.nanosecond() < 1_000_000_000 => Ok(TimeOfDay(time)),
            _ => Err(serde::de::Error::custom(
                "a time of day is written 09:00 or 09:00:00",
            )),
        }
    }
}

impl serde::Serialize for TimeOfDay {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0.format("%H:%M:%S"))
    }
}

schema!(
    TimeOfDay,
    "TimeOfDay",
    string(Some(5), 8, TIME_OF_DAY_PATTERN, "08:00")
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_texts_are_one_line_of_1_to_100_characters() {
        for good in ["a", "ICU 4", "Émilie", &"é".repeat(100), " a "] {
            assert!(ShortText::try_from(good.to_owned()).is_ok(), "{good:?}");
        }
        for bad in [
            "",
            "   ",
            "\u{3000}",
            "line\nbreak",
            "tab\there",
            &"x".repeat(101),
        ] {
            assert!(ShortText::try_from(bad.to_owned()).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn times_of_day_have_the_documented_shape() {
        let time = |text: &str| serde_json::from_value::<TimeOfDay>(text.into()).map(|t| t.0);
        assert_eq!(
            time("09:00").unwrap(),
            NaiveTime::from_hms_opt(9, 0, 0).unwrap()
        );
        assert_eq!(
            time("23:59:59").unwrap(),
            NaiveTime::from_hms_opt(23, 59, 59).unwrap()
        );
        for bad in [
            "9:00",
            "24:00",
            "23:59:60",
            "09:00:00.5",
            "09:00Z",
            "",
            "0900",
            "09:60",
        ] {
            assert!(time(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn e_mail_addresses_have_an_at_sign_and_no_spaces() {
        for good in ["a@b", "ana.silva@hospital.example", "\"x\"@host", "a@b@c"] {
            assert!(Email::try_from(good.to_owned()).is_ok(), "{good:?}");
        }
        for bad in [
            "",
            "ana",
            "@host",
            "ana@",
            "ana @host",
            "ana@host\n",
            "a@b@",
        ] {
            assert!(Email::try_from(bad.to_owned()).is_err(), "{bad:?}");
        }
        let long = format!("{}@host", "x".repeat(250));
        assert!(Email::try_from(long).is_err());
    }

    #[test]
    fn phone_numbers_match_the_documented_pattern() {
        for good in [
            "+1 555 0100",
            "(555) 010-0100",
            "123",
            "+123",
            &"1".repeat(32),
        ] {
            assert!(Phone::try_from(good.to_owned()).is_ok(), "{good:?}");
        }
        for bad in [
            "",
            "12",
            "+12",
            "++123",
            "555-CALL-NOW",
            "1.555.0100",
            &"1".repeat(33),
        ] {
            assert!(Phone::try_from(bad.to_owned()).is_err(), "{bad:?}");
        }
    }
}
