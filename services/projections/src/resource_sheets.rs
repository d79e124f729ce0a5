//! Resource sheets: when a member declines support, and whenever a supporter records that they
//! gave resources, the member is e-mailed the program's resource sheet (promise 4: "a resource
//! brochure is still offered to everyone contacted"; seeds 002, 004). A `resource-sheet` row on
//! the outbox's e-mail channel is written in the same transaction as this projection's
//! checkpoint (architecture rules 1 and 4); the e-mail publisher sends it and, once the mail
//! server accepted it, records `ResourceSheetSent` on the case. Until then the case says the
//! sheet is not sent yet: the record never claims what did not happen.
//!
//! The sheet is the configured directory, crisis lines first ([`ResourceDirectory::
//! sheet_order`]), the same for everyone, in the member's stated language (else the program's
//! default); the row adds only the member's address, from the case's opening. A member without an e-mail
//! address gets no row (the case page says the sheet must be given by phone), nor does a
//! decline stored before sheets were sent for real (it claimed one; nothing is sent for it now).
//!
//! The row holds the member's address: personal data. It is cleared with the member's purge
//! (`PersonalDataPurged`): deleted if unsent, its payload emptied if sent, like the assignment
//! e-mails. Ids are derived from the causing event and inserted `ON CONFLICT DO NOTHING`;
//! `reset` deletes nothing and the start line is set by the migration that introduced it.

use std::collections::{BTreeSet, HashMap, HashSet};

use async_trait::async_trait;
use outreach_domain::resources::{Resource, ResourceDirectory};
use outreach_events::case;
use outreach_events::{CaseEvent, MemberContact};
use outreach_texts::Language;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::director_notices::outbox_id;
use crate::outbox::{OutboxRow, Recorded};
use crate::stored_event::member_contacts;
use crate::{member_languages, Projection, ProjectionError, Reads, StoredEvent};

/// The outbox `kind` of a resource sheet (and the namespace of its id).
pub const RESOURCE_SHEET: &str = "resource-sheet";

pub struct ResourceSheets {
    /// The sheet every member is sent, composed once in each language.
    sheets: HashMap<Language, String>,
    /// The language of sheets to members who stated none the program speaks.
    default_language: Language,
}

impl ResourceSheets {
    pub fn new(directory: &ResourceDirectory) -> Self {
        Self {
            sheets: Language::ALL
                .into_iter()
                .map(|language| (language, sheet(directory, language)))
                .collect(),
            default_language: Language::default(),
        }
    }

    /// Sheets to members who stated no language the program speaks are in `language`.
    pub fn with_default_language(mut self, language: Language) -> Self {
        self.default_language = language;
        self
    }
}

/// The sheet as plain text in `language`: every entry, the crisis lines first. It names no one
/// and nothing of the case; entries' names, numbers and hours are the program's own, in
/// `language` where the program configured them in it.
fn sheet(directory: &ResourceDirectory, language: Language) -> String {
    let mut sheet = language.text("email-resources-intro");
    sheet.push('\n');
    for entry in directory.sheet_order() {
        let entry = &entry.in_language(language.code());
        sheet.push_str(&format!(
            "\n{} ({})\n",
            entry.name,
            kind_words(entry, language)
        ));
        for (label, value) in [
            ("resources-phone", &entry.phone),
            ("resources-web", &entry.url),
            ("resources-hours", &entry.hours),
        ] {
            if let Some(value) = value {
                sheet.push_str(&format!("  {}: {value}\n", language.text(label)));
            }
        }
        if !entry.languages.is_empty() {
            sheet.push_str(&format!(
                "  {}: {}\n",
                language.text("resources-languages"),
                entry.languages.join(", ")
            ));
        }
    }
    sheet.push('\n');
    sheet.push_str(&language.text("email-resources-crisis"));
    sheet.push('\n');
    sheet
}

