/// What can go wrong sealing or unsealing personal data. No variant carries any of the data
/// itself: errors are logged, and a log line must never hold a name or an address.
#[derive(Debug, thiserror::Error)]
pub enum PrivacyError {
    #[error("data key store: {0}")]
    Database(#[from] sqlx::Error),
    /// The envelope is not one this crate writes; names the part that is wrong, not the content.
    #[error("a sealed envelope is malformed: {0}")]
    Malformed(&'static str),
    /// Authentication failed: the envelope was altered, or sealed under another key.
    #[error("a sealed envelope failed authentication (altered, or sealed under another key)")]
    Tampered,
    /// A stored key is not 32 bytes: the table was written by something other than this crate.
    #[error("data key {0} is not an AES-256 key")]
    BadKey(uuid::Uuid),
    /// The operating system's random generator or the cipher failed while sealing.
    #[error("personal data could not be sealed")]
    Sealing,
}
