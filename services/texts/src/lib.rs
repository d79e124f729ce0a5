//! What a care team member reads, in their language: the member's pages, the feedback page and
//! the e-mails sent to them, from Fluent catalogues under `locales/` (one folder a language,
//! the same files and the same message ids in each: a test fails otherwise).
//!
//! The language is the member's stated preference, else the browser's `Accept-Language`, else
//! the program's default ([`Language::negotiate`]). Plurals are Fluent's (the plural rules of
//! each language); dates are written by the catalogue too (`date-time`), from the parts of a
//! time in the program's zone, so that each language orders and names them its own way.

use std::borrow::Cow;
use std::collections::HashMap;

use chrono::{DateTime, Datelike, TimeZone, Timelike};
use fluent_templates::fluent_bundle::FluentValue;
use fluent_templates::{LanguageIdentifier, Loader};
use serde::{Deserialize, Serialize};

fluent_templates::static_loader! {
    static LOCALES = {
        locales: "./locales",
        fallback_language: "en",
        // No Unicode isolation marks around arguments: the texts go into e-mails and HTML
        // whose readers would see them as stray characters.
        customise: |bundle| bundle.set_use_isolating(false),
    };
}

/// A language the program speaks to members in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    #[default]
    En,
    Es,
}

/// An argument of a message.
pub type Arg<'a> = (&'static str, FluentValue<'a>);

impl Language {
    pub const ALL: [Language; 2] = [Language::En, Language::Es];

    /// The language's BCP 47 code, as in `<html lang>` and the catalogues' folders.
    pub fn code(self) -> &'static str {
        match self {
            Language::En => "en",
            Language::Es => "es",
        }
    }

    /// The language a tag names, whatever its region or case (`es-MX`, `ES`); `None` for one
    /// we do not speak or that is not a language tag.
    pub fn from_tag(tag: &str) -> Option<Language> {
        let id: LanguageIdentifier = tag.trim().parse().ok()?;
        Language::ALL
            .into_iter()
            .find(|language| language.code() == id.language.as_str())
    }

    /// The member's stated language if we speak it, else the best of the browser's
    /// `Accept-Language` that we speak, else `default`.
    pub fn negotiate(
        stated: Option<&str>,
        accept_language: Option<&str>,
        default: Language,
    ) -> Language {
        if let Some(language) = stated.and_then(Language::from_tag) {
            return language;
        }
        let Some(accept) = accept_language else {
            return default;
        };
        let requested = fluent_langneg::accepted_languages::parse(accept);
        let available: Vec<LanguageIdentifier> = Language::ALL
            .iter()
            .map(|l| l.code().parse().expect("our codes are language tags"))
            .collect();
        fluent_langneg::negotiate_languages(
            &requested,
            &available,
            None,
            fluent_langneg::NegotiationStrategy::Lookup,
        )
        .first()
        .and_then(|id| Language::from_tag(&id.to_string()))
        .unwrap_or(default)
    }

    fn id(self) -> LanguageIdentifier {
        self.code().parse().expect("our codes are language tags")
    }

    /// The message `id`, without arguments.
    pub fn text(self, id: &str) -> String {
        self.text_with(id, &[])
    }

    /// The message `id` with `args`.
    ///
    /// # Panics
    ///
    /// When the catalogues have no message `id` in this language: a message is named in code
    /// by a literal, and the catalogues' tests name every one; a missing one is a bug to find in
    /// the tests, not a text to show a member.
    pub fn text_with(self, id: &str, args: &[Arg<'_>]) -> String {
        let args: HashMap<Cow<'static, str>, FluentValue<'_>> = args
            .iter()
            .map(|(name, value)| (Cow::Borrowed(*name), value.clone()))
            .collect();
        // `try_lookup` falls back to English; a message must be in every language itself.
        LOCALES
            .try_lookup_complete(&self.id(), id, (!args.is_empty()).then_some(&args))
            .unwrap_or_else(|| panic!("no message {id} in {}", self.code()))
    }

    /// A moment as this language writes it: day, month's name, year and time, in the zone the
    /// moment carries.
    pub fn date_time<Z: TimeZone>(self, at: &DateTime<Z>) -> String {
        self.text_with(
            "date-time",
            &[
                ("day", at.day().into()),
                ("month", at.month().into()),
                ("year", at.year().to_string().into()),
                (
                    "time",
                    format!("{:02}:{:02}", at.hour(), at.minute()).into(),
                ),
            ],
        )
    }
}

/// A number argument (for plurals).
pub fn number(n: i64) -> FluentValue<'static> {
    FluentValue::from(n)
}

#[cfg(test)]
mod tests;
