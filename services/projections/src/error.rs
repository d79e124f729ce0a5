#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// A stored event this projection cannot read: a bug or a missing upcaster, never skipped.
    #[error("event {aggregate_type}/{aggregate_id}#{sequence} ({event_type} v{event_version}) cannot be read: {reason}")]
    UnreadableEvent {
        aggregate_type: String,
        aggregate_id: String,
        sequence: i64,
        event_type: String,
        event_version: String,
        reason: String,
    },
}
