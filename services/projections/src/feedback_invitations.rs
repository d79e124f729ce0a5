//! Feedback invitations: when a case closes as completed, the member is sent a one-time link to
//! rate the support they had, anonymously and only if they wish (seed 004: "quarterly usage
//! stats and anonymous feedback").
//!
//! # Who is asked
//!
//! Only a member whose case closed as `completed`: support happened, so there is something to
//! rate. Not after `declined` (a decline ends contact, promise 4: asking them to rate support
//! they turned down would be the further contact they said no to), `unreachable` (the member was
//! never reached and has nothing to rate), `withdrawn` or `merged` (the member's other case goes
//! on, and is asked about when it completes). Nor:
//!
//! - a member without an e-mail address in the case's opening (there is nowhere to write);
//! - a member who had opted out of automatic outreach when the case closed: an unsolicited
//!   e-mail is outreach too;
//! - a case completed before: a case reopened and completed again is asked about once.
//!
//! # What is written
//!
//! In the same transaction as this projection's checkpoint (architecture rules 1 and 4), a
//! `feedback-invitation` row on the outbox's e-mail channel: to the member, a short plain-text
//! message with the link `{link_base}/{token}` saying that it is optional and anonymous. Its id
//! derives from the closing event ([`outbox_id`]), so a replay or a rebuild finds the row and
//! sends no second e-mail. Like the other reactions, `reset` deletes nothing, and the start line
//! is set by the migration that introduced it, so cases completed before it existed are not
//! asked.
//!
//! The token is nowhere else: it is recognised by its MAC ([`crate::feedback_links`]), not by a
//! row, so nothing written with the invitation (an id, a place in an order, a transaction) can
//! lead from an answer back to it. The e-mail row holds the member's name and address and the
//! live token until it is sent: the e-mail publisher empties it then, and a retention purge
//! clears an unsent one. The e-mail is built from the member's given name and address alone;
//! nothing of the case is read but its opening's contact details and staff id (to look up an
//! opt-out), and nothing of the case goes into any row.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use async_trait::async_trait;
use outreach_events::care_team_member::MemberEvent;
use outreach_events::case;
use outreach_events::lifecycle::{CaseClosed, CloseReason};
use outreach_events::{CaseEvent, CaseOpened};
use outreach_texts::Language;
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::director_notices::outbox_id;
use crate::feedback_links::LinkKey;
use crate::one_line;
use crate::outbox::{OutboxRow, Recorded};
use crate::stored_event::{open_personal, EVENT_COLUMNS};
use crate::{member_languages, Projection, ProjectionError, Reads, StoredEvent};

/// The outbox `kind` of the feedback invitation e-mail (and the namespace of its id).
pub const FEEDBACK_INVITATION: &str = "feedback-invitation";

/// Where links point unless configured otherwise: the page that shows the two questions and
/// posts the answer to `POST /v1/feedback/{token}`. The link is `{link_base}/{token}`.
pub const DEFAULT_FEEDBACK_LINK_BASE: &str = "https://peer-support.example/feedback";

pub struct FeedbackInvitations {
    /// Without a trailing slash.
    link_base: String,
    /// The language of invitations to members who stated none the program speaks.
    default_language: Language,
}

impl FeedbackInvitations {
    /// Invitations whose links start with `link_base` (e.g. [`DEFAULT_FEEDBACK_LINK_BASE`]).
    pub fn new(link_base: impl Into<String>) -> Self {
        let link_base: String = link_base.into();
        Self {
            link_base: link_base.trim_end_matches('/').to_owned(),
            default_language: Language::default(),
        }
    }

    /// Invitations to members who stated no language the program speaks are in `language`.
    pub fn with_default_language(mut self, language: Language) -> Self {
        self.default_language = language;
        self
    }

    fn link(&self, token: &str) -> String {
        format!("{}/{token}", self.link_base)
    }
}

