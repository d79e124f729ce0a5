//! The program's resource directory: where a member can turn besides their peer supporter
//! (seeds 000 and 004 send resources to everyone contacted; seed 002's tier 3 path is EAP,
//! psychology, psychiatry and chaplaincy), with a crisis line as the floor: the 988 Suicide &
//! Crisis Lifeline in the defaults.
//!
//! It lives in configuration and is checked when it is read: every entry has a name and a way to
//! reach it, links are http(s) URLs, every text is short and on one line, and the directory lists
//! at least one crisis line. The resource sheet e-mailed to members lists [`ResourceDirectory::
//! sheet_order`]; supporters see the tier 3 entries on their case page.

use serde::{Deserialize, Serialize};

const MAX_ENTRIES: usize = 50;
const MAX_TEXT: usize = 200;
const MAX_LANGUAGES: usize = 20;

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
            if entry.phone.is_none() && entry.url.is_none() {
                return wrong(
                    "phone",
                    "give a phone number or a url, so it can be reached",
                );
            }
            if let Some(link) = &entry.url {
                match url::Url::parse(link) {
                    Ok(parsed) if matches!(parsed.scheme(), "https" | "http") => {}
                    _ => return wrong("url", "must be an http(s) URL"),
                }
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
