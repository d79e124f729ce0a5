use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

use crate::key_set::KeySet;
use crate::verified_tokens::VerifiedTokens;
use crate::{AuthError, AuthSettings, Caller};

/// Checks bearer tokens against one issuer.
pub struct Authenticator {
    settings: AuthSettings,
    keys: Arc<KeySet>,
    verified: VerifiedTokens,
}

impl Authenticator {
    /// Loads the issuer's keys as the settings say (a URL, discovery, or a development
    /// issuer's `file:`), after refusing settings that would trust keys by accident (see
    /// [`AuthSettings::check`]); fetches them again every `jwks_refresh_seconds` from then on.
    pub async fn connect(settings: AuthSettings) -> Result<Self, AuthError> {
        settings.check()?;
        let keys = KeySet::load(&settings).await?;
        keys.refresh_every(Duration::from_secs(settings.jwks_refresh_seconds.max(1)));
        Ok(Authenticator {
            settings,
            keys,
            verified: VerifiedTokens::new(),
        })
    }

    /// With keys the caller already has (tests, and a development issuer in-process).
    pub fn with_keys(settings: AuthSettings, keys: JwkSet) -> Self {
        Authenticator {
            settings,
            keys: KeySet::fixed(keys),
            verified: VerifiedTokens::new(),
        }
    }

    pub fn settings(&self) -> &AuthSettings {
        &self.settings
    }

    /// The caller a bearer token stands for, if every check passes: a known key of the issuer
    /// signed it with RS256 or ES256, it names our issuer and audience, it is within its
    /// validity, and it grants at least one of the program's roles. A token that passed once
    /// passes again without a second signature check while it is in date and the issuer's keys
    /// have not changed.
    ///
    /// It must be an access token: one whose header names another `typ` than `JWT` or
    /// `at+jwt` (RFC 9068), or that carries a `nonce` (an ID token), is refused, whatever its
    /// audience.
    pub async fn authenticate(&self, token: &str) -> Result<Caller, AuthError> {
        let now = unix_now();
        // Read before the check: a change of keys during it leaves the entry stale at once.
        let generation = self.keys.generation();
        if let Some(caller) = self.verified.get(token, now, generation) {
            return Ok(caller);
        }
        let (_, _, typ) = header_of(token)?;
        if typ.is_some_and(|typ| !is_access_token_type(&typ)) {
            return Err(AuthError::NotAnAccessToken);
        }
        let claims = self.verified_claims(token, &self.settings.audience).await?;
        if claims.contains_key("nonce") {
            return Err(AuthError::NotAnAccessToken);
        }
        let caller = self.caller(&claims)?;
        let valid_until = caller
            .expires_at
            .saturating_add(self.settings.leeway_seconds as i64);
        self.verified
            .insert(token, &caller, valid_until, now, generation);
        Ok(caller)
    }

    /// Checks the ID token a sign-in returned (OpenID Connect Core 1.0, section 3.1.3.7): signed
    /// by the issuer's keys, for our issuer, meant for `client_id`, in date, carrying the
    /// `nonce` this sign-in sent (so it cannot be replayed into another), and about the same
    /// person as the access token that came with it.
    pub async fn check_id_token(
        &self,
        id_token: &str,
        client_id: &str,
        nonce: &str,
        subject: &str,
    ) -> Result<(), AuthError> {
        let claims = self.verified_claims(id_token, client_id).await?;
        if claims.get("nonce").and_then(Value::as_str) != Some(nonce) {
            return Err(AuthError::NonceMismatch);
        }
        if claims.get("sub").and_then(Value::as_str) != Some(subject) {
            return Err(AuthError::SubjectMismatch);
        }
        Ok(())
    }

