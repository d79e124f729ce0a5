//! What read models do when a member's personal data is purged (`PersonalDataPurged`).
//!
//! The events' personal parts are already unreadable (their key is destroyed); each read model
//! that copied a name, contact details or preferences drops its copy. The cases a purge covers
//! are the member's cases opened before it in commit order, so a rebuild drops exactly what the
//! live run dropped, and a case opened after the purge keeps its data.

use outreach_events::care_team_member::MemberEvent;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{ProjectionError, StoredEvent};

/// Whose personal data `event` purges, if it is a purge.
pub(crate) fn purged_member(event: &StoredEvent) -> Result<Option<String>, ProjectionError> {
    if event.aggregate_type != "CareTeamMember" || event.event_type != "PersonalDataPurged" {
        return Ok(None);
    }
    match event.decode::<MemberEvent>()? {
        MemberEvent::PersonalDataPurged { staff_id, .. } => Ok(Some(staff_id)),
        _ => Err(event.unreadable("event type and payload disagree".into())),
    }
}

/// The member's cases whose opening committed before `purge`. Reads the facts only (the staff
/// id sits outside the sealed part).
pub(crate) async fn cases_purged_by(
    db: &mut PgConnection,
    staff_id: &str,
    purge: &StoredEvent,
) -> Result<Vec<Uuid>, ProjectionError> {
    let ids: Vec<String> = sqlx::query_scalar(
        "SELECT aggregate_id FROM events
          WHERE aggregate_type = 'OutreachCase' AND event_type = 'CaseOpened'
            AND payload -> 'CaseOpened' -> 'facts' -> 'member' ->> 'staff_id' = $1
            AND (transaction_id, global_position) < ($2::xid8, $3)",
    )
    .bind(staff_id)
    .bind(&purge.transaction_id)
    .bind(purge.global_position)
    .fetch_all(db)
    .await?;
    ids.iter()
        .map(|id| {
            id.parse()
                .map_err(|_| purge.unreadable("a case id is not a UUID".into()))
        })
        .collect()
}

/// Outbox rows of `kinds` for `cases` carry the member's name and contact details: a sent row
/// keeps its id (a replay relies on it to send nothing twice) and loses its payload; an unsent
/// one is deleted, as there is no one left to send it to.
pub(crate) async fn clear_outbox(
    db: &mut PgConnection,
    cases: &[Uuid],
    kinds: &[&str],
) -> Result<(), ProjectionError> {
    let keys: Vec<String> = cases.iter().map(Uuid::to_string).collect();
    sqlx::query(
        "DELETE FROM outbox
          WHERE topic_key = ANY($1) AND kind = ANY($2) AND published_at IS NULL",
    )
    .bind(&keys)
    .bind(kinds)
    .execute(&mut *db)
    .await?;
    sqlx::query(
        r#"UPDATE outbox SET payload = '{"purged": true}'::jsonb
            WHERE topic_key = ANY($1) AND kind = ANY($2)"#,
    )
    .bind(&keys)
    .bind(kinds)
    .execute(db)
    .await?;
    Ok(())
}
