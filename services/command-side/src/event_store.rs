//! The event store, read and written in bulk.
//!
//! Rows are postgres-es's (its `events` table and serialisation, so cqrs-es tools still read
//! them), but postgres-es loads one aggregate per query and commits one aggregate per
//! transaction. Intake decides the commands of many reports at once, so here many aggregates
//! load in one query and the events of a whole batch are stored in one transaction: one commit
//! instead of two per named member.
//!
//! Personal parts (a case opening's member and contact details, the staff ids of members'
//! records and of reports, stated preferences) are sealed on the way
//! in under each member's data key, and opened on the way out; aggregates only ever see plain
//! data, or `None` once a purge destroyed the key (see `outreach-privacy`).

use std::collections::{BTreeSet, HashMap};

use cqrs_es::{Aggregate, DomainEvent};
use outreach_privacy::{open_all, personal_parts, seal, DataKeys, PrivacyError};
use serde_json::Value;
use sqlx::{PgConnection, PgPool};

use crate::{privacy_unavailable, unavailable, CommandError, Metadata};

/// An event decided but not yet stored.
#[derive(Debug, Clone)]
pub(crate) struct NewEvent {
    pub aggregate_type: &'static str,
    pub aggregate_id: String,
    pub sequence: u64,
    pub event_type: String,
    pub event_version: String,
    pub payload: Value,
    pub metadata: Value,
}

impl NewEvent {
    /// The events `events` make of the aggregate at `version`, numbered on from it.
    pub fn numbered<A: Aggregate>(
        aggregate_id: &str,
        version: u64,
        events: Vec<A::Event>,
        metadata: &Metadata,
    ) -> Result<Vec<NewEvent>, CommandError> {
        let metadata = serde_json::to_value(metadata)
            .map_err(|e| CommandError::Unavailable(format!("metadata did not serialise: {e}")))?;
        events
            .into_iter()
            .zip(version + 1..)
            .map(|(event, sequence)| {
                Ok(NewEvent {
                    aggregate_type: A::TYPE,
                    aggregate_id: aggregate_id.to_owned(),
                    sequence,
                    event_type: event.event_type(),
                    event_version: event.event_version(),
                    payload: serde_json::to_value(&event).map_err(|e| {
                        CommandError::Unavailable(format!(
                            "a {} event did not serialise: {e}",
                            A::TYPE
                        ))
                    })?,
                    metadata: metadata.clone(),
                })
            })
            .collect()
    }
}

/// Why storing events failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum AppendError {
    /// Another writer stored an event at one of these aggregates' next positions first.
    #[error("another writer got there first")]
    Conflict,
    #[error(transparent)]
    Unavailable(#[from] CommandError),
}

/// An aggregate's stored events, as read: its type, id, and each event's sequence, type and
/// (opened) payload.
pub(crate) struct StoredEvents {
    rows: Vec<(String, String, i64, String, Value)>,
}

/// Each wanted aggregate looked up by its key. Written as a lateral lookup so that even a
/// generic plan, made when the store was empty (a new installation) and kept by the connection,
/// probes the primary key once per aggregate: as a join, or as `= ANY` on both columns, it
/// would scan every event (of the wanted types) ever after.
const LOAD_STORED: &str = "
    SELECT e.*
      FROM UNNEST($1::text[], $2::text[]) AS wanted (aggregate_type, aggregate_id),
           LATERAL (SELECT aggregate_type, aggregate_id, sequence, event_type, payload
                      FROM events
                     WHERE aggregate_type = wanted.aggregate_type
                       AND aggregate_id = wanted.aggregate_id
                    OFFSET 0) e
     ORDER BY e.aggregate_type, e.aggregate_id, e.sequence";

