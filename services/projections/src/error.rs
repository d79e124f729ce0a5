#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// A sealed personal part could not be opened (the key store, or a corrupt envelope).
    #[error("personal data: {0}")]
    Privacy(#[from] outreach_privacy::PrivacyError),
    /// A stored event this projection cannot read: a bug or a missing upcaster, never skipped.
    #[error("event {event} cannot be read: {reason}")]
    UnreadableEvent { event: String, reason: String },
    /// A read model this projection reads has not caught up with the event yet: the batch is
    /// retried (after a backoff) rather than acted on with what is missing.
    #[error("not caught up yet: {0}")]
    NotCaughtUp(String),
}
