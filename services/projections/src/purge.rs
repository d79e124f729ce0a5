//! What read models do when a member's personal data is purged (`PersonalDataPurged`).
//!
//! The events' personal parts are already unreadable (their key is destroyed), or soon will be;
//! each read model that copied a name, contact details or preferences drops its copy. The cases
//! a purge covers are the cases the member's record started before it, so a rebuild drops
//! exactly what the live run dropped, and a case opened after the purge keeps its data.

use std::collections::{HashMap, HashSet};

use outreach_events::care_team_member::{self, MemberEvent};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{ProjectionError, StoredEvent};

/// Names, in memory only, the member each purge of `events` is of, where the member's record
/// still names them in the clear: records stored before issue 27 (each of their events but
/// `CaseEnded` has a plain `staff_id`). Since issue 27 those staff ids are sealed under the key
/// the purge destroyed, so a purge of such a record stays unnamed, and read models find what it
/// covers by the member's record id and its cases instead (see [`cases_purged_by`]). Purges
/// stored before named the staff id themselves and are left as they are. One query for the
/// whole batch.
pub(crate) async fn name_purged_members(
    db: &mut PgConnection,
    events: &mut [StoredEvent],
) -> Result<(), ProjectionError> {
    let unnamed = |e: &StoredEvent| {
        e.aggregate_type == care_team_member::AGGREGATE_TYPE
            && e.event_type == MemberEvent::PERSONAL_DATA_PURGED
            && e.payload["PersonalDataPurged"]["staff_id"].is_null()
    };
    let members: Vec<&str> = events
        .iter()
        .filter(|e| unnamed(e))
        .map(|e| e.aggregate_id.as_str())
        .collect();
    if members.is_empty() {
        return Ok(());
    }
    let named: HashMap<String, String> = sqlx::query_as(
        "SELECT DISTINCT ON (e.aggregate_id) e.aggregate_id, body.value ->> 'staff_id'
           FROM events e, json_each(e.payload) AS body
          WHERE e.aggregate_type = 'CareTeamMember' AND e.aggregate_id = ANY($1)
            AND json_typeof(body.value -> 'staff_id') = 'string'
            AND body.value ->> 'staff_id' <> ''
          ORDER BY e.aggregate_id, e.sequence",
    )
    .bind(&members)
    .fetch_all(&mut *db)
    .await?
    .into_iter()
    .collect();
    for event in events.iter_mut().filter(|e| unnamed(e)) {
        if let Some(staff_id) = named.get(&event.aggregate_id) {
            event.payload["PersonalDataPurged"]["staff_id"] = staff_id.clone().into();
        }
    }
    Ok(())
}

/// Whether `event` is a purge of a member's personal data.
pub(crate) fn is_purge(event: &StoredEvent) -> bool {
    event.aggregate_type == care_team_member::AGGREGATE_TYPE
        && event.event_type == MemberEvent::PERSONAL_DATA_PURGED
}

