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
#[path = "feedback_invitations_tests.rs"]
mod tests;
