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
    /// No key-encryption key is configured: data keys can be neither wrapped nor unwrapped.
    #[error(
        "no key-encryption key: set privacy.key_encryption_key (or \
         privacy.key_encryption_key_file); data keys are never stored unwrapped"
    )]
    NoKeyEncryptionKey,
    /// The configured key-encryption key is not well formed; says how, never what it is.
    #[error(
        "privacy.key_encryption_key is not a key-encryption key: {0} (want 32 bytes in base64)"
    )]
    BadKeyEncryptionKey(&'static str),
    /// A key is stored wrapped under a key-encryption key other than the configured one.
    #[error(
        "a data key is wrapped under key-encryption key {stored}, but the configured one is \
         {configured}: configure the key-encryption key of that id, or finish `peer-outreach \
         keys rewrap` with it"
    )]
    UnknownKeyEncryptionKey { stored: String, configured: String },
    /// A wrapped key failed authentication under the configured key-encryption key.
    #[error("a wrapped data key failed authentication under the key-encryption key (altered, or copied between rows)")]
    Unwrapping,
    /// Data keys stored before keys were wrapped remain; `peer-outreach migrate` wraps them.
    #[error(
        "{0} data keys are still stored unwrapped: run `peer-outreach migrate` with \
         privacy.key_encryption_key set, which wraps them"
    )]
    UnwrappedKeysRemain(i64),
    /// The operating system's random generator or the cipher failed while sealing.
    #[error("personal data could not be sealed")]
    Sealing,
}
