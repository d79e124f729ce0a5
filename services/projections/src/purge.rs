//! What read models do when a member's personal data is purged (`PersonalDataPurged`).
//!
//! The events' personal parts are already unreadable (their key is destroyed), or soon will be;
//! each read model that copied a name, contact details or preferences drops its copy. The cases
//! a purge covers are the member's cases opened before it in commit order, so a rebuild drops
//! exactly what the live run dropped, and a case opened after the purge keeps its data.

use std::collections::HashSet;

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

/// For each purge of `events`, in order, the member's cases whose opening committed before it:
/// one query for the whole batch. Reads the facts only (the staff id sits outside the sealed
/// part). Events that are not purges are skipped.
pub(crate) async fn cases_purged_by(
    db: &mut PgConnection,
    events: &[StoredEvent],
) -> Result<Vec<(usize, HashSet<Uuid>)>, ProjectionError> {
    let mut purges = Vec::new();
    for (at, event) in events.iter().enumerate() {
        if let Some(staff_id) = purged_member(event)? {
            purges.push((at, staff_id));
        }
    }
    if purges.is_empty() {
        return Ok(Vec::new());
    }
    let staff: Vec<&str> = purges.iter().map(|(_, s)| s.as_str()).collect();
    let transactions: Vec<&str> = purges
        .iter()
        .map(|(at, _)| events[*at].transaction_id.as_str())
        .collect();
    let positions: Vec<i64> = purges
        .iter()
        .map(|(at, _)| events[*at].global_position)
        .collect();
    let rows: Vec<(i64, String)> = sqlx::query_as(
        "SELECT p.purge, e.aggregate_id
           FROM UNNEST($1::text[], $2::text[], $3::bigint[])
                WITH ORDINALITY AS p(staff_id, transaction_id, global_position, purge)
           JOIN events e
             ON e.payload -> 'CaseOpened' -> 'facts' -> 'member' ->> 'staff_id' = p.staff_id
            AND (e.transaction_id, e.global_position)
              < (p.transaction_id::xid8, p.global_position)
          WHERE e.aggregate_type = 'OutreachCase' AND e.event_type = 'CaseOpened'",
    )
    .bind(&staff)
    .bind(&transactions)
    .bind(&positions)
    .fetch_all(db)
    .await?;
    let mut covered: Vec<(usize, HashSet<Uuid>)> =
        purges.iter().map(|(at, _)| (*at, HashSet::new())).collect();
    for (purge, case) in rows {
        let (at, cases) = &mut covered[purge as usize - 1];
        let case = case
            .parse()
            .map_err(|_| events[*at].unreadable("a case id is not a UUID".into()))?;
        cases.insert(case);
    }
    Ok(covered)
}

/// Outbox rows of `kinds` for `cases` carry the member's name and contact details: a sent row
/// keeps its id (a replay relies on it to send nothing twice) and loses its payload; an unsent
/// one is deleted, as there is no one left to send it to.
pub(crate) async fn clear_outbox(
    db: &mut PgConnection,
    cases: &HashSet<Uuid>,
    kinds: &[&str],
) -> Result<(), ProjectionError> {
    if cases.is_empty() {
        return Ok(());
    }
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