    /// The claims of a JWT whose signature, issuer, audience and dates check out.
    async fn verified_claims(
        &self,
        token: &str,
        audience: &str,
    ) -> Result<Map<String, Value>, AuthError> {
        let (algorithm, kid, _) = header_of(token)?;
        let jwk = self
            .keys
            .find(kid.as_deref())
            .await
            .ok_or(AuthError::UnknownKey)?;
        // The key decides the algorithm as much as the token does: an RSA key never verifies
        // an ES256 token, nor a P-384 key an ES256 one.
        let fits = match (&jwk.algorithm, algorithm) {
            (AlgorithmParameters::RSA(_), Algorithm::RS256) => true,
            (AlgorithmParameters::EllipticCurve(ec), Algorithm::ES256) => {
                ec.curve == EllipticCurve::P256
            }
            _ => false,
        };
        if !fits {
            return Err(AuthError::UnknownKey);
        }
        let key = DecodingKey::from_jwk(&jwk).map_err(|_| AuthError::UnknownKey)?;
        let mut validation = Validation::new(algorithm);
        validation.set_issuer(&[&self.settings.issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = self.settings.leeway_seconds;
        Ok(
            jsonwebtoken::decode::<Map<String, Value>>(token, &key, &validation)
                .map_err(|e| refusal(e.kind()))?
                .claims,
        )
    }

    fn caller(&self, claims: &Map<String, Value>) -> Result<Caller, AuthError> {
        let subject = claims
            .get("sub")
            .and_then(Value::as_str)
            .filter(|sub| !sub.is_empty())
            .ok_or_else(|| AuthError::MissingClaim("sub".into()))?
            .to_owned();
        let roles: BTreeSet<_> = role_names(claim_at(claims, &self.settings.roles_claim))
            .filter_map(|name| self.settings.role_names.role_named(name))
            .collect();
        if roles.is_empty() {
            return Err(AuthError::NoRole);
        }
        let staff_id = claim_at(claims, &self.settings.staff_id_claim)
            .and_then(Value::as_str)
            .filter(|id| !id.is_empty())
            .map(str::to_owned);
        // Required and checked by the validation above.
        let expires_at = claims
            .get("exp")
            .and_then(Value::as_i64)
            .unwrap_or_default();
        Ok(Caller {
            subject,
            staff_id,
            roles,
            expires_at,
        })
    }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// The `typ` values of an access token: `at+jwt` (RFC 9068, also as a media type), or plain
/// `JWT` as most providers write it.
fn is_access_token_type(typ: &str) -> bool {
    ["jwt", "at+jwt", "application/at+jwt"]
        .iter()
        .any(|accepted| typ.eq_ignore_ascii_case(accepted))
}

/// The token's algorithm, key id and type, read before anything else so that `alg: none` and
/// symmetric algorithms are refused by name, not by a parser's accident.
fn header_of(token: &str) -> Result<(Algorithm, Option<String>, Option<String>), AuthError> {
    let encoded = token.split('.').next().ok_or(AuthError::Malformed)?;
    let bytes = URL_SAFE_NO_PAD
        .decode(encoded)
        .map_err(|_| AuthError::Malformed)?;
    let header: Map<String, Value> =
        serde_json::from_slice(&bytes).map_err(|_| AuthError::Malformed)?;
    let algorithm = match header.get("alg").and_then(Value::as_str) {
        Some("RS256") => Algorithm::RS256,
        Some("ES256") => Algorithm::ES256,
        Some(_) => return Err(AuthError::AlgorithmNotAccepted),
        None => return Err(AuthError::Malformed),
    };
    let text = |name: &str| header.get(name).and_then(Value::as_str).map(str::to_owned);
    Ok((algorithm, text("kid"), text("typ")))
}

fn refusal(kind: &ErrorKind) -> AuthError {
    match kind {
        ErrorKind::InvalidSignature => AuthError::BadSignature,
        ErrorKind::ExpiredSignature => AuthError::Expired,
        ErrorKind::ImmatureSignature => AuthError::NotYetValid,
        ErrorKind::InvalidIssuer => AuthError::WrongIssuer,
        ErrorKind::InvalidAudience => AuthError::WrongAudience,
        ErrorKind::MissingRequiredClaim(claim) => AuthError::MissingClaim(claim.clone()),
        ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
            AuthError::AlgorithmNotAccepted
        }
        ErrorKind::InvalidEcdsaKey | ErrorKind::InvalidRsaKey(_) | ErrorKind::InvalidKeyFormat => {
            AuthError::UnknownKey
        }
        _ => AuthError::Malformed,
    }
}

/// The value at a dotted path, e.g. `realm_access.roles`.
fn claim_at<'a>(claims: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    let mut parts = path.split('.');
    let mut value = claims.get(parts.next()?)?;
    for part in parts {
        value = value.get(part)?;
    }
    Some(value)
}

/// A roles claim is a list of names, or one name, or a space-separated string (as `scope` is).
fn role_names(claim: Option<&Value>) -> Box<dyn Iterator<Item = &str> + '_> {
    match claim {
        Some(Value::Array(names)) => Box::new(names.iter().filter_map(Value::as_str)),
        Some(Value::String(names)) => Box::new(names.split_whitespace()),
        _ => Box::new(std::iter::empty()),
    }
}
