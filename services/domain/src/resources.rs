//! The program's resource directory: where a member can turn besides their peer supporter
//! (seeds 000 and 004 send resources to everyone contacted; seed 002's tier 3 path is EAP,
//! psychology, psychiatry and chaplaincy), with a crisis line as the floor: the 988 Suicide &
//! Crisis Lifeline in the defaults.
//!
//! It lives in configuration and is checked when it is read: every entry has a name and a way to
//! reach it, links are http(s) URLs, every text is short and on one line, and the directory lists
//! at least one crisis line. The resource sheet e-mailed to members lists [`ResourceDirectory::
//! sheet_order`]; supporters see the tier 3 entries on their case page.
//!
//! An entry's words are the program's own, in the language it configured them in; it may add
//! them in other languages ([`Resource::translations`]), so that the sheet a member reads in
//! Spanish names the places to turn to in Spanish too ([`Resource::in_language`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

const MAX_ENTRIES: usize = 50;
const MAX_TEXT: usize = 200;
const MAX_LANGUAGES: usize = 20;
/// A language code as the members' catalogues name them: `es`, `en`, `pt-BR`.
const MAX_LANGUAGE_CODE: usize = 16;

/// What kind of help an entry offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResourceKind {
    Peer,
    /// Employee assistance program.
    Eap,
    Psychology,
    Psychiatry,
    Chaplaincy,
    CrisisLine,
    Other,
}

impl ResourceKind {
    /// Professional help beyond peer support (tier 3 of Scott's model), the crisis line included.
    pub fn is_tier_three(self) -> bool {
        matches!(
            self,
            ResourceKind::Eap
                | ResourceKind::Psychology
                | ResourceKind::Psychiatry
                | ResourceKind::Chaplaincy
                | ResourceKind::CrisisLine
        )
    }

    pub fn words(self) -> &'static str {
        match self {
            ResourceKind::Peer => "Peer support",
            ResourceKind::Eap => "Employee assistance (EAP)",
            ResourceKind::Psychology => "Psychology",
            ResourceKind::Psychiatry => "Psychiatry",
            ResourceKind::Chaplaincy => "Chaplaincy",
            ResourceKind::CrisisLine => "Crisis line",
            ResourceKind::Other => "Other help",
        }
    }
}

/// One place to turn to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resource {
    pub name: String,
    pub kind: ResourceKind,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub url: Option<String>,
    /// When it answers, in the program's words (e.g. "24/7", "Mon-Fri 8:00-17:00").
    #[serde(default)]
    pub hours: Option<String>,
    /// Languages it can be reached in, e.g. "en", "es".
    #[serde(default)]
    pub languages: Vec<String>,
    /// The entry's words in other languages, by language code (`es`): what is given there
    /// replaces the configured text for members who read that language; what is not is shown
    /// as configured.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub translations: BTreeMap<String, ResourceWords>,
}

/// An entry's words in one language: each one left out is the entry's own.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceWords {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub hours: Option<String>,
}

/// `[resources]`: the directory, in the order the sheet lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ResourceDirectory {
    pub entries: Vec<Resource>,
}

impl Default for ResourceDirectory {
    fn default() -> Self {
        Self {
            entries: vec![Resource::lifeline_988()],
        }
    }
}

impl Resource {
    /// The floor of every US program's directory.
    pub fn lifeline_988() -> Self {
        Resource {
            name: "988 Suicide & Crisis Lifeline".into(),
            kind: ResourceKind::CrisisLine,
            phone: Some("988 (call or text)".into()),
            url: Some("https://988lifeline.org".into()),
            hours: Some("24/7".into()),
            languages: vec!["en".into(), "es".into()],
            translations: BTreeMap::from([(
                "es".into(),
                ResourceWords {
                    name: Some("988 Línea de Prevención del Suicidio y Crisis".into()),
                    phone: Some(
                        "988 (llame y marque 2, o envíe AYUDA en un mensaje de texto)".into(),
                    ),
                    url: Some("https://988lineadevida.org".into()),
                    hours: Some("24 horas, todos los días".into()),
                },
            )]),
        }
    }

    /// The entry as a member reading `language` (a code, `es`) sees it: its translation's
    /// words where given, else its own.
    pub fn in_language(&self, language: &str) -> Resource {
        let Some(words) = self.translations.get(language) else {
            return self.clone();
        };
        Resource {
            name: words.name.clone().unwrap_or_else(|| self.name.clone()),
            phone: words.phone.clone().or_else(|| self.phone.clone()),
            url: words.url.clone().or_else(|| self.url.clone()),
            hours: words.hours.clone().or_else(|| self.hours.clone()),
            ..self.clone()
        }
    }
}