/// The entry's kind in `language`: its message is named by the kind's configuration code.
fn kind_words(entry: &Resource, language: Language) -> String {
    let code = serde_json::to_value(entry.kind)
        .ok()
        .and_then(|code| code.as_str().map(str::to_owned))
        .unwrap_or_else(|| "other".into());
    language.text(&format!("resource-kind-{code}"))
}

/// What the sheets read of one event.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Step {
    /// The case's member is owed a sheet.
    Send(Uuid),
    /// A purge, and the cases it covers.
    Purge(HashSet<Uuid>),
}

#[async_trait]
impl Projection for ResourceSheets {
    fn name(&self) -> &'static str {
        "resource-sheets"
    }

    fn reads(&self) -> Reads {
        Reads {
            event_types: &[
                "SupportDeclined",
                CaseEvent::RESOURCES_SENT,
                "PersonalDataPurged",
            ],
            // None holds any; the members' addresses come from their cases' openings, opened
            // when they are loaded.
            personal_data_of: &[],
        }
    }

    /// Deletes nothing: sheets may have been sent already (see the module).
    async fn reset(&self, _db: &mut PgConnection) -> Result<(), ProjectionError> {
        Ok(())
    }

    async fn apply(
        &self,
        db: &mut PgConnection,
        events: &[StoredEvent],
    ) -> Result<(), ProjectionError> {
        let mut steps = crate::outbox::steps(db, events, Step::Purge, |event| {
            if event.aggregate_type != case::AGGREGATE_TYPE {
                return Ok(None);
            }
            let owed = match event.decode::<CaseEvent>()? {
                CaseEvent::SupportDeclined(declined) => declined.unverified_sheet_claim.is_none(),
                CaseEvent::ResourcesSent(_) => true,
                _ => return Err(event.unreadable("event type and payload disagree".into())),
            };
            if !owed {
                return Ok(None);
            }
            Ok(Some(Step::Send(event.aggregate_uuid()?)))
        })
        .await?;
        let members = load(db, steps.values()).await?;
        let mut recorded = Recorded::default();
        for (at, event) in events.iter().enumerate() {
            let _applying = crate::applying(self.name(), event).entered();
            if let Some(step) = steps.remove(&at) {
                self.send(&mut recorded, &members, event, step)?;
            }
        }
        recorded.write(db, &[RESOURCE_SHEET]).await
    }
}

impl ResourceSheets {
    /// Records the sheet one step owes, or takes back what a purge covers.
    pub(crate) fn send(
        &self,
        recorded: &mut Recorded,
        members: &Members,
        event: &StoredEvent,
        step: Step,
    ) -> Result<(), ProjectionError> {
        let case_id = match step {
            Step::Purge(cases) => {
                recorded.purge(&cases);
                return Ok(());
            }
            Step::Send(case_id) => case_id,
        };
        let Some(member) = members.contacts.get(&case_id) else {
            return Err(event.unreadable("the case has no CaseOpened event".into()));
        };
        // Purged before (a replay after the purge), or no e-mail address: nowhere to send.
        let Some(address) = member
            .as_ref()
            .and_then(|m| m.email.as_deref())
            .map(|a| a.trim())
            .filter(|a| !a.is_empty() && !a.chars().any(char::is_control))
        else {
            return Ok(());
        };
        recorded.record(OutboxRow {
            id: outbox_id(RESOURCE_SHEET, event),
            kind: RESOURCE_SHEET,
            channel: "email",
            case_id,
            payload: {
                let language = members
                    .languages
                    .get(&case_id)
                    .copied()
                    .unwrap_or(self.default_language);
                crate::alert_messages::email(
                    address,
                    &language.text("email-resources-subject"),
                    self.sheets[&language].clone(),
                )
            },
            created_at: event.recorded_at,
        });
        Ok(())
    }
}

/// What the sheets need of the members of a batch's cases.
#[derive(Debug, Default)]
pub(crate) struct Members {
    /// Their contact details, from the cases' openings.
    contacts: HashMap<Uuid, Option<MemberContact>>,
    /// The language each stated, where the program speaks it.
    languages: HashMap<Uuid, Language>,
}