/// The events of many aggregates, of one type or several, in one query: `wanted` names each
/// type with the ids wanted of it.
pub(crate) async fn load_stored(
    pool: &PgPool,
    wanted: &[(&'static str, &[String])],
) -> Result<StoredEvents, CommandError> {
    // Each aggregate once: a repeated one would have its events applied twice.
    let (types, ids): (Vec<&str>, Vec<&str>) = wanted
        .iter()
        .flat_map(|(kind, ids)| ids.iter().map(move |id| (*kind, id.as_str())))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .unzip();
    if ids.is_empty() {
        return Ok(StoredEvents { rows: Vec::new() });
    }
    let mut db = pool.acquire().await.map_err(unavailable)?;
    let mut rows: Vec<(String, String, i64, String, Value)> = sqlx::query_as(LOAD_STORED)
        .bind(types)
        .bind(ids)
        .fetch_all(&mut *db)
        .await
        .map_err(unavailable)?;
    open_all(&mut db, rows.iter_mut().map(|row| &mut row.4).collect())
        .await
        .map_err(privacy_unavailable)?;
    Ok(StoredEvents { rows })
}

impl StoredEvents {
    /// Each of `ids`' current state and version (0 for one that has no events yet), from the
    /// events read of type `A`.
    pub(crate) fn fold<A: Aggregate>(
        &mut self,
        ids: &[String],
    ) -> Result<HashMap<String, (A, u64)>, CommandError> {
        let mut loaded: HashMap<String, (A, u64)> = ids
            .iter()
            .map(|id| (id.clone(), (A::default(), 0)))
            .collect();
        let (mine, others) = std::mem::take(&mut self.rows)
            .into_iter()
            .partition(|row| row.0 == A::TYPE);
        self.rows = others;
        for (_, id, sequence, event_type, payload) in mine {
            let event: A::Event = serde_json::from_value(payload).map_err(|e| {
                // serde's message may quote the value; name the event by its place only.
                CommandError::Unavailable(format!(
                    "event {}/{id}#{sequence} ({event_type}) does not read: {:?} error",
                    A::TYPE,
                    e.classify()
                ))
            })?;
            let (aggregate, version) = loaded.entry(id).or_insert_with(|| (A::default(), 0));
            aggregate.apply(event);
            *version = sequence as u64;
        }
        Ok(loaded)
    }
}

/// One aggregate's current state and version (0 if it has no events yet).
pub(crate) async fn load_one<A: Aggregate>(
    pool: &PgPool,
    id: &str,
) -> Result<(A, u64), CommandError> {
    let ids = [id.to_owned()];
    let mut loaded = load_stored(pool, &[(A::TYPE, &ids)])
        .await?
        .fold::<A>(&ids)?;
    Ok(loaded.remove(id).unwrap_or_default())
}

/// Stores `events` in the caller's transaction, in order, personal parts sealed.
///
/// The sealing members' key locks are held (shared) until the transaction ends, so a purge
/// that destroys a key either finishes first (and these seal under a new key) or waits and
/// then sees these events (and leaves the key alone). A duplicate (aggregate, sequence) means
/// another writer stored first: [`AppendError::Conflict`], and nothing of the batch stays.
pub(crate) async fn append(
    tx: &mut PgConnection,
    events: &mut [NewEvent],
) -> Result<(), AppendError> {
    seal_personal_parts(tx, events)
        .await
        .map_err(privacy_unavailable)?;
    let column = |f: fn(&NewEvent) -> String| events.iter().map(f).collect::<Vec<_>>();
    let inserted = sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version,
                             payload, metadata)
         SELECT aggregate_type, aggregate_id, sequence, event_type, event_version,
                payload::json, metadata::json
           FROM UNNEST($1::text[], $2::text[], $3::int8[], $4::text[], $5::text[], $6::text[],
                       $7::text[])
                WITH ORDINALITY AS new (aggregate_type, aggregate_id, sequence, event_type,
                                        event_version, payload, metadata, n)
          ORDER BY n",
    )
    .bind(column(|e| e.aggregate_type.to_owned()))
    .bind(column(|e| e.aggregate_id.clone()))
    .bind(events.iter().map(|e| e.sequence as i64).collect::<Vec<_>>())
    .bind(column(|e| e.event_type.clone()))
    .bind(column(|e| e.event_version.clone()))
    .bind(column(|e| e.payload.to_string()))
    .bind(column(|e| e.metadata.to_string()))
    .execute(&mut *tx)
    .await;
    match inserted {
        Ok(_) => Ok(()),
        // A duplicate (aggregate, sequence): another writer stored there first. A deadlock:
        // two batches stored events of the same aggregates in opposite orders, and PostgreSQL
        // aborted this one; deciding it again on fresh state is all it takes either way.
        Err(sqlx::Error::Database(e))
            if matches!(e.code().as_deref(), Some("23505") | Some("40P01")) =>
        {
            Err(AppendError::Conflict)
        }
        Err(other) => Err(AppendError::Unavailable(unavailable(other))),
    }
}

/// Stores `events` in a transaction of their own.
pub(crate) async fn append_now(pool: &PgPool, events: &mut [NewEvent]) -> Result<(), AppendError> {
    let mut tx = pool.begin().await.map_err(unavailable)?;
    append(&mut tx, events).await?;
    tx.commit().await.map_err(unavailable)?;
    Ok(())
}

/// Seals every personal part in `events` with one lock statement and one key lookup.
async fn seal_personal_parts(
    tx: &mut PgConnection,
    events: &mut [NewEvent],
) -> Result<(), PrivacyError> {
    let sealing: BTreeSet<String> = events
        .iter_mut()
        .flat_map(|e| personal_parts(&e.event_type, &mut e.payload))
        .map(|part| part.staff_id)
        .collect();
    if sealing.is_empty() {
        return Ok(());
    }
    let staff_ids: Vec<String> = sealing.into_iter().collect();
    let mut keys = DataKeys::on(tx);
    keys.hold_all_for_sealing(&staff_ids).await?;
    let live = keys.live_keys(&staff_ids).await?;
    let used: Vec<uuid::Uuid> = live.values().map(|key| key.key_id()).collect();
    keys.record_sealing(&used).await?;
    for event in events.iter_mut() {
        for part in personal_parts(&event.event_type, &mut event.payload) {
            let key = live
                .get(&part.staff_id)
                .ok_or(PrivacyError::Malformed("a sealing member has no key"))?;
            for value in part.values {
                *value = seal(key, value)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use outreach_test_support::TestDatabase;

    use super::LOAD_STORED;

    /// A new installation: the store is empty when intake's connections first plan the load.
    /// The plan they keep must still look each aggregate up by its key, not scan the store.
    #[tokio::test]
    async fn loading_aggregates_probes_the_key_even_as_planned_on_an_empty_store() {
        let db = TestDatabase::create("event_store_plan").await;
        let mut conn = db.pool.acquire().await.unwrap();
        sqlx::query("SET plan_cache_mode = force_generic_plan")
            .execute(&mut *conn)
            .await
            .unwrap();
        sqlx::query(&format!(
            "PREPARE load_stored (text[], text[]) AS {LOAD_STORED}"
        ))
        .execute(&mut *conn)
        .await
        .unwrap();
        let plan: Vec<String> = sqlx::query_scalar(
            "EXPLAIN EXECUTE load_stored (ARRAY['OutreachCase', 'CareTeamMember'], ARRAY['a', 'b'])",
        )
        .fetch_all(&mut *conn)
        .await
        .unwrap();
        let plan = plan.join("\n");
        assert!(plan.contains("Index Scan using events_pkey"), "{plan}");
        assert!(!plan.contains("Seq Scan on events"), "{plan}");
        assert!(!plan.contains("Bitmap"), "{plan}");
    }
}