/// A directory entry that cannot be shown or sent as it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DirectoryError {
    #[error("resources.entries: at most {MAX_ENTRIES} entries")]
    TooManyEntries,
    #[error("resources.entries: list at least one crisis line (kind = \"crisis_line\"), such as the 988 Suicide & Crisis Lifeline")]
    NoCrisisLine,
    #[error("resources.entries[{0}].{1}: {2}")]
    Entry(usize, &'static str, &'static str),
}

impl ResourceDirectory {
    /// Checks the directory as configured; meant for loading configuration.
    pub fn validate(&self) -> Result<(), DirectoryError> {
        if self.entries.len() > MAX_ENTRIES {
            return Err(DirectoryError::TooManyEntries);
        }
        for (at, entry) in self.entries.iter().enumerate() {
            let wrong = |field, problem| Err(DirectoryError::Entry(at, field, problem));
            let texts = [
                ("name", Some(&entry.name)),
                ("phone", entry.phone.as_ref()),
                ("url", entry.url.as_ref()),
                ("hours", entry.hours.as_ref()),
            ];
            for (field, text) in texts {
                match text {
                    Some(text) if !one_short_line(text) => {
                        return wrong(field, "must be one line of 1 to 200 characters")
                    }
                    _ => {}
                }
            }
            if entry.languages.len() > MAX_LANGUAGES
                || !entry.languages.iter().all(|l| one_short_line(l))
            {
                return wrong("languages", "at most 20, each one short line");
            }
            if entry.translations.len() > MAX_LANGUAGES {
                return wrong("translations", "at most 20 languages");
            }
            for (code, words) in &entry.translations {
                if !is_language_code(code) {
                    return wrong("translations", "keys are language codes, such as es");
                }
                let texts = [
                    ("translations.name", words.name.as_ref()),
                    ("translations.phone", words.phone.as_ref()),
                    ("translations.url", words.url.as_ref()),
                    ("translations.hours", words.hours.as_ref()),
                ];
                for (field, text) in texts {
                    match text {
                        Some(text) if !one_short_line(text) => {
                            return wrong(field, "must be one line of 1 to 200 characters")
                        }
                        _ => {}
                    }
                }
                if !words.url.as_deref().is_none_or(is_web_link) {
                    return wrong("translations.url", "must be an http(s) URL");
                }
            }
            if entry.phone.is_none() && entry.url.is_none() {
                return wrong(
                    "phone",
                    "give a phone number or a url, so it can be reached",
                );
            }
            if !entry.url.as_deref().is_none_or(is_web_link) {
                return wrong("url", "must be an http(s) URL");
            }
        }
        if !self
            .entries
            .iter()
            .any(|entry| entry.kind == ResourceKind::CrisisLine)
        {
            return Err(DirectoryError::NoCrisisLine);
        }
        Ok(())
    }

    /// Tier 3 and the crisis line: what a supporter can refer a member on to.
    pub fn tier_three(&self) -> impl Iterator<Item = &Resource> {
        self.entries
            .iter()
            .filter(|entry| entry.kind.is_tier_three())
    }

    /// The entries in the order of the sheet members are sent: the crisis lines first, then
    /// the rest as configured. The sheet names no one and nothing of the case; its words are
    /// in the member's language (`outreach_projections::resource_sheets`).
    pub fn sheet_order(&self) -> impl Iterator<Item = &Resource> {
        let crisis = |e: &&Resource| e.kind == ResourceKind::CrisisLine;
        self.entries
            .iter()
            .filter(crisis)
            .chain(self.entries.iter().filter(move |e| !crisis(e)))
    }
}

fn is_web_link(link: &str) -> bool {
    url::Url::parse(link).is_ok_and(|parsed| matches!(parsed.scheme(), "https" | "http"))
}