#[async_trait]
impl Projection for FeedbackInvitations {
    fn name(&self) -> &'static str {
        "feedback-invitations"
    }

    fn reads(&self) -> Reads {
        Reads {
            event_types: &["CaseClosed", "PersonalDataPurged"],
            // Neither holds any; the members' addresses come from their cases' openings,
            // opened when they are loaded.
            personal_data_of: &[],
        }
    }

    /// Deletes nothing: invitations may have been sent already (see the module).
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
                || event.event_type != CaseEvent::CASE_CLOSED
            {
                return Ok(None);
            }
            let CaseEvent::CaseClosed(closed) = event.decode::<CaseEvent>()? else {
                return Err(event.unreadable("event type and payload disagree".into()));
            };
            if !asks_for_feedback(&closed) {
                return Ok(None);
            }
            Ok(Some(Step::Completed(event.aggregate_uuid()?)))
        })
        .await?;
        let known = load(db, steps.values()).await?;
        let key = if known.openings.is_empty() {
            None
        } else {
            Some(LinkKey::installed()?)
        };
        let mut invited = Recorded::default();
        for (at, event) in events.iter().enumerate() {
            let _applying = crate::applying(self.name(), event).entered();
            if let Some(step) = steps.remove(&at) {
                self.invite(&mut invited, &known, event, step, || {
                    key.as_ref()
                        .expect("loaded for the batch's completions")
                        .issue()
                })?;
            }
        }
        // A row already there (a replay, a rebuild) is left as it is: it may have been sent.
        invited.write(db, &[FEEDBACK_INVITATION]).await
    }
}

/// What the invitations read of one event.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Step {
    /// A case closed as completed.
    Completed(Uuid),
    /// A purge, and the cases it covers.
    Purge(HashSet<Uuid>),
}

/// What deciding on the batch's completions reads from the event store.
#[derive(Debug, Default)]
pub(crate) struct Known {
    /// The sequences of each case's closings as completed (all of them, this batch's too).
    pub completions: HashMap<Uuid, Vec<i64>>,
    /// Each completed case's opening, its personal part opened.
    pub openings: HashMap<Uuid, CaseOpened>,
    /// Each member's opt-outs (`true`) and opt-ins (`false`), by their place in commit order.
    pub opt_outs: HashMap<String, Vec<OptChoice>>,
    /// The language each case's member stated (their supporter-language preference), where they
    /// stated one the program speaks.
    pub languages: HashMap<Uuid, Language>,
}

/// An opt-out (`true`) or opt-in, and where it stands in commit order.
pub(crate) type OptChoice = ((u64, i64), bool);

impl FeedbackInvitations {
    /// Invites the member of one completed case, if they are to be asked (a token from
    /// `token`), or takes back what a purge covers.
    pub(crate) fn invite(
        &self,
        invited: &mut Recorded,
        known: &Known,
        event: &StoredEvent,
        step: Step,
        token: impl FnOnce() -> String,
    ) -> Result<(), ProjectionError> {
        let case_id = match step {
            Step::Purge(cases) => {
                invited.purge(&cases);
                return Ok(());
            }
            Step::Completed(case_id) => case_id,
        };
        // Completed before, then reopened: the member was asked about this case already.
        let completions = known.completions.get(&case_id).into_iter().flatten();
        if completions
            .into_iter()
            .any(|&sequence| sequence < event.sequence)
        {
            return Ok(());
        }
        let Some(opened) = known.openings.get(&case_id) else {
            return Err(event.unreadable("the case has no CaseOpened event".into()));
        };
        // Purged before this closing was applied (a replay after the purge): nobody to ask.
        let (Some(personal), Some(member)) = (&opened.personal, &opened.facts.member) else {
            return Ok(());
        };
        let Some(address) = personal
            .email
            .as_deref()
            .map(one_line)
            .filter(|a| !a.is_empty())
        else {
            return Ok(());
        };
        // Their latest opt-out or opt-in committed before the closing (a rebuild decides the same).
        let closing = event.commit_position()?;
        let opted_out = known
            .opt_outs
            .get(&member.staff_id)
            .into_iter()
            .flatten()
            .filter(|(at, _)| *at < closing)
            .max_by_key(|(at, _)| *at)
            .is_some_and(|(_, out)| *out);
        if opted_out {
            return Ok(());
        }
        invited.record(OutboxRow {
            id: outbox_id(FEEDBACK_INVITATION, event),
            kind: FEEDBACK_INVITATION,
            channel: "email",
            case_id,
            payload: invitation_email(
                known
                    .languages
                    .get(&case_id)
                    .copied()
                    .unwrap_or(self.default_language),
                &address,
                &personal.given_name,
                &self.link(&token()),
            ),
            created_at: event.recorded_at,
        });
        Ok(())
    }
}

