//! Assignment notices: when a supporter is assigned to a case, they are told whom to reach and
//! how. Two messages go into the outbox, in the same transaction as this projection's checkpoint
//! (architecture rules 1 and 4):
//!
//! - `assignment` on the Kafka channel: the case, the supporter's staff id, when, and the
//!   member's name, contact details and preferred channel, for whatever pages or messages the
//!   supporter inside the hospital;
//! - `assignment-email` on the e-mail channel: a short plain-text e-mail to the supporter's own
//!   address, sent when the service has SMTP configured. Only when the supporter is on the
//!   roster: one assigned by staff id before the roster existed has no address to write to.
//!
//! These are the one kind of outbox message that carries personal data, because telling the
//! supporter how to reach the member is the point of them. They carry nothing clinical (promise
//! 1: "will only be given contact information and no clinical details"): the payloads are built
//! from [`MemberContact`] and [`SupporterContact`] alone, field by field, so a field added to
//! either type later does not leave by itself, and the case's facts (report, unit, involvement)
//! are never read.
//!
//! Like [`DirectorNotices`](crate::DirectorNotices), `reset` deletes nothing and every row's id
//! is derived from the causing event ([`outbox_id`]), inserted with `ON CONFLICT DO NOTHING`: a
//! replay finds its rows already there and sends nothing again. The member's and supporter's
//! contact details are read from the event store, in the same transaction: the case's
//! `CaseOpened`, and the supporter's latest roster entry. Its start line is set by the migration
//! that introduced it, so assignments made before it existed are not notified; a rebuild starts
//! from the first event and would notify those. Do not rebuild this projection.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use async_trait::async_trait;
use outreach_events::case;
use outreach_events::lifecycle::SupporterAssigned;
use outreach_events::supporter::{SupporterContact, SupporterEvent};
use outreach_events::{CaseEvent, MemberContact};
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::director_notices::outbox_id;
use crate::one_line;
use crate::outbox::{OutboxRow, Recorded};
use crate::stored_event::{member_contacts, EVENT_COLUMNS};
use crate::{Projection, ProjectionError, Reads, StoredEvent};

/// The outbox `kind` (and `notice-kind` header) of the Kafka assignment notice.
pub const ASSIGNMENT: &str = "assignment";
/// The outbox `kind` of the assignment e-mail to the supporter.
pub const ASSIGNMENT_EMAIL: &str = "assignment-email";

/// The e-mail's subject: no name in it, as subjects show in notifications and lists.
const SUBJECT: &str = "Peer support: a colleague for you to reach out to";

pub struct AssignmentNotices;

#[async_trait]
impl Projection for AssignmentNotices {
    fn name(&self) -> &'static str {
        "assignment-notices"
    }

    fn reads(&self) -> Reads {
        Reads {
            event_types: &["SupporterAssigned", "PersonalDataPurged"],
            // Neither holds any; the members' contact details come from their cases' openings,
            // opened when they are loaded.
            personal_data_of: &[],
        }
    }

    /// Deletes nothing: notices may have been published already (see the module).
    async fn reset(&self, _db: &mut PgConnection) -> Result<(), ProjectionError> {
        Ok(())
    }

    async fn apply(
        &self,
        db: &mut PgConnection,
        events: &[StoredEvent],
    ) -> Result<(), ProjectionError> {
        let mut steps = crate::outbox::steps(db, events, Step::Purge, |event| {
            if event.aggregate_type != case::AGGREGATE_TYPE
                || event.event_type != CaseEvent::SUPPORTER_ASSIGNED
            {
                return Ok(None);
            }
            let CaseEvent::SupporterAssigned(assigned) = event.decode::<CaseEvent>()? else {
                return Err(event.unreadable("event type and payload disagree".into()));
            };
            let case_id = event.aggregate_uuid()?;
            Ok(Some(Step::Assigned { case_id, assigned }))
        })
        .await?;
        let known = load(db, steps.values()).await?;
        let mut recorded = Recorded::default();
        for (at, event) in events.iter().enumerate() {
            let _applying = crate::applying(self.name(), event).entered();
            if let Some(step) = steps.remove(&at) {
                notify(&mut recorded, &known, event, step)?;
            }
        }
        recorded.write(db, &[ASSIGNMENT, ASSIGNMENT_EMAIL]).await
    }
}

/// What the notices read of one event.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Step {
    Assigned {
        case_id: Uuid,
        assigned: SupporterAssigned,
    },
    /// A purge, and the cases it covers.
    Purge(HashSet<Uuid>),
}

