use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;

use crate::ProjectionError;

/// The columns of a [`StoredEvent`], to select or return them by.
pub(crate) const EVENT_COLUMNS: &str = "aggregate_type, aggregate_id, sequence, event_type,
    event_version, payload, metadata, transaction_id::text AS transaction_id, global_position,
    recorded_at";

/// An event as the event store holds it, with its place in commit order.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StoredEvent {
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub sequence: i64,
    pub event_type: String,
    pub event_version: String,
    pub payload: serde_json::Value,
    pub metadata: serde_json::Value,
    /// The writing transaction's id (xid8, as text: sqlx has no xid8 type).
    pub transaction_id: String,
    pub global_position: i64,
    pub recorded_at: DateTime<Utc>,
}

/// Opens the sealed personal parts of `events` with one key lookup, so projections see plain
/// data, or `None` where a purge destroyed the member's key. The runner does this for every
/// batch; whoever hands events to a projection otherwise must do it too.
pub async fn open_personal(
    db: &mut sqlx::PgConnection,
    events: &mut [StoredEvent],
) -> Result<(), ProjectionError> {
    outreach_privacy::open_all(db, events.iter_mut().map(|e| &mut e.payload).collect()).await?;
    Ok(())
}

/// Each of `cases`' member's name and contact details, from the case's opening or, where the
/// opening held a referrer's suggestion, from the program's staff's confirmation (opened): one
/// query and one key lookup. `None` for a member whose data was purged; a case without an
/// opening is absent.
pub(crate) async fn member_contacts(
    db: &mut sqlx::PgConnection,
    cases: Vec<String>,
) -> Result<
    std::collections::HashMap<uuid::Uuid, Option<outreach_events::MemberContact>>,
    ProjectionError,
> {
    let mut contacts = std::collections::HashMap::new();
    if cases.is_empty() {
        return Ok(contacts);
    }
    let mut openings: Vec<StoredEvent> = sqlx::query_as(&format!(
        "SELECT {EVENT_COLUMNS}
           FROM events
          WHERE aggregate_type = 'OutreachCase' AND aggregate_id = ANY($1)
            AND event_type IN ('CaseOpened', 'ContactConfirmed')
          ORDER BY sequence"
    ))
    .bind(cases)
    .fetch_all(&mut *db)
    .await?;
    open_personal(db, &mut openings).await?;
    // The opening comes first (sequence 1); a confirmation after it stands over it.
    for opened in &openings {
        match opened.decode::<outreach_events::CaseEvent>()? {
            outreach_events::CaseEvent::CaseOpened(opening) => {
                contacts.insert(opening.facts.case_id, opening.personal);
            }
            outreach_events::CaseEvent::ContactConfirmed(confirmed) => {
                contacts.insert(opened.aggregate_uuid()?, confirmed.personal);
            }
            _ => return Err(opened.unreadable("event type and payload disagree".into())),
        }
    }
    Ok(contacts)
}

/// Opens the sealed personal parts of the events of `types` (one key lookup for all), and sets
/// the others' aside unopened, as `null` (what a purge leaves).
pub(crate) async fn open_personal_of(
    db: &mut sqlx::PgConnection,
    events: &mut [StoredEvent],
    types: &[&str],
) -> Result<(), ProjectionError> {
    fn set_aside(value: &mut serde_json::Value) {
        if outreach_privacy::is_sealed(value) {
            *value = serde_json::Value::Null;
            return;
        }
        match value {
            serde_json::Value::Object(map) => map.values_mut().for_each(set_aside),
            serde_json::Value::Array(items) => items.iter_mut().for_each(set_aside),
            _ => {}
        }
    }
    let mut read = Vec::new();
    for event in events {
        if types.contains(&event.event_type.as_str()) {
            read.push(&mut event.payload);
        } else {
            set_aside(&mut event.payload);
        }
    }
    outreach_privacy::open_all(db, read).await?;
    Ok(())
}

impl StoredEvent {
    /// Reads the payload as `T`, naming the event (never its content) when that fails.
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, ProjectionError> {
        T::deserialize(&self.payload).map_err(|e| {
            // serde's own message may quote the offending value, which may be personal data.
            self.unreadable(format!(
                "{:?} error: payload does not match the {} type",
                e.classify(),
                std::any::type_name::<T>()
            ))
        })
    }

    /// The aggregate's id as the UUID every aggregate of ours is known by.
    pub fn aggregate_uuid(&self) -> Result<uuid::Uuid, ProjectionError> {
        self.aggregate_id
            .parse()
            .map_err(|_| self.unreadable("aggregate id is not a UUID".into()))
    }

    /// Where the event stands in commit order: (transaction id, global position).
    pub fn commit_position(&self) -> Result<(u64, i64), ProjectionError> {
        let transaction = self
            .transaction_id
            .parse()
            .map_err(|_| self.unreadable("transaction id is not a number".into()))?;
        Ok((transaction, self.global_position))
    }

    /// The trace-context fields the command that stored this event left in its metadata.
    pub fn trace_context(&self) -> impl Iterator<Item = (&str, &str)> {
        self.metadata
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(key, _)| outreach_telemetry::is_trace_field(key))
            .filter_map(|(key, value)| Some((key.as_str(), value.as_str()?)))
    }

    /// The error for an event that cannot be read, naming the event by its place, not content.
    pub fn unreadable(&self, reason: String) -> ProjectionError {
        ProjectionError::UnreadableEvent {
            event: format!(
                "{}/{}#{} ({} v{})",
                self.aggregate_type,
                self.aggregate_id,
                self.sequence,
                self.event_type,
                self.event_version
            ),
            reason,
        }
    }
}