/// Whether this closing is one the member is asked about: support happened.
fn asks_for_feedback(closed: &CaseClosed) -> bool {
    closed.reason == CloseReason::Completed
}

/// For the batch's completed cases, three queries: their completed closings, their openings
/// (opened) and their members' opt-outs and opt-ins.
async fn load(
    db: &mut PgConnection,
    steps: impl Iterator<Item = &Step>,
) -> Result<Known, ProjectionError> {
    let cases: BTreeSet<String> = steps
        .filter_map(|step| match step {
            Step::Completed(case_id) => Some(case_id.to_string()),
            Step::Purge(_) => None,
        })
        .collect();
    let mut known = Known::default();
    if cases.is_empty() {
        return Ok(known);
    }
    let cases: Vec<String> = cases.into_iter().collect();
    let closings: Vec<StoredEvent> = sqlx::query_as(&format!(
        "SELECT {EVENT_COLUMNS}
           FROM events
          WHERE aggregate_type = 'OutreachCase' AND aggregate_id = ANY($1)
            AND event_type = 'CaseClosed'"
    ))
    .bind(&cases)
    .fetch_all(&mut *db)
    .await?;
    for closing in closings {
        match closing.decode::<CaseEvent>()? {
            CaseEvent::CaseClosed(closed) if asks_for_feedback(&closed) => known
                .completions
                .entry(closing.aggregate_uuid()?)
                .or_default()
                .push(closing.sequence),
            CaseEvent::CaseClosed(_) => {}
            _ => return Err(closing.unreadable("event type and payload disagree".into())),
        }
    }
    let mut openings: Vec<StoredEvent> = sqlx::query_as(&format!(
        "SELECT {EVENT_COLUMNS}
           FROM events
          WHERE aggregate_type = 'OutreachCase' AND aggregate_id = ANY($1)
            AND event_type IN ('CaseOpened', 'ContactConfirmed')
          ORDER BY sequence"
    ))
    .bind(&cases)
    .fetch_all(&mut *db)
    .await?;
    open_personal(db, &mut openings).await?;
    // The opening comes first (sequence 1). Where it held a referrer's suggestion, the member
    // is reached at what the program's staff confirmed, never at the suggestion.
    for opened in &openings {
        match opened.decode::<CaseEvent>()? {
            CaseEvent::CaseOpened(opening) => {
                known.openings.insert(opening.facts.case_id, opening);
            }
            CaseEvent::ContactConfirmed(confirmed) => {
                if let Some(opening) = known.openings.get_mut(&opened.aggregate_uuid()?) {
                    opening.personal = confirmed.personal;
                }
            }
            _ => return Err(opened.unreadable("event type and payload disagree".into())),
        }
    }
    // Members' aggregate ids are derived under their keys and cannot be computed here: the
    // member records that started these cases name them.
    let started: Vec<(String, String)> = sqlx::query_as(
        "SELECT aggregate_id, payload -> 'CaseStarted' ->> 'case_id'
           FROM events
          WHERE aggregate_type = 'CareTeamMember' AND event_type = 'CaseStarted'
            AND payload -> 'CaseStarted' ->> 'case_id' = ANY($1)",
    )
    .bind(&cases)
    .fetch_all(&mut *db)
    .await?;
    let members: BTreeMap<String, String> = started
        .into_iter()
        .filter_map(|(member, case)| {
            let opening = known.openings.get(&case.parse::<Uuid>().ok()?)?;
            Some((member, opening.facts.member.as_ref()?.staff_id.clone()))
        })
        .collect();
    // Their opt-outs and opt-ins.
    let mut choices: Vec<StoredEvent> = sqlx::query_as(&format!(
        "SELECT {EVENT_COLUMNS}
           FROM events
          WHERE aggregate_type = 'CareTeamMember' AND aggregate_id = ANY($1)
            AND event_type IN ('OptedOut', 'OptedIn')"
    ))
    .bind(members.keys().collect::<Vec<_>>())
    .fetch_all(&mut *db)
    .await?;
    open_personal(db, &mut choices).await?;
    for choice in choices {
        let Some(staff_id) = members.get(&choice.aggregate_id) else {
            continue;
        };
        let at = choice.commit_position()?;
        let opted_out = match choice.decode::<MemberEvent>()? {
            MemberEvent::OptedOut { .. } => true,
            MemberEvent::OptedIn { .. } => false,
            _ => return Err(choice.unreadable("event type and payload disagree".into())),
        };
        known
            .opt_outs
            .entry(staff_id.clone())
            .or_default()
            .push((at, opted_out));
    }
    known.languages = member_languages::stated_languages(db, &cases).await?;
    Ok(known)
}