/// For each purge of `events`, in order, the member's cases started before it: the cases the
/// member's own record started (`CaseStarted`) at an earlier place in its stream. One query for
/// the whole batch, by the member's aggregate id: neither the staff id nor the openings'
/// sealed profile is needed (issue 27). Events that are not purges are skipped.
pub(crate) async fn cases_purged_by(
    db: &mut PgConnection,
    events: &[StoredEvent],
) -> Result<Vec<(usize, HashSet<Uuid>)>, ProjectionError> {
    let purges: Vec<usize> = (0..events.len())
        .filter(|at| is_purge(&events[*at]))
        .collect();
    if purges.is_empty() {
        return Ok(Vec::new());
    }
    let members: Vec<&str> = purges
        .iter()
        .map(|at| events[*at].aggregate_id.as_str())
        .collect();
    let sequences: Vec<i64> = purges.iter().map(|at| events[*at].sequence).collect();
    let rows: Vec<(i64, Option<String>)> = sqlx::query_as(
        "SELECT p.purge, e.payload -> 'CaseStarted' ->> 'case_id'
           FROM UNNEST($1::text[], $2::bigint[]) WITH ORDINALITY AS p(member, sequence, purge)
           JOIN events e
             ON e.aggregate_type = 'CareTeamMember' AND e.aggregate_id = p.member
            AND e.sequence < p.sequence AND e.event_type = 'CaseStarted'",
    )
    .bind(&members)
    .bind(&sequences)
    .fetch_all(db)
    .await?;
    let mut covered: Vec<(usize, HashSet<Uuid>)> =
        purges.iter().map(|at| (*at, HashSet::new())).collect();
    for (purge, case) in rows {
        let (at, cases) = &mut covered[purge as usize - 1];
        let case = case
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| events[*at].unreadable("a started case id is not a UUID".into()))?;
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

#[cfg(test)]
mod tests {
    use chrono::DateTime;
    use serde_json::json;
    use uuid::Uuid;

    use super::name_purged_members;
    use crate::testing::TestDb;

    /// A purge stored since issue 27 names no one; projections learn whose it is from the
    /// member's record, in memory. One stored before, naming the staff id, reads as it is.
    #[tokio::test]
    async fn a_purge_that_names_no_one_is_named_from_the_members_record_in_memory() {
        let db = TestDb::new().await;
        let at = DateTime::from_timestamp(1_799_000_000, 0).unwrap();
        let (member, old_member) = (Uuid::from_u128(1), Uuid::from_u128(2));
        db.append(
            "CareTeamMember",
            member,
            1,
            "CaseStarted",
            json!({"CaseStarted": {"staff_id": "E1", "case_id": Uuid::from_u128(9),
                                   "started_at": at}}),
        )
        .await;
        let purge = db
            .append(
                "CareTeamMember",
                member,
                2,
                "PersonalDataPurged",
                json!({"PersonalDataPurged": {"key_id": Uuid::nil(), "purged_at": at}}),
            )
            .await;
        let old = db
            .append(
                "CareTeamMember",
                old_member,
                1,
                "PersonalDataPurged",
                json!({"PersonalDataPurged": {"staff_id": "E2", "key_id": Uuid::nil(),
                                              "purged_at": at}}),
            )
            .await;
        // A record stored since issue 27 keeps its staff ids sealed: its purge stays unnamed.
        let sealed_member = Uuid::from_u128(3);
        db.append(
            "CareTeamMember",
            sealed_member,
            1,
            "CaseStarted",
            json!({"CaseStarted": {"staff_id": {"sealed": {"key_id": Uuid::nil()}},
                                   "case_id": Uuid::from_u128(8), "started_at": at}}),
        )
        .await;
        let sealed = db
            .append(
                "CareTeamMember",
                sealed_member,
                2,
                "PersonalDataPurged",
                json!({"PersonalDataPurged": {"key_id": Uuid::nil(), "purged_at": at}}),
            )
            .await;
        assert!(!purge.payload.to_string().contains("E1"), "stored unnamed");
        let mut events = vec![purge, old, sealed];
        let mut conn = db.db.pool.acquire().await.unwrap();
        name_purged_members(&mut conn, &mut events).await.unwrap();
        assert_eq!(events[0].payload["PersonalDataPurged"]["staff_id"], "E1");
        assert_eq!(events[1].payload["PersonalDataPurged"]["staff_id"], "E2");
        assert!(events[2].payload["PersonalDataPurged"]["staff_id"].is_null());
        let stored: String = sqlx::query_scalar(
            "SELECT payload::text FROM events WHERE event_type = 'PersonalDataPurged'
              ORDER BY aggregate_id LIMIT 1",
        )
        .fetch_one(&db.db.pool)
        .await
        .unwrap();
        assert!(!stored.contains("E1"), "named in memory only: {stored}");
    }
}