/// A BCP 47-looking code: letters, digits and hyphens, starting with a letter.
fn is_language_code(code: &str) -> bool {
    (2..=MAX_LANGUAGE_CODE).contains(&code.len())
        && code.starts_with(|c: char| c.is_ascii_alphabetic())
        && code.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

fn one_short_line(text: &str) -> bool {
    let length = text.trim().chars().count();
    (1..=MAX_TEXT).contains(&length) && !text.chars().any(char::is_control)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eap() -> Resource {
        Resource {
            name: "Employee Assistance Program".into(),
            kind: ResourceKind::Eap,
            phone: Some("+1 415 555 0199".into()),
            url: None,
            hours: Some("Mon-Fri 8:00-17:00".into()),
            languages: vec![],
            translations: BTreeMap::new(),
        }
    }

    #[test]
    fn the_default_directory_is_the_988_lifeline_and_is_valid() {
        let directory = ResourceDirectory::default();
        assert_eq!(directory.validate(), Ok(()));
        assert_eq!(directory.entries[0].name, "988 Suicide & Crisis Lifeline");
        assert_eq!(directory.tier_three().count(), 1);
    }

    #[test]
    fn a_directory_without_a_crisis_line_is_refused() {
        let directory = ResourceDirectory {
            entries: vec![eap()],
        };
        assert_eq!(directory.validate(), Err(DirectoryError::NoCrisisLine));
    }

    #[test]
    fn entries_need_a_way_in_a_web_link_and_one_line_each() {
        let refused = |entry: Resource| {
            ResourceDirectory {
                entries: vec![Resource::lifeline_988(), entry],
            }
            .validate()
            .unwrap_err()
        };
        let unreachable = Resource {
            phone: None,
            ..eap()
        };
        assert_eq!(
            refused(unreachable),
            DirectoryError::Entry(
                1,
                "phone",
                "give a phone number or a url, so it can be reached"
            )
        );
        let script = Resource {
            url: Some("javascript:alert(1)".into()),
            ..eap()
        };
        assert!(matches!(
            refused(script),
            DirectoryError::Entry(1, "url", _)
        ));
        let two_lines = Resource {
            name: "EAP\nBcc: someone@example.org".into(),
            ..eap()
        };
        assert!(matches!(
            refused(two_lines),
            DirectoryError::Entry(1, "name", _)
        ));
    }

    #[test]
    fn an_entry_in_a_language_takes_its_translations_words_and_keeps_its_own_for_the_rest() {
        let entry = Resource {
            translations: BTreeMap::from([(
                "es".into(),
                ResourceWords {
                    name: Some("Programa de Asistencia al Empleado".into()),
                    hours: Some("lun-vie 8:00-17:00".into()),
                    ..ResourceWords::default()
                },
            )]),
            ..eap()
        };
        let spanish = entry.in_language("es");
        assert_eq!(spanish.name, "Programa de Asistencia al Empleado");
        assert_eq!(spanish.hours.as_deref(), Some("lun-vie 8:00-17:00"));
        assert_eq!(spanish.phone, eap().phone);
        assert_eq!(entry.in_language("en"), entry);
        assert_eq!(entry.in_language("fr"), entry);
        let lifeline = Resource::lifeline_988().in_language("es");
        assert_eq!(
            lifeline.name,
            "988 Línea de Prevención del Suicidio y Crisis"
        );
    }

    #[test]
    fn translations_are_checked_as_the_entry_is() {
        let refused = |code: &str, words: ResourceWords| {
            ResourceDirectory {
                entries: vec![
                    Resource::lifeline_988(),
                    Resource {
                        translations: BTreeMap::from([(code.into(), words)]),
                        ..eap()
                    },
                ],
            }
            .validate()
            .unwrap_err()
        };
        let two_lines = ResourceWords {
            name: Some("PAE\nBcc: someone@example.org".into()),
            ..ResourceWords::default()
        };
        assert!(matches!(
            refused("es", two_lines),
            DirectoryError::Entry(1, "translations.name", _)
        ));
        let script = ResourceWords {
            url: Some("javascript:alert(1)".into()),
            ..ResourceWords::default()
        };
        assert!(matches!(
            refused("es", script),
            DirectoryError::Entry(1, "translations.url", _)
        ));
        assert!(matches!(
            refused("<b>es</b>", ResourceWords::default()),
            DirectoryError::Entry(1, "translations", _)
        ));
    }

    #[test]
    fn the_sheet_lists_the_crisis_lines_first_then_the_rest_as_configured() {
        let directory = ResourceDirectory {
            entries: vec![eap(), Resource::lifeline_988()],
        };
        let order: Vec<ResourceKind> = directory.sheet_order().map(|e| e.kind).collect();
        assert_eq!(order, [ResourceKind::CrisisLine, ResourceKind::Eap]);
    }

    #[test]
    fn tier_three_is_professional_help_and_the_crisis_line_not_peers() {
        assert!(ResourceKind::Psychiatry.is_tier_three());
        assert!(ResourceKind::CrisisLine.is_tier_three());
        assert!(!ResourceKind::Peer.is_tier_three());
        assert!(!ResourceKind::Other.is_tier_three());
    }
}
