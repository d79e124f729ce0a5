/// Why a caller was not let in, or why the issuer's keys could not be had.
///
/// The messages name the failed check, never a token or a claim's value.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("no bearer token")]
    MissingToken,
    #[error("the token is not a well-formed JWT")]
    Malformed,
    #[error("the token's algorithm is not accepted (RS256 and ES256 are)")]
    AlgorithmNotAccepted,
    #[error("the token is signed by a key the issuer does not publish")]
    UnknownKey,
    #[error("the token's signature does not verify")]
    BadSignature,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token is from another issuer")]
    WrongIssuer,
    #[error("the token is meant for another audience")]
    WrongAudience,
    #[error("the token lacks the required claim `{0}`")]
    MissingClaim(String),
    #[error("the token grants no role of the peer support program")]
    NoRole,
    /// An ID token (it carries a `nonce`) or another kind of JWT than an access token: proof
    /// that someone signed in somewhere, not a grant to call this API.
    #[error(
        "the token is not an access token (it carries a nonce, or its typ is not JWT or at+jwt)"
    )]
    NotAnAccessToken,
    /// Settings that would trust keys by accident; the message names the setting.
    #[error("{0}")]
    Settings(String),
    #[error("the issuer's keys could not be loaded from {uri}: {reason}")]
    KeySet { uri: String, reason: String },
    #[error("the ID token does not carry the nonce this sign-in sent")]
    NonceMismatch,
    #[error("the ID token is about someone else than the access token")]
    SubjectMismatch,
    /// The sign-in could not be completed with the identity provider: the reason names the
    /// step (and the provider's error code), never a code, token or secret.
    #[error("sign-in: {0}")]
    SignIn(String),
    #[error("development issuer: {0}")]
    DevIssuer(String),
}

impl AuthError {
    pub(crate) fn key_set(uri: &str, reason: impl ToString) -> Self {
        AuthError::KeySet {
            uri: uri.to_owned(),
            reason: reason.to_string(),
        }
    }
}