/// The contact details the batch's notices are built from, read from the event store.
#[derive(Debug, Default)]
pub(crate) struct Known {
    /// Each assigned case's member, from its opening; `None` once purged.
    pub members: HashMap<Uuid, Option<MemberContact>>,
    /// Each assigned supporter's name and address from their latest roster entry, by staff id;
    /// absent if the supporter is not on the roster (assigned before the roster existed).
    pub supporters: HashMap<String, SupporterContact>,
}

/// Records the notices of one assignment, or takes back what a purge covers.
pub(crate) fn notify(
    recorded: &mut Recorded,
    known: &Known,
    event: &StoredEvent,
    step: Step,
) -> Result<(), ProjectionError> {
    let (case_id, assigned) = match step {
        Step::Purge(cases) => {
            recorded.purge(&cases);
            return Ok(());
        }
        Step::Assigned { case_id, assigned } => (case_id, assigned),
    };
    let Some(member) = known.members.get(&case_id) else {
        return Err(event.unreadable("the case has no CaseOpened event".into()));
    };
    // Purged before this assignment was applied (a replay after the purge): nobody to tell.
    let Some(member) = member else {
        return Ok(());
    };
    let row = |kind, channel, payload| OutboxRow {
        id: outbox_id(kind, event),
        kind,
        channel,
        case_id,
        payload,
        created_at: event.recorded_at,
    };
    recorded.record(row(
        ASSIGNMENT,
        "kafka",
        assignment_notice(case_id, &assigned, member),
    ));
    if let Some(supporter) = known.supporters.get(&assigned.supporter_id) {
        recorded.record(row(
            ASSIGNMENT_EMAIL,
            "email",
            assignment_email(supporter, member),
        ));
    }
    Ok(())
}

/// The members' contact details (from their cases' openings, opened) and the supporters'
/// (from their latest roster entries) for the batch's assignments: two queries.
async fn load(
    db: &mut PgConnection,
    steps: impl Iterator<Item = &Step>,
) -> Result<Known, ProjectionError> {
    let mut cases = BTreeSet::new();
    let mut supporters = BTreeMap::new();
    for step in steps {
        if let Step::Assigned { case_id, assigned } = step {
            cases.insert(case_id.to_string());
            let aggregate = outreach_domain::ids::supporter_id(&assigned.supporter_id);
            supporters.insert(aggregate.to_string(), assigned.supporter_id.clone());
        }
    }
    let mut known = Known::default();
    if cases.is_empty() {
        return Ok(known);
    }
    known.members = member_contacts(db, cases.into_iter().collect()).await?;
    let entries: Vec<StoredEvent> = sqlx::query_as(&format!(
        "SELECT DISTINCT ON (aggregate_id) {EVENT_COLUMNS}
           FROM events
          WHERE aggregate_type = 'PeerSupporter' AND aggregate_id = ANY($1)
            AND event_type IN ('SupporterJoined', 'SupporterProfileChanged')
          ORDER BY aggregate_id, sequence DESC"
    ))
    .bind(supporters.keys().collect::<Vec<_>>())
    .fetch_all(&mut *db)
    .await?;
    for entry in entries {
        let personal = match entry.decode::<SupporterEvent>()? {
            SupporterEvent::SupporterJoined { personal, .. }
            | SupporterEvent::SupporterProfileChanged { personal, .. } => personal,
            _ => return Err(entry.unreadable("event type and payload disagree".into())),
        };
        if let Some(staff_id) = supporters.get(&entry.aggregate_id) {
            known.supporters.insert(staff_id.clone(), personal);
        }
    }
    Ok(known)
}

/// The Kafka notice: which case, who was assigned and when, and how to reach the member.
/// Built field by field from the member's contact details: nothing else of the case.
fn assignment_notice(
    case_id: Uuid,
    assigned: &SupporterAssigned,
    member: &MemberContact,
) -> serde_json::Value {
    json!({
        "notice": ASSIGNMENT,
        "case_id": case_id,
        "supporter_id": assigned.supporter_id,
        "assigned_at": assigned.assigned_at,
        "member": {
            "given_name": member.given_name,
            "family_name": member.family_name,
            "email": member.email,
            "phone": member.phone,
            "mobile": member.mobile,
            "preferred_channel": member.preferred_channel.map(|c| c.as_str()),
        },
    })
}

/// The e-mail to the supporter: to whom, and a short plain-text body with the member's name,
/// contact details and preferred channel.
fn assignment_email(supporter: &SupporterContact, member: &MemberContact) -> serde_json::Value {
    json!({
        "to": supporter.email,
        "to_name": one_line(&format!("{} {}", supporter.given_name, supporter.family_name)),
        "subject": SUBJECT,
        "body": email_body(supporter, member),
    })
}