async fn load(
    db: &mut PgConnection,
    steps: impl Iterator<Item = &Step>,
) -> Result<Members, ProjectionError> {
    let cases: Vec<String> = steps
        .filter_map(|step| match step {
            Step::Send(case_id) => Some(case_id.to_string()),
            Step::Purge(_) => None,
        })
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    Ok(Members {
        languages: member_languages::stated_languages(db, &cases).await?,
        contacts: member_contacts(db, cases).await?,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::testing::{ada, case_opened, TestDb};

    impl TestDb {
        async fn send_sheets(&self, event: &StoredEvent) -> Result<(), ProjectionError> {
            self.apply_with(&ResourceSheets::new(&ResourceDirectory::default()), event)
                .await
        }
    }

    async fn opened(db: &TestDb, contact: MemberContact) -> Uuid {
        let case = Uuid::new_v4();
        let opening = serde_json::to_value(case_opened(case, contact)).unwrap();
        db.append(case::AGGREGATE_TYPE, case, 1, "CaseOpened", opening)
            .await;
        case
    }

    fn declined(claim: Option<bool>) -> serde_json::Value {
        let mut declined = json!({"declined_at": "2027-01-15T08:00:00Z"});
        if let Some(claim) = claim {
            declined["resource_sheet_sent"] = json!(claim);
        }
        json!({ "SupportDeclined": declined })
    }

    /// The sheet is in the language the member stated last, else the program's default, the
    /// crisis line first in each; each entry in the program's words for that language where it
    /// configured some (the 988 Lifeline's Spanish name and line), else as configured.
    #[tokio::test]
    async fn the_sheet_is_in_the_members_stated_language() {
        use outreach_events::care_team_member::{MemberEvent, Preferences};
        let db = TestDb::new().await;
        let case = opened(&db, ada()).await;
        let member = Uuid::new_v4();
        let at = chrono::DateTime::from_timestamp(1_799_500_000, 0).unwrap();
        let stated = |language: &str| MemberEvent::PreferencesStated {
            staff_id: "E1".into(),
            personal: Some(Preferences {
                supporter_language: Some(language.into()),
                ..Default::default()
            }),
            stated_at: at,
        };
        let started = MemberEvent::CaseStarted {
            staff_id: "E1".into(),
            case_id: case,
            started_at: at,
        };
        for (sequence, event_type, event) in [
            (1, "PreferencesStated", stated("fr")),
            (2, "CaseStarted", started),
            (3, "PreferencesStated", stated("es-MX")),
        ] {
            db.append(
                outreach_events::care_team_member::AGGREGATE_TYPE,
                member,
                sequence,
                event_type,
                serde_json::to_value(event).unwrap(),
            )
            .await;
        }
        let decline = db
            .append(
                case::AGGREGATE_TYPE,
                case,
                4,
                "SupportDeclined",
                declined(None),
            )
            .await;
        let other = opened(&db, ada()).await;
        let unstated = db
            .append(
                case::AGGREGATE_TYPE,
                other,
                4,
                "SupportDeclined",
                declined(None),
            )
            .await;

        db.send_sheets(&decline).await.unwrap();
        db.send_sheets(&unstated).await.unwrap();

        let rows = db.outbox().await;
        let sheet = |case: Uuid| {
            rows.iter()
                .find(|row| row.3 == case.to_string())
                .map(|row| row.4.clone())
                .unwrap()
        };
        let spanish = sheet(case);
        assert_eq!(spanish["subject"], "Apoyo entre pares: a dónde acudir");
        let body = spanish["body"].as_str().unwrap();
        assert!(
            body.starts_with("El programa de apoyo entre pares quiere"),
            "{body}"
        );
        assert!(
            body.contains(
                "988 Línea de Prevención del Suicidio y Crisis (Línea de crisis)\n  \
                 Teléfono: 988 (llame y marque 2"
            ),
            "{body}"
        );
        assert!(body.contains("Si está en crisis"), "{body}");
        let english = sheet(other);
        assert_eq!(english["subject"], "Peer support: places to turn to");
        assert!(english["body"]
            .as_str()
            .unwrap()
            .contains("988 Suicide & Crisis Lifeline (Crisis line)\n  Phone: 988"));
    }

    #[tokio::test]
    async fn a_decline_and_resources_given_each_queue_the_sheet_to_the_members_address() {
        let db = TestDb::new().await;
        let case = opened(&db, ada()).await;
        let decline = db
            .append(
                case::AGGREGATE_TYPE,
                case,
                4,
                "SupportDeclined",
                declined(None),
            )
            .await;
        let resources = db
            .append(
                case::AGGREGATE_TYPE,
                case,
                5,
                "ResourcesSent",
                json!({"ResourcesSent": {"sent_at": "2027-01-15T09:00:00Z"}}),
            )
            .await;

        db.send_sheets(&decline).await.unwrap();
        db.send_sheets(&resources).await.unwrap();
        db.send_sheets(&decline).await.unwrap();

        let rows = db.outbox().await;
        assert_eq!(rows.len(), 2, "{rows:?}");
        for (id, kind, channel, key, payload) in &rows {
            assert_eq!(
                (kind.as_str(), channel.as_str(), key),
                ("resource-sheet", "email", &case.to_string())
            );
            assert!([
                outbox_id(RESOURCE_SHEET, &decline),
                outbox_id(RESOURCE_SHEET, &resources)
            ]
            .contains(id));
            assert_eq!(payload["to"], "ada@example.org");
            let body = payload["body"].as_str().unwrap();
            assert!(body.contains("988 Suicide & Crisis Lifeline"), "{body}");
            // The member's name is not needed, and nothing of the case goes along.
            for fact in ["Ada", "Lovelace", "INC-1", "Parnassus", "Emergency"] {
                assert!(!payload.to_string().contains(fact), "{fact}");
            }
        }
    }

    #[tokio::test]
    async fn no_address_or_an_old_claim_queues_nothing_and_a_purge_takes_the_unsent_sheet_back() {
        let db = TestDb::new().await;
        let phone_only = opened(
            &db,
            MemberContact {
                email: None,
                phone: Some("555 0100".into()),
                ..ada()
            },
        )
        .await;
        let event = db
            .append(
                case::AGGREGATE_TYPE,
                phone_only,
                4,
                "SupportDeclined",
                declined(None),
            )
            .await;
        db.send_sheets(&event).await.unwrap();
        let case = opened(&db, ada()).await;
        let old = db
            .append(
                case::AGGREGATE_TYPE,
                case,
                4,
                "SupportDeclined",
                declined(Some(true)),
            )
            .await;
        db.send_sheets(&old).await.unwrap();
        assert!(db.outbox().await.is_empty());

        let event = db
            .append(
                case::AGGREGATE_TYPE,
                case,
                5,
                "SupportDeclined",
                declined(None),
            )
            .await;
        db.send_sheets(&event).await.unwrap();
        assert_eq!(db.outbox().await.len(), 1);
        let purge = json!({"PersonalDataPurged": {
            "staff_id": "E1", "key_id": Uuid::new_v4(), "purged_at": "2027-02-01T00:00:00Z"}});
        // The purge covers the cases the member's record started (issue 27).
        let member = outreach_domain::ids::derivable_before_27::member_id("E1");
        let started = json!({"CaseStarted": {
            "staff_id": "E1", "case_id": case, "started_at": "2027-01-01T00:00:00Z"}});
        db.append("CareTeamMember", member, 1, "CaseStarted", started)
            .await;
        let purged = db
            .append("CareTeamMember", member, 3, "PersonalDataPurged", purge)
            .await;
        db.send_sheets(&purged).await.unwrap();
        assert!(db.outbox().await.is_empty(), "the unsent sheet is gone");
    }
}
