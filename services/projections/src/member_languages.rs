//! The language each member reads, for what is e-mailed to them: the supporter language they
//! stated last (a member who states preferences without one states none), where the program
//! speaks it. Members' aggregate ids are derived under their keys and cannot be computed here:
//! the member records that started the cases name them.

use std::collections::HashMap;

use outreach_events::care_team_member::MemberEvent;
use outreach_texts::Language;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::stored_event::{open_personal, EVENT_COLUMNS};
use crate::{ProjectionError, StoredEvent};

/// The stated language of the member of each of `cases` who stated one the program speaks.
pub(crate) async fn stated_languages(
    db: &mut PgConnection,
    cases: &[String],
) -> Result<HashMap<Uuid, Language>, ProjectionError> {
    if cases.is_empty() {
        return Ok(HashMap::new());
    }
    let started: Vec<(String, String)> = sqlx::query_as(
        "SELECT aggregate_id, payload -> 'CaseStarted' ->> 'case_id'
           FROM events
          WHERE aggregate_type = 'CareTeamMember' AND event_type = 'CaseStarted'
            AND payload -> 'CaseStarted' ->> 'case_id' = ANY($1)",
    )
    .bind(cases)
    .fetch_all(&mut *db)
    .await?;
    let members: Vec<&String> = started.iter().map(|(member, _)| member).collect();
    let mut statements: Vec<StoredEvent> = sqlx::query_as(&format!(
        "SELECT {EVENT_COLUMNS}
           FROM events
          WHERE aggregate_type = 'CareTeamMember' AND aggregate_id = ANY($1)
            AND event_type = 'PreferencesStated'"
    ))
    .bind(&members)
    .fetch_all(&mut *db)
    .await?;
    open_personal(db, &mut statements).await?;
    // The latest statement decides; one without a language (or purged) states none.
    let mut latest: HashMap<String, ((u64, i64), Option<Language>)> = HashMap::new();
    for statement in statements {
        let at = statement.commit_position()?;
        let MemberEvent::PreferencesStated { personal, .. } = statement.decode::<MemberEvent>()?
        else {
            return Err(statement.unreadable("event type and payload disagree".into()));
        };
        let language = personal
            .and_then(|p| p.supporter_language)
            .and_then(|l| Language::from_tag(&l));
        let stated = latest
            .entry(statement.aggregate_id.clone())
            .or_insert((at, language));
        if stated.0 <= at {
            *stated = (at, language);
        }
    }
    Ok(started
        .into_iter()
        .filter_map(|(member, case)| {
            let (_, language) = latest.get(&member)?;
            Some((case.parse().ok()?, (*language)?))
        })
        .collect())
}
