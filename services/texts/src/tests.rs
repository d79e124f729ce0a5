use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use chrono::{TimeZone, Utc};
use fluent_syntax::ast::Entry;

use super::*;

fn locales() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("locales")
}

/// Every message and term id of one language's catalogue, as `file: id`.
fn ids(language: Language) -> BTreeSet<String> {
    let folder = locales().join(language.code());
    let mut ids = BTreeSet::new();
    for file in std::fs::read_dir(&folder).expect("a folder per language") {
        let path = file.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let source = std::fs::read_to_string(&path).unwrap();
        let resource = fluent_syntax::parser::parse(source.as_str())
            .unwrap_or_else(|(_, errors)| panic!("{}: {errors:?}", path.display()));
        for entry in resource.body {
            match entry {
                Entry::Message(message) => ids.insert(format!("{name}: {}", message.id.name)),
                Entry::Term(term) => ids.insert(format!("{name}: -{}", term.id.name)),
                Entry::Junk { content } => panic!("{}: junk {content:?}", path.display()),
                _ => false,
            };
        }
    }
    ids
}

#[test]
fn every_message_exists_in_every_language() {
    let english = ids(Language::En);
    assert!(english.len() > 10, "{english:?}");
    for language in Language::ALL {
        let theirs = ids(language);
        let missing: Vec<_> = english.difference(&theirs).collect();
        let extra: Vec<_> = theirs.difference(&english).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "{}: missing {missing:?}, only there {extra:?}",
            language.code()
        );
    }
    // And no folder of a language we do not list.
    let folders: BTreeSet<String> = std::fs::read_dir(locales())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let listed: BTreeSet<String> = Language::ALL.iter().map(|l| l.code().into()).collect();
    assert_eq!(folders, listed);
}

#[test]
fn every_message_reads_in_every_language_without_an_error() {
    // Formatted with every argument any message takes: an error would show as `{$name}`.
    for language in Language::ALL {
        for id in ids(language) {
            let id = id.split(": ").nth(1).unwrap();
            if id.starts_with('-') {
                continue;
            }
            let text = language.text_with(
                id,
                &[
                    ("seconds", number(3)),
                    ("hours", number(5)),
                    ("date", "DATE".into()),
                    ("name", "NAME".into()),
                    ("day", number(1)),
                    ("month", number(2)),
                    ("year", "2027".into()),
                    ("time", "09:05".into()),
                    ("link", "LINK".into()),
                    ("supporter", "SUPPORTER".into()),
                    ("count", number(2)),
                    ("left", "LEFT".into()),
                ],
            );
            assert!(!text.contains('{'), "{} {id}: {text}", language.code());
            assert!(!text.trim().is_empty(), "{} {id}", language.code());
        }
    }
}

#[test]
fn plurals_follow_each_languages_rules() {
    let wait = |language: Language, seconds| {
        language.text_with("feedback-wait", &[("seconds", number(seconds))])
    };
    assert!(wait(Language::En, 1).ends_with("in one second."));
    assert!(wait(Language::En, 2).ends_with("in 2 seconds."));
    assert!(wait(Language::Es, 1).ends_with("dentro de un segundo."));
    assert!(wait(Language::Es, 30).ends_with("dentro de 30 segundos."));
    let hours =
        |language: Language, hours| language.text_with("hours-left", &[("hours", number(hours))]);
    assert_eq!(hours(Language::En, 1), "within an hour");
    assert_eq!(hours(Language::En, 4), "within 4 hours");
    assert_eq!(hours(Language::Es, 1), "en menos de una hora");
    assert_eq!(hours(Language::Es, 4), "en menos de 4 horas");
}

#[test]
fn dates_are_written_each_languages_way() {
    let at = Utc.with_ymd_and_hms(2027, 3, 9, 14, 5, 0).unwrap();
    assert_eq!(Language::En.date_time(&at), "9 March 2027 at 14:05");
    assert_eq!(
        Language::Es.date_time(&at),
        "9 de marzo de 2027, a las 14:05"
    );
    let zone = chrono::FixedOffset::west_opt(5 * 3600).unwrap();
    assert_eq!(
        Language::En.date_time(&at.with_timezone(&zone)),
        "9 March 2027 at 09:05"
    );
}

#[test]
fn the_language_is_the_stated_one_else_the_browsers_else_the_default() {
    use Language::*;
    assert_eq!(Language::negotiate(Some("es"), Some("en-US"), En), Es);
    assert_eq!(Language::negotiate(Some("ES-mx"), None, En), Es);
    // A stated language we do not speak gives way to the browser's.
    assert_eq!(
        Language::negotiate(Some("fr"), Some("es-MX,en;q=0.5"), En),
        Es
    );
    assert_eq!(
        Language::negotiate(None, Some("fr-FR, es;q=0.8, en;q=0.7"), En),
        Es
    );
    assert_eq!(Language::negotiate(None, Some("en-GB,en;q=0.9"), Es), En);
    assert_eq!(Language::negotiate(None, Some("fr, de"), Es), Es);
    assert_eq!(Language::negotiate(None, Some(""), Es), Es);
    assert_eq!(Language::negotiate(None, Some(";;;,q=x"), En), En);
    assert_eq!(Language::negotiate(None, None, Es), Es);
}