fn email_body(supporter: &SupporterContact, member: &MemberContact) -> String {
    let mut body = format!(
        "Hello {},\n\n\
         You have been assigned to reach out to a colleague through the peer support\n\
         program:\n\n\
         Name: {} {}\n",
        one_line(&supporter.given_name),
        one_line(&member.given_name),
        one_line(&member.family_name),
    );
    for (label, value) in [
        ("E-mail", &member.email),
        ("Phone", &member.phone),
        ("Mobile", &member.mobile),
    ] {
        if let Some(value) = value {
            body.push_str(&format!("{label}: {}\n", one_line(value)));
        }
    }
    let preferred = match member.preferred_channel {
        Some(outreach_events::Channel::Email) => "e-mail",
        Some(outreach_events::Channel::Phone) => "phone",
        Some(outreach_events::Channel::Text) => "text message",
        None => "not stated",
    };
    body.push_str(&format!("Preferred channel: {preferred}\n\n"));
    body.push_str(
        "No clinical detail is shared with you, by design. Please record each\n\
         contact attempt in peer-outreach.\n",
    );
    body
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;
    use outreach_events::Channel;

    use super::*;

    fn member() -> MemberContact {
        MemberContact {
            given_name: "Ada".into(),
            family_name: "Lovelace".into(),
            email: Some("ada@example.org".into()),
            phone: None,
            mobile: Some("555 0100".into()),
            preferred_channel: Some(Channel::Text),
        }
    }

    fn supporter() -> SupporterContact {
        SupporterContact {
            given_name: "Grace".into(),
            family_name: "Hopper".into(),
            email: "grace@example.org".into(),
            phone: Some("555 0199".into()),
            gender: None,
        }
    }

    fn assigned() -> SupporterAssigned {
        SupporterAssigned {
            supporter_id: "S1".into(),
            assigned_at: DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
        }
    }

    fn stored(sequence: i64) -> StoredEvent {
        StoredEvent {
            aggregate_type: case::AGGREGATE_TYPE.into(),
            aggregate_id: Uuid::from_u128(7).to_string(),
            sequence,
            event_type: "SupporterAssigned".into(),
            event_version: "1".into(),
            payload: serde_json::to_value(CaseEvent::SupporterAssigned(assigned())).unwrap(),
            metadata: json!({}),
            transaction_id: "1".into(),
            global_position: 1,
            recorded_at: DateTime::from_timestamp(1_800_000_001, 0).unwrap(),
        }
    }

    #[test]
    fn the_notice_holds_the_case_the_supporter_the_time_and_the_members_contact_only() {
        let notice = assignment_notice(Uuid::from_u128(7), &assigned(), &member());
        assert_eq!(
            notice,
            json!({
                "notice": "assignment",
                "case_id": "00000000-0000-0000-0000-000000000007",
                "supporter_id": "S1",
                "assigned_at": "2027-01-15T08:00:00Z",
                "member": {
                    "given_name": "Ada",
                    "family_name": "Lovelace",
                    "email": "ada@example.org",
                    "phone": null,
                    "mobile": "555 0100",
                    "preferred_channel": "text",
                },
            })
        );
    }

    #[test]
    fn the_email_goes_to_the_supporter_with_the_members_contact_and_nothing_else() {
        let email = assignment_email(&supporter(), &member());
        let fields: Vec<&str> = email
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(fields, ["body", "subject", "to", "to_name"]);
        assert_eq!(email["to"], "grace@example.org");
        assert_eq!(email["to_name"], "Grace Hopper");
        assert_eq!(email["subject"], SUBJECT);
        assert_eq!(
            email["body"],
            "Hello Grace,\n\n\
             You have been assigned to reach out to a colleague through the peer support\n\
             program:\n\n\
             Name: Ada Lovelace\n\
             E-mail: ada@example.org\n\
             Mobile: 555 0100\n\
             Preferred channel: text message\n\n\
             No clinical detail is shared with you, by design. Please record each\n\
             contact attempt in peer-outreach.\n"
        );
        // The supporter's own phone, and anything of theirs but name and address, stays out.
        assert!(!email.to_string().contains("555 0199"));
    }

    #[test]
    fn a_member_with_no_contact_details_still_gets_a_complete_email() {
        let member = MemberContact {
            email: None,
            phone: None,
            mobile: None,
            preferred_channel: None,
            ..member()
        };
        let body = assignment_email(&supporter(), &member)["body"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(body.contains("Name: Ada Lovelace\nPreferred channel: not stated\n"));
    }

    #[test]
    fn line_breaks_in_names_cannot_add_lines() {
        let member = MemberContact {
            given_name: "Ada\r\nBcc: someone@example.org".into(),
            ..member()
        };
        let supporter = SupporterContact {
            family_name: "Hopper\nX-Injected: yes".into(),
            ..supporter()
        };
        let email = assignment_email(&supporter, &member);
        assert_eq!(email["to_name"], "Grace Hopper X-Injected: yes");
        assert!(email["body"]
            .as_str()
            .unwrap()
            .contains("Name: Ada  Bcc: someone@example.org Lovelace\n"));
    }

    /// Every string the payloads hold comes from the member's or supporter's contact details
    /// or the fixed text: nothing of the case's facts has a way in.
    #[test]
    fn nothing_but_contact_details_can_reach_the_payloads() {
        let notice = assignment_notice(Uuid::from_u128(7), &assigned(), &member());
        let email = assignment_email(&supporter(), &member());
        let member_fields = notice["member"].as_object().unwrap();
        assert_eq!(
            member_fields.keys().map(String::as_str).collect::<Vec<_>>(),
            [
                "email",
                "family_name",
                "given_name",
                "mobile",
                "phone",
                "preferred_channel"
            ]
        );
        for text in [notice.to_string(), email.to_string()] {
            for clinical in ["diagnosis", "narrative", "patient", "harm", "INC-", "unit"] {
                assert!(!text.contains(clinical), "{clinical} in {text}");
            }
        }
    }

    #[test]
    fn each_kind_has_its_own_id_for_the_same_event() {
        let event = stored(3);
        assert_ne!(
            outbox_id(ASSIGNMENT, &event),
            outbox_id(ASSIGNMENT_EMAIL, &event)
        );
        assert_eq!(
            outbox_id(ASSIGNMENT, &event),
            outbox_id(ASSIGNMENT, &stored(3))
        );
        assert_ne!(
            outbox_id(ASSIGNMENT, &event),
            outbox_id(crate::director_notices::ESCALATION, &event)
        );
    }

    /// `apply` against the event store and outbox of a fresh, migrated database.
    mod in_the_database {
        use crate::testing::{case_opened, TestDb};

        use super::*;

        impl TestDb {
            async fn notify(&self, event: &StoredEvent) -> Result<(), ProjectionError> {
                self.apply_with(&AssignmentNotices, event).await
            }
        }

        fn opened(case_id: Uuid) -> serde_json::Value {
            serde_json::to_value(case_opened(case_id, member())).unwrap()
        }

        fn roster_entry(changed: bool, email: &str) -> serde_json::Value {
            let profile = crate::testing::supporter_profile();
            let personal = SupporterContact {
                email: email.into(),
                ..supporter()
            };
            let at = DateTime::from_timestamp(1_798_000_000, 0).unwrap();
            serde_json::to_value(if changed {
                SupporterEvent::SupporterProfileChanged {
                    profile,
                    personal,
                    changed_at: at,
                }
            } else {
                SupporterEvent::SupporterJoined {
                    profile,
                    personal,
                    joined_at: at,
                }
            })
            .unwrap()
        }

        fn assignment() -> serde_json::Value {
            serde_json::to_value(CaseEvent::SupporterAssigned(assigned())).unwrap()
        }

        #[tokio::test]
        async fn an_assignment_queues_a_kafka_notice_and_an_email_to_the_latest_address() {
            let db = TestDb::new().await;
            let case = Uuid::new_v4();
            let supporter = outreach_domain::ids::supporter_id("S1");
            db.append(case::AGGREGATE_TYPE, case, 1, "CaseOpened", opened(case))
                .await;
            db.append(
                "PeerSupporter",
                supporter,
                1,
                "SupporterJoined",
                roster_entry(false, "old@example.org"),
            )
            .await;
            db.append(
                "PeerSupporter",
                supporter,
                2,
                "SupporterProfileChanged",
                roster_entry(true, "grace@example.org"),
            )
            .await;
            let event = db
                .append(
                    case::AGGREGATE_TYPE,
                    case,
                    2,
                    "SupporterAssigned",
                    assignment(),
                )
                .await;

            db.notify(&event).await.unwrap();

            let rows = db.outbox().await;
            assert_eq!(rows.len(), 2, "{rows:?}");
            let (id, kind, channel, key, payload) = &rows[0];
            assert_eq!(
                (kind.as_str(), channel.as_str(), key),
                ("assignment", "kafka", &case.to_string())
            );
            assert_eq!(*id, outbox_id(ASSIGNMENT, &event));
            assert_eq!(*payload, assignment_notice(case, &assigned(), &member()));
            let (id, kind, channel, key, payload) = &rows[1];
            assert_eq!(
                (kind.as_str(), channel.as_str(), key),
                ("assignment-email", "email", &case.to_string())
            );
            assert_eq!(*id, outbox_id(ASSIGNMENT_EMAIL, &event));
            assert_eq!(payload["to"], "grace@example.org");
            assert_eq!(payload["to_name"], "Grace Hopper");
            // Nothing of the case's facts went along.
            for fact in ["INC-1", "Parnassus", "Emergency", "Nurse", "/datix"] {
                assert!(!payload.to_string().contains(fact), "{fact}");
                assert!(!rows[0].4.to_string().contains(fact), "{fact}");
            }

            // A replay finds the rows there and records nothing new.
            db.notify(&event).await.unwrap();
            assert_eq!(db.outbox().await, rows);
        }

        #[tokio::test]
        async fn a_purge_empties_sent_notices_and_deletes_unsent_ones() {
            let db = TestDb::new().await;
            let case = Uuid::new_v4();
            let supporter = outreach_domain::ids::supporter_id("S1");
            db.append(case::AGGREGATE_TYPE, case, 1, "CaseOpened", opened(case))
                .await;
            db.append(
                "PeerSupporter",
                supporter,
                1,
                "SupporterJoined",
                roster_entry(false, "grace@example.org"),
            )
            .await;
            let event = db
                .append(
                    case::AGGREGATE_TYPE,
                    case,
                    2,
                    "SupporterAssigned",
                    assignment(),
                )
                .await;
            db.notify(&event).await.unwrap();
            // The Kafka notice went out; the e-mail is still waiting.
            sqlx::query("UPDATE outbox SET published_at = now() WHERE kind = $1")
                .bind(ASSIGNMENT)
                .execute(&db.db.pool)
                .await
                .unwrap();

            let purge = serde_json::json!({"PersonalDataPurged": {
                "staff_id": "E1", "key_id": Uuid::new_v4(),
                "purged_at": "2027-01-01T00:00:00Z"}});
            // The purge covers the cases the member's record started (issue 27).
            let member = outreach_domain::ids::derivable_before_27::member_id("E1");
            let started = serde_json::json!({"CaseStarted": {
                "staff_id": "E1", "case_id": case, "started_at": "2027-01-01T00:00:00Z"}});
            db.append("CareTeamMember", member, 1, "CaseStarted", started)
                .await;
            let purged = db
                .append("CareTeamMember", member, 3, "PersonalDataPurged", purge)
                .await;
            db.notify(&purged).await.unwrap();

            let rows = db.outbox().await;
            assert_eq!(rows.len(), 1, "the unsent e-mail is gone: {rows:?}");
            let (id, kind, _, _, payload) = &rows[0];
            assert_eq!(
                (*id, kind.as_str()),
                (outbox_id(ASSIGNMENT, &event), ASSIGNMENT)
            );
            assert_eq!(*payload, serde_json::json!({"purged": true}));
        }

        #[tokio::test]
        async fn a_supporter_not_on_the_roster_gets_the_kafka_notice_only() {
            let db = TestDb::new().await;
            let case = Uuid::new_v4();
            db.append(case::AGGREGATE_TYPE, case, 1, "CaseOpened", opened(case))
                .await;
            let event = db
                .append(
                    case::AGGREGATE_TYPE,
                    case,
                    2,
                    "SupporterAssigned",
                    assignment(),
                )
                .await;

            db.notify(&event).await.unwrap();

            let rows = db.outbox().await;
            assert_eq!(rows.len(), 1, "{rows:?}");
            assert_eq!(
                (rows[0].1.as_str(), rows[0].2.as_str()),
                ("assignment", "kafka")
            );
        }

        #[tokio::test]
        async fn a_case_without_its_opening_is_unreadable() {
            let db = TestDb::new().await;
            let event = db
                .append(
                    case::AGGREGATE_TYPE,
                    Uuid::new_v4(),
                    2,
                    "SupporterAssigned",
                    assignment(),
                )
                .await;

            let error = db.notify(&event).await.unwrap_err();

            assert!(
                matches!(error, ProjectionError::UnreadableEvent { .. }),
                "{error}"
            );
            assert!(db.outbox().await.is_empty());
        }
    }
}
