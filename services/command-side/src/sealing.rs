//! The event store as the command side sees it: postgres-es underneath, with members' personal
//! data sealed on the way in and opened on the way out.
//!
//! Events are immutable and end up in backups, so a purge cannot rewrite them; instead each
//! event's personal part (a case opening's contact details, stated preferences) is stored
//! sealed under the member's data key (see `outreach-privacy`), and destroying the key is the
//! purge. Aggregates only ever see plain data, or `None` once a purge destroyed the key.

use cqrs_es::persist::{
    PersistedEventRepository, PersistenceError, ReplayStream, SerializedEvent, SerializedSnapshot,
};
use cqrs_es::Aggregate;
use outreach_privacy::{open_all, personal_part, seal, DataKeys, PrivacyError};
use postgres_es::PostgresEventRepository;
use serde_json::Value;
use sqlx::PgPool;

pub struct SealingEventRepository {
    inner: PostgresEventRepository,
    pool: PgPool,
}

impl SealingEventRepository {
    pub fn new(pool: PgPool) -> Self {
        Self {
            inner: PostgresEventRepository::new(pool.clone()),
            pool,
        }
    }

    /// Opens the personal parts of `events` with one key lookup.
    async fn open(&self, events: &mut [SerializedEvent]) -> Result<(), PersistenceError> {
        let mut db = self.pool.acquire().await.map_err(from_sqlx)?;
        open_all(&mut db, events.iter_mut().map(|e| &mut e.payload).collect())
            .await
            .map_err(from_privacy)
    }

    /// Stores events with personal parts, each sealed under its member's live key.
    ///
    /// One transaction holds the member's key lock (shared) from taking the key until the
    /// events are stored, so a purge that destroys the key either finishes first (and this
    /// seals under a new key) or waits and sees these events (and leaves the key alone).
    /// postgres-es opens its own transaction for inserts, so the insert is done here.
    async fn persist_sealed<A: Aggregate>(
        &self,
        events: &[SerializedEvent],
    ) -> Result<(), PersistenceError> {
        let mut tx = self.pool.begin().await.map_err(from_sqlx)?;
        let mut payloads: Vec<Value> = events.iter().map(|e| e.payload.clone()).collect();
        for (event, payload) in events.iter().zip(payloads.iter_mut()) {
            if let Some(part) = personal_part(&event.event_type, payload) {
                let mut keys = DataKeys::on(&mut tx);
                keys.hold_for_sealing(&part.staff_id)
                    .await
                    .map_err(from_privacy)?;
                let key = keys.live_key(&part.staff_id).await.map_err(from_privacy)?;
                *part.value = seal(&key, part.value).map_err(from_privacy)?;
            }
        }
        for (event, payload) in events.iter().zip(payloads) {
            sqlx::query(
                "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type,
                                     event_version, payload, metadata)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(A::TYPE)
            .bind(&event.aggregate_id)
            .bind(event.sequence as i64)
            .bind(&event.event_type)
            .bind(&event.event_version)
            .bind(payload)
            .bind(&event.metadata)
            .execute(&mut *tx)
            .await
            .map_err(from_sqlx)?;
        }
        tx.commit().await.map_err(from_sqlx)
    }
}

impl PersistedEventRepository for SealingEventRepository {
    async fn get_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<Vec<SerializedEvent>, PersistenceError> {
        let mut events = self.inner.get_events::<A>(aggregate_id).await?;
        self.open(&mut events).await?;
        Ok(events)
    }

    async fn get_last_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
        last_sequence: usize,
    ) -> Result<Vec<SerializedEvent>, PersistenceError> {
        let mut events = self
            .inner
            .get_last_events::<A>(aggregate_id, last_sequence)
            .await?;
        self.open(&mut events).await?;
        Ok(events)
    }

    /// No snapshots are kept: a snapshot is the aggregate's state in the clear (a member's
    /// preferences), which no key could purge.
    async fn get_snapshot<A: Aggregate>(
        &self,
        _aggregate_id: &str,
    ) -> Result<Option<SerializedSnapshot>, PersistenceError> {
        Ok(None)
    }

    async fn persist<A: Aggregate>(
        &self,
        events: &[SerializedEvent],
        snapshot_update: Option<(String, Value, usize)>,
    ) -> Result<(), PersistenceError> {
        if snapshot_update.is_some() {
            return Err(PersistenceError::UnknownError(
                "snapshots are not kept: they would hold personal data unsealed".into(),
            ));
        }
        let personal = events.iter().any(|e| {
            let mut payload = e.payload.clone();
            personal_part(&e.event_type, &mut payload).is_some()
        });
        if personal {
            self.persist_sealed::<A>(events).await
        } else {
            self.inner.persist::<A>(events, None).await
        }
    }

    async fn stream_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<ReplayStream, PersistenceError> {
        replay(self.get_events::<A>(aggregate_id).await?).await
    }

    /// Every event of the aggregate type, opened. Read whole, unlike postgres-es's stream:
    /// only a full query replay asks for it, and this service runs none (see the projections).
    async fn stream_all_events<A: Aggregate>(&self) -> Result<ReplayStream, PersistenceError> {
        let rows: Vec<(String, i64, String, String, Value, Value)> = sqlx::query_as(
            "SELECT aggregate_id, sequence, event_type, event_version, payload, metadata
               FROM events WHERE aggregate_type = $1
              ORDER BY transaction_id, global_position",
        )
        .bind(A::TYPE)
        .fetch_all(&self.pool)
        .await
        .map_err(from_sqlx)?;
        let mut events: Vec<SerializedEvent> = rows
            .into_iter()
            .map(|(id, sequence, event_type, version, payload, metadata)| {
                SerializedEvent::new(
                    id,
                    sequence as usize,
                    A::TYPE.to_string(),
                    event_type,
                    version,
                    payload,
                    metadata,
                )
            })
            .collect();
        self.open(&mut events).await?;
        replay(events).await
    }
}

/// A replay stream over events already read and opened.
async fn replay(events: Vec<SerializedEvent>) -> Result<ReplayStream, PersistenceError> {
    let (mut feed, stream) = ReplayStream::new(events.len().max(1));
    for event in events {
        feed.push(Ok(event)).await?;
    }
    Ok(stream)
}

/// As postgres-es classifies database errors: a duplicate (aggregate, sequence) is a lost
/// write race, which the command side retries.
fn from_sqlx(error: sqlx::Error) -> PersistenceError {
    match &error {
        sqlx::Error::Database(e) if e.code().as_deref() == Some("23505") => {
            PersistenceError::OptimisticLockError
        }
        sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::PoolTimedOut => {
            PersistenceError::ConnectionError(Box::new(error))
        }
        _ => PersistenceError::UnknownError(Box::new(error)),
    }
}

fn from_privacy(error: PrivacyError) -> PersistenceError {
    match error {
        PrivacyError::Database(e) => from_sqlx(e),
        other => PersistenceError::DeserializationError(Box::new(other)),
    }
}
