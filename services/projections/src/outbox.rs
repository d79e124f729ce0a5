//! What the reactions (director notices, assignment notices, feedback invitations, resource
//! sheets, program alerts) record in the outbox for one batch, written with one statement; the
//! alert watch (a sweep in `outreach-process-managers`) records its rows through [`insert`] too.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{ProjectionError, StoredEvent};

/// A reaction's work in a batch, by the place of the event that calls for it: each purge with
/// the cases it covers (`purge`), and what `step` makes of the other events.
pub(crate) async fn steps<S>(
    db: &mut PgConnection,
    events: &[StoredEvent],
    purge: fn(HashSet<Uuid>) -> S,
    step: impl Fn(&StoredEvent) -> Result<Option<S>, ProjectionError>,
) -> Result<std::collections::HashMap<usize, S>, ProjectionError> {
    let mut steps: std::collections::HashMap<usize, S> = crate::purge::cases_purged_by(db, events)
        .await?
        .into_iter()
        .map(|(at, cases)| (at, purge(cases)))
        .collect();
    for (at, event) in events.iter().enumerate() {
        if let Some(step) = step(event)? {
            steps.insert(at, step);
        }
    }
    Ok(steps)
}

/// One message to send, its id derived from the event that caused it.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxRow {
    pub id: Uuid,
    pub kind: &'static str,
    pub channel: &'static str,
    /// The case it is about: the Kafka key.
    pub case_id: Uuid,
    pub payload: serde_json::Value,
    /// When the causing event was stored (never the clock: a rebuild derives the same).
    pub created_at: DateTime<Utc>,
}

/// The rows a batch records, and the cases whose rows its purges took back.
#[derive(Debug, Default)]
pub(crate) struct Recorded {
    pub rows: Vec<OutboxRow>,
    /// Cases whose stored rows (of the projection's kinds) are cleared before the new ones go in.
    pub purged: HashSet<Uuid>,
}

impl Recorded {
    pub fn record(&mut self, row: OutboxRow) {
        self.rows.push(row);
    }

    /// A purge covering `cases`: rows recorded for them earlier in the batch are unsent, so
    /// they go; the stored ones are cleared when the batch is written.
    pub fn purge(&mut self, cases: &HashSet<Uuid>) {
        self.rows.retain(|row| !cases.contains(&row.case_id));
        self.purged.extend(cases);
    }

    /// Clears what the purges covered (rows of `kinds`), then inserts the new rows. A row
    /// already there (a replay) is left as it is: it may have been published.
    pub async fn write(
        &self,
        db: &mut PgConnection,
        kinds: &[&str],
    ) -> Result<(), ProjectionError> {
        crate::purge::clear_outbox(db, &self.purged, kinds).await?;
        insert(db, &self.rows).await
    }
}

/// Inserts `rows`, skipping any whose id is there already.
pub async fn insert(db: &mut PgConnection, rows: &[OutboxRow]) -> Result<(), ProjectionError> {
    if rows.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let kinds: Vec<&str> = rows.iter().map(|r| r.kind).collect();
    let channels: Vec<&str> = rows.iter().map(|r| r.channel).collect();
    let keys: Vec<String> = rows.iter().map(|r| r.case_id.to_string()).collect();
    let payloads: Vec<&serde_json::Value> = rows.iter().map(|r| &r.payload).collect();
    let created: Vec<DateTime<Utc>> = rows.iter().map(|r| r.created_at).collect();
    sqlx::query(
        "INSERT INTO outbox (id, kind, channel, topic_key, payload, created_at)
         SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[], $5::jsonb[],
                              $6::timestamptz[])
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(&ids)
    .bind(&kinds)
    .bind(&channels)
    .bind(&keys)
    .bind(&payloads)
    .bind(&created)
    .execute(db)
    .await?;
    Ok(())
}