/// The invitation, in the member's language: to the member, their given name, the link, and
/// that answering is optional and anonymous. Nothing of the case. The subject has no name in it,
/// as subjects show in notifications and lists.
fn invitation_email(
    language: Language,
    address: &str,
    given_name: &str,
    link: &str,
) -> serde_json::Value {
    let name = one_line(given_name);
    json!({
        "to": address,
        "to_name": name,
        "subject": language.text("email-feedback-subject"),
        "body": language.text_with(
            "email-feedback-body",
            &[("name", name.clone().into()), ("link", link.to_owned().into())],
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_completed_case_asks_for_feedback() {
        let at = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        for (reason, asks) in [
            (CloseReason::Completed, true),
            (CloseReason::Declined, false),
            (CloseReason::Unreachable, false),
            (CloseReason::Withdrawn, false),
            (CloseReason::Merged, false),
        ] {
            let closed = CaseClosed {
                reason,
                closed_at: at,
                merged_into: None,
            };
            assert_eq!(asks_for_feedback(&closed), asks, "{reason:?}");
        }
    }

    #[test]
    fn the_link_is_the_base_and_the_token() {
        let invitations = FeedbackInvitations::new("https://peer-support.example/feedback/");
        assert_eq!(
            invitations.link("abc"),
            "https://peer-support.example/feedback/abc"
        );
        assert_eq!(
            FeedbackInvitations::new(DEFAULT_FEEDBACK_LINK_BASE).link("abc"),
            "https://peer-support.example/feedback/abc"
        );
    }

    #[test]
    fn the_email_holds_the_name_the_link_and_the_promise_only() {
        let email = invitation_email(
            Language::En,
            "ada@example.org",
            "Ada\r\nBcc: x@example.org",
            "https://peer-support.example/feedback/t0k3n",
        );
        let fields: Vec<&str> = email
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(fields, ["body", "subject", "to", "to_name"]);
        assert_eq!(email["to"], "ada@example.org");
        assert_eq!(email["to_name"], "Ada  Bcc: x@example.org");
        let body = email["body"].as_str().unwrap();
        assert!(
            body.starts_with("Hello Ada  Bcc: x@example.org,\n"),
            "{body}"
        );
        assert!(body.contains("\nhttps://peer-support.example/feedback/t0k3n\n"));
        assert!(body.contains("optional"));
        assert!(body.contains("anonymous"));
        assert!(!email["subject"].as_str().unwrap().contains("Ada"));
    }

    fn closing(case_id: Uuid, sequence: i64) -> StoredEvent {
        let closed = CaseEvent::CaseClosed(CaseClosed {
            reason: CloseReason::Completed,
            closed_at: chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
            merged_into: None,
        });
        StoredEvent {
            aggregate_type: case::AGGREGATE_TYPE.into(),
            aggregate_id: case_id.to_string(),
            sequence,
            event_type: "CaseClosed".into(),
            event_version: "1".into(),
            payload: serde_json::to_value(closed).unwrap(),
            metadata: json!({}),
            transaction_id: "10".into(),
            global_position: sequence,
            recorded_at: chrono::DateTime::from_timestamp(1_800_000_001, 0).unwrap(),
        }
    }

    /// What the store tells of a case of Ada's completed at `completions`.
    fn known(case_id: Uuid, completions: Vec<i64>) -> Known {
        let ada = crate::testing::ada();
        let CaseEvent::CaseOpened(opened) = crate::testing::case_opened(case_id, ada) else {
            unreachable!()
        };
        Known {
            completions: HashMap::from([(case_id, completions)]),
            openings: HashMap::from([(case_id, opened)]),
            opt_outs: HashMap::new(),
            languages: HashMap::new(),
        }
    }

    #[test]
    fn a_case_completed_reopened_and_completed_again_in_one_batch_is_asked_once() {
        let case_id = Uuid::from_u128(1);
        let known = known(case_id, vec![2, 4]);
        let invitations = FeedbackInvitations::new(DEFAULT_FEEDBACK_LINK_BASE);
        let mut invited = Recorded::default();
        for sequence in [2, 4] {
            let step = Step::Completed(case_id);
            invitations
                .invite(
                    &mut invited,
                    &known,
                    &closing(case_id, sequence),
                    step,
                    || "t0k3n".into(),
                )
                .unwrap();
        }

        assert_eq!(invited.rows.len(), 1);
        assert_eq!(
            invited.rows[0].id,
            outbox_id(FEEDBACK_INVITATION, &closing(case_id, 2))
        );
        assert_eq!(invited.rows[0].payload["to"], "ada@example.org");
        assert!(invited.rows[0].payload["body"]
            .as_str()
            .unwrap()
            .contains("/feedback/t0k3n\n"));
    }

    #[test]
    fn a_purge_later_in_the_batch_takes_the_unsent_invitation_back() {
        let case_id = Uuid::from_u128(1);
        let known = known(case_id, vec![2]);
        let invitations = FeedbackInvitations::new(DEFAULT_FEEDBACK_LINK_BASE);
        let mut invited = Recorded::default();
        let event = closing(case_id, 2);
        invitations
            .invite(
                &mut invited,
                &known,
                &event,
                Step::Completed(case_id),
                || "t".into(),
            )
            .unwrap();
        let purge = Step::Purge(HashSet::from([case_id]));
        invitations
            .invite(&mut invited, &known, &event, purge, || unreachable!())
            .unwrap();

        assert!(invited.rows.is_empty());
        assert_eq!(invited.purged, HashSet::from([case_id]));
    }

    #[test]
    fn a_member_who_opted_out_before_the_closing_is_not_asked() {
        let case_id = Uuid::from_u128(1);
        let mut known = known(case_id, vec![2]);
        // Out at position 1, in again at position 5: the closing at (10, 2) falls between.
        known
            .opt_outs
            .insert("E1".into(), vec![((10, 1), true), ((10, 5), false)]);
        let mut invited = Recorded::default();
        FeedbackInvitations::new(DEFAULT_FEEDBACK_LINK_BASE)
            .invite(
                &mut invited,
                &known,
                &closing(case_id, 2),
                Step::Completed(case_id),
                || "t".into(),
            )
            .unwrap();

        assert!(invited.rows.is_empty());
    }

    /// `apply` against the event store, outbox and tokens of a fresh, migrated database.
    mod in_the_database {
        use crate::testing::{case_opened, TestDb};
        use chrono::DateTime;
        use outreach_events::MemberContact;

        use super::*;

        impl TestDb {
            async fn invite(&self, event: &StoredEvent) {
                self.apply_with(&FeedbackInvitations::new(DEFAULT_FEEDBACK_LINK_BASE), event)
                    .await
                    .unwrap();
            }

            /// How many token rows there are: an invitation writes none.
            async fn tokens(&self) -> i64 {
                sqlx::query_scalar("SELECT count(*) FROM feedback_tokens")
                    .fetch_one(&self.db.pool)
                    .await
                    .unwrap()
            }

            /// A case opened for `E1`, with `email`; returns its id.
            async fn open(&self, email: Option<&str>) -> Uuid {
                let case = Uuid::new_v4();
                let opened = case_opened(
                    case,
                    MemberContact {
                        given_name: "Ada".into(),
                        family_name: "Lovelace".into(),
                        email: email.map(str::to_owned),
                        phone: None,
                        mobile: None,
                        preferred_channel: None,
                    },
                );
                self.append(
                    case::AGGREGATE_TYPE,
                    case,
                    1,
                    "CaseOpened",
                    serde_json::to_value(opened).unwrap(),
                )
                .await;
                case
            }

            async fn close(&self, case: Uuid, sequence: i64, reason: CloseReason) -> StoredEvent {
                let closed = CaseEvent::CaseClosed(CaseClosed {
                    reason,
                    closed_at: DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
                    merged_into: None,
                });
                self.append(
                    case::AGGREGATE_TYPE,
                    case,
                    sequence,
                    "CaseClosed",
                    serde_json::to_value(closed).unwrap(),
                )
                .await
            }

            async fn member_event(&self, sequence: i64, event: MemberEvent) {
                self.append(
                    "CareTeamMember",
                    outreach_domain::ids::derivable_before_27::member_id("E1"),
                    sequence,
                    &member_event_type(&event),
                    serde_json::to_value(event).unwrap(),
                )
                .await;
            }
        }

        fn member_event_type(event: &MemberEvent) -> String {
            match event {
                MemberEvent::OptedOut { .. } => "OptedOut",
                MemberEvent::OptedIn { .. } => "OptedIn",
                MemberEvent::PreferencesStated { .. } => "PreferencesStated",
                MemberEvent::CaseStarted { .. } => "CaseStarted",
                _ => unreachable!(
                    "the tests record opt-outs, opt-ins, preferences and cases started only"
                ),
            }
            .to_owned()
        }

        #[tokio::test]
        async fn a_completed_case_queues_one_email_with_a_token_stored_nowhere() {
            let db = TestDb::new().await;
            let case = db.open(Some("ada@example.org")).await;
            let closing = db.close(case, 2, CloseReason::Completed).await;

            db.invite(&closing).await;

            let outbox = db.outbox().await;
            assert_eq!(outbox.len(), 1, "{outbox:?}");
            let (id, kind, channel, key, payload) = &outbox[0];
            assert_eq!(*id, outbox_id(FEEDBACK_INVITATION, &closing));
            assert_eq!(
                (kind.as_str(), channel.as_str(), key),
                ("feedback-invitation", "email", &case.to_string())
            );
            assert_eq!(payload["to"], "ada@example.org");
            let body = payload["body"].as_str().unwrap();
            let token = body
                .lines()
                .find_map(|line| line.strip_prefix("https://peer-support.example/feedback/"))
                .expect("the link is in the body");
            assert_eq!(token.len(), 64);
            for fact in ["Parnassus", "Emergency", "INC-1", "Lovelace", "E1"] {
                assert!(!payload.to_string().contains(fact), "{fact}");
            }

            // Recognised by the program's key, and written nowhere but in the e-mail.
            let key = LinkKey::installed().unwrap();
            assert!(key.verify(token));
            assert_eq!(db.tokens().await, 0);

            // A replay (a rebuild) finds the e-mail there: no second one.
            db.invite(&closing).await;
            assert_eq!(db.outbox().await, outbox);
        }

        /// A case opened on a referrer's suggestion: the member is asked at the address the
        /// program's staff confirmed, never at the suggestion.
        #[tokio::test]
        async fn a_member_whose_contact_was_confirmed_is_asked_at_the_confirmed_address() {
            use outreach_events::contact_confirmation::{ContactConfirmed, ContactToConfirm};
            let db = TestDb::new().await;
            let case = db.open(None).await;
            let contact = |email: &str| MemberContact {
                given_name: "Ada".into(),
                family_name: "Lovelace".into(),
                email: Some(email.into()),
                phone: None,
                mobile: None,
                preferred_channel: None,
            };
            let at = DateTime::from_timestamp(1_799_000_000, 0).unwrap();
            let held = CaseEvent::ContactToConfirm(ContactToConfirm {
                staff_id: "E1".into(),
                personal: Some(contact("suggested@example.org")),
                held_at: at,
            });
            let confirmed = CaseEvent::ContactConfirmed(ContactConfirmed {
                staff_id: "E1".into(),
                as_suggested: false,
                personal: Some(contact("ada@example.org")),
                confirmed_at: at,
            });
            for (sequence, event_type, event) in [
                (2, "ContactToConfirm", held),
                (3, "ContactConfirmed", confirmed),
            ] {
                let payload = serde_json::to_value(event).unwrap();
                db.append(
                    outreach_events::case::AGGREGATE_TYPE,
                    case,
                    sequence,
                    event_type,
                    payload,
                )
                .await;
            }

            db.invite(&db.close(case, 4, CloseReason::Completed).await)
                .await;

            let outbox = db.outbox().await;
            assert_eq!(outbox.len(), 1, "{outbox:?}");
            assert_eq!(outbox[0].4["to"], "ada@example.org");
        }

        #[tokio::test]
        async fn other_closings_and_members_without_an_address_are_not_asked() {
            let db = TestDb::new().await;
            for reason in [
                CloseReason::Declined,
                CloseReason::Unreachable,
                CloseReason::Withdrawn,
                CloseReason::Merged,
            ] {
                let case = db.open(Some("ada@example.org")).await;
                db.invite(&db.close(case, 2, reason).await).await;
            }
            for email in [None, Some(""), Some("  ")] {
                let case = db.open(email).await;
                db.invite(&db.close(case, 2, CloseReason::Completed).await)
                    .await;
            }

            assert!(db.outbox().await.is_empty());
            assert_eq!(db.tokens().await, 0);
        }

        #[tokio::test]
        async fn a_case_completed_again_after_reopening_is_asked_once() {
            let db = TestDb::new().await;
            let case = db.open(Some("ada@example.org")).await;
            let first = db.close(case, 2, CloseReason::Completed).await;
            db.invite(&first).await;
            // Sequence 3 would be the reopening, which this projection does not read.
            let second = db.close(case, 4, CloseReason::Completed).await;
            db.invite(&second).await;

            assert_eq!(db.outbox().await.len(), 1);
            assert_eq!(db.tokens().await, 0);
        }

        #[tokio::test]
        async fn a_member_who_opted_out_is_not_asked_until_they_opt_in_again() {
            let db = TestDb::new().await;
            let at = DateTime::from_timestamp(1_799_500_000, 0).unwrap();
            db.member_event(
                1,
                MemberEvent::OptedOut {
                    staff_id: "E1".into(),
                    opted_out_at: at,
                },
            )
            .await;
            // The member's record names their cases: its id is derived under their key.
            let started = |case_id| MemberEvent::CaseStarted {
                staff_id: "E1".into(),
                case_id,
                started_at: at,
            };
            let case = db.open(Some("ada@example.org")).await;
            db.member_event(2, started(case)).await;
            db.invite(&db.close(case, 2, CloseReason::Completed).await)
                .await;
            assert!(db.outbox().await.is_empty());

            db.member_event(
                3,
                MemberEvent::OptedIn {
                    staff_id: "E1".into(),
                    opted_in_at: at,
                },
            )
            .await;
            let case = db.open(Some("ada@example.org")).await;
            db.member_event(4, started(case)).await;
            db.invite(&db.close(case, 2, CloseReason::Completed).await)
                .await;
            assert_eq!(db.outbox().await.len(), 1);
        }

        /// The member's stated language (their supporter-language preference), the latest
        /// statement deciding; none the program speaks: the program's default.
        #[tokio::test]
        async fn the_invitation_is_in_the_members_stated_language() {
            let db = TestDb::new().await;
            let at = DateTime::from_timestamp(1_799_500_000, 0).unwrap();
            let state = |language: Option<&str>| MemberEvent::PreferencesStated {
                staff_id: "E1".into(),
                personal: Some(outreach_events::care_team_member::Preferences {
                    supporter_language: language.map(Into::into),
                    ..Default::default()
                }),
                stated_at: at,
            };
            db.member_event(1, state(Some("fr"))).await;
            db.member_event(2, state(Some("es"))).await;
            let case = db.open(Some("ada@example.org")).await;
            // The member's record names their case: its id is derived under their key.
            db.member_event(
                3,
                MemberEvent::CaseStarted {
                    staff_id: "E1".into(),
                    case_id: case,
                    started_at: at,
                },
            )
            .await;
            db.invite(&db.close(case, 2, CloseReason::Completed).await)
                .await;
            let outbox = db.outbox().await;
            let email = &outbox[0].4;
            let body = email["body"].as_str().unwrap();
            assert!(body.starts_with("Hola, Ada:\n"), "{body}");
            assert!(body.contains("anónimo"), "{body}");
            assert!(
                body.contains("\nhttps://peer-support.example/feedback/"),
                "{body}"
            );
            assert_eq!(
                email["subject"],
                "Apoyo entre pares: dos preguntas, si lo desea (anónimas)"
            );

            // A later statement without a language: back to the default.
            db.member_event(4, state(None)).await;
            let case = db.open(Some("ada@example.org")).await;
            db.member_event(
                5,
                MemberEvent::CaseStarted {
                    staff_id: "E1".into(),
                    case_id: case,
                    started_at: at,
                },
            )
            .await;
            db.invite(&db.close(case, 2, CloseReason::Completed).await)
                .await;
            let outbox = db.outbox().await;
            assert_eq!(outbox.len(), 2);
            assert!(
                outbox
                    .iter()
                    .any(|row| row.4["body"].as_str().unwrap().starts_with("Hello Ada,\n")),
                "{outbox:?}"
            );
        }
    }
}
