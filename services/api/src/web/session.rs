//! Dashboard sessions: kept in PostgreSQL (`dashboard_sessions`), found by the SHA-256 of a
//! random id the browser holds in an HttpOnly, SameSite cookie. Each request re-checks the
//! session's access token with the API's [`Authenticator`], so a page lets in exactly whom a
//! bearer token would, and the session ends with the token.
//!
//! The token is kept sealed (AES-256-GCM) under a key derived from the cookie's value, which
//! only the browser holds: the table (a dump of it, with or without the service's
//! configuration) holds no token anyone can use, and every instance of the service opens it
//! with the cookie alone.
//!
//! [`Authenticator`]: outreach_auth::Authenticator

use std::marker::PhantomData;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method};
use chrono::{DateTime, Utc};
use outreach_auth::sign_in::random_secret;
use ring::digest::{digest, SHA256};
use ring::rand::{SecureRandom, SystemRandom};
use ring::{aead, hkdf};

use super::view::Nav;
use super::{PageError, WebState};
use crate::access::{Caller, Permission};
use crate::error::ApiError;

pub(crate) const SESSION_COOKIE: &str = "po_session";
pub(crate) const SIGN_IN_COOKIE: &str = "po_sign_in";

/// A caller signed in to the dashboard who holds permission `P`.
pub(crate) struct SignedIn<P> {
    pub caller: Caller,
    /// Every form of the session carries it; [`SignedIn::check_csrf`] compares.
    pub csrf: String,
    _permission: PhantomData<P>,
}

impl<P> SignedIn<P> {
    /// The navigation of the caller's role, `current` marked.
    pub(crate) fn nav(&self, current: &str) -> Nav {
        Nav::new(&self.caller, &self.csrf, current)
    }

    /// Refuses a form (its body as sent) that does not carry this session's CSRF token, once.
    pub(crate) fn check_form(&self, body: &[u8]) -> Result<(), ApiError> {
        self.check_csrf(super::forms::csrf(body).as_deref())
    }

    /// Refuses a form that does not carry this session's CSRF token.
    fn check_csrf(&self, sent: Option<&str>) -> Result<(), ApiError> {
        match sent {
            Some(sent) if constant_time_eq(sent.as_bytes(), self.csrf.as_bytes()) => Ok(()),
            _ => Err(ApiError::CsrfRefused),
        }
    }
}

impl<P: Permission> FromRequestParts<WebState> for SignedIn<P> {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &WebState) -> Result<Self, PageError> {
        // After signing in, a page asked for comes back; a form sent comes back to the start.
        // The path as the browser asked for it, `/dashboard` and all (nesting strips it).
        let return_to = (parts.method == Method::GET).then(|| {
            parts
                .extensions
                .get::<axum::extract::OriginalUri>()
                .map_or_else(|| parts.uri.path(), |original| original.path())
                .to_owned()
        });
        let Some(id) = cookie(&parts.headers, SESSION_COOKIE) else {
            return Err(PageError::sign_in(return_to));
        };
        let found: Option<(Vec<u8>, String)> = sqlx::query_as(
            "SELECT sealed_token, csrf_token FROM dashboard_sessions
             WHERE session_hash = $1 AND expires_at > now()",
        )
        .bind(fingerprint(&id))
        .fetch_optional(&state.api.pool)
        .await
        .map_err(ApiError::from)?;
        let Some((sealed, csrf)) = found else {
            return Err(PageError::sign_in(return_to));
        };
        let Some(token) = open(&id, sealed) else {
            end(&state.api.pool, &id).await?;
            return Err(PageError::sign_in(return_to));
        };
        let caller = match state.api.auth.authenticate(&token).await {
            Ok(caller) => Caller(caller),
            Err(error) => {
                // Expired, or the provider no longer vouches for it: the session is over.
                tracing::info!(%error, "a dashboard session's token no longer checks out");
                end(&state.api.pool, &id).await?;
                return Err(PageError::sign_in(return_to));
            }
        };
        let signed_in = SignedIn {
            caller,
            csrf,
            _permission: PhantomData,
        };
        if signed_in.caller.0.has_any(P::ROLES) {
            Ok(signed_in)
        } else {
            let nav = signed_in.nav("");
            Err(PageError::from(ApiError::Forbidden).with_nav(nav))
        }
    }
}

/// Starts a session for a caller whose token checked out; returns the cookie's value.
pub(crate) async fn start(
    pool: &sqlx::PgPool,
    access_token: &str,
    expires_at: DateTime<Utc>,
) -> Result<String, ApiError> {
    // The sessions and sign-ins nobody can use any more go first.
    sqlx::query("DELETE FROM dashboard_sessions WHERE expires_at < now()")
        .execute(pool)
        .await?;
    sqlx::query("DELETE FROM dashboard_sign_ins WHERE expires_at < now()")
        .execute(pool)
        .await?;
    let id = random_secret();
    sqlx::query(
        "INSERT INTO dashboard_sessions (session_hash, sealed_token, csrf_token, expires_at)
         VALUES ($1, $2, $3, $4)",
    )
    .bind(fingerprint(&id))
    .bind(seal(&id, access_token))
    .bind(random_secret())
    .bind(expires_at)
    .execute(pool)
    .await?;
    Ok(id)
}

/// Ends the session the browser's cookie names, if any.
pub(crate) async fn end(pool: &sqlx::PgPool, id: &str) -> Result<(), ApiError> {
    sqlx::query("DELETE FROM dashboard_sessions WHERE session_hash = $1")
        .bind(fingerprint(id))
        .execute(pool)
        .await?;
    Ok(())
}

/// The key a session's token is sealed under: HKDF-SHA256 of the cookie's value (32 random
/// bytes), a key of its own for each session that only the browser can bring back.
fn sealing_key(session_id: &str) -> aead::LessSafeKey {
    let salt = hkdf::Salt::new(hkdf::HKDF_SHA256, b"peer-outreach dashboard session");
    let key: aead::UnboundKey = salt
        .extract(session_id.as_bytes())
        .expand(&[b"access token"], &aead::AES_256_GCM)
        .expect("AES-256 asks HKDF-SHA256 for 32 bytes, well within its limit")
        .into();
    aead::LessSafeKey::new(key)
}

/// The token sealed for the session `session_id`: a random nonce, then the ciphertext and tag.
fn seal(session_id: &str, token: &str) -> Vec<u8> {
    let mut nonce = [0u8; aead::NONCE_LEN];
    SystemRandom::new()
        .fill(&mut nonce)
        .expect("the operating system's random number generator works");
    let mut sealed = token.as_bytes().to_vec();
    sealing_key(session_id)
        .seal_in_place_append_tag(
            aead::Nonce::assume_unique_for_key(nonce),
            aead::Aad::empty(),
            &mut sealed,
        )
        .expect("a token is far shorter than AES-GCM's limit");
    [nonce.as_slice(), &sealed].concat()
}

/// The token sealed for `session_id`, unless it was sealed for another session or changed.
fn open(session_id: &str, sealed: Vec<u8>) -> Option<String> {
    if sealed.len() < aead::NONCE_LEN {
        return None;
    }
    let (nonce, ciphertext) = sealed.split_at(aead::NONCE_LEN);
    let nonce = aead::Nonce::try_assume_unique_for_key(nonce).ok()?;
    let mut in_out = ciphertext.to_vec();
    let token = sealing_key(session_id)
        .open_in_place(nonce, aead::Aad::empty(), &mut in_out)
        .ok()?;
    String::from_utf8(token.to_vec()).ok()
}

/// What the tables keep instead of a cookie's value.
pub(crate) fn fingerprint(secret: &str) -> Vec<u8> {
    digest(&SHA256, secret.as_bytes()).as_ref().to_vec()
}

/// The value of cookie `name` in the request.
pub(crate) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
        .filter(|value| !value.is_empty())
}

/// A `Set-Cookie` value: HttpOnly and SameSite=Lax always (Lax, so that the identity provider's
/// redirect back, a top-level navigation from another site, carries the sign-in cookie), Secure
/// when the dashboard is served over HTTPS. `max_age` 0 deletes the cookie.
pub(crate) fn set_cookie(
    name: &str,
    value: &str,
    path: &str,
    max_age_seconds: i64,
    secure: bool,
) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path={path}; Max-Age={max_age_seconds}; HttpOnly; SameSite=Lax{secure}"
    ))
    .expect("cookie names and base64url values are valid header values")
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_by_name_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("theme=dark; po_session=abc-123; other=1"),
        );
        assert_eq!(cookie(&headers, SESSION_COOKIE).as_deref(), Some("abc-123"));
        assert_eq!(cookie(&headers, SIGN_IN_COOKIE), None);
        headers.insert(header::COOKIE, HeaderValue::from_static("po_session="));
        assert_eq!(cookie(&headers, SESSION_COOKIE), None);
    }

    #[test]
    fn session_cookies_are_http_only_and_same_site_and_secure_over_https() {
        let plain = set_cookie(SESSION_COOKIE, "v", "/dashboard", 60, false);
        assert_eq!(
            plain,
            "po_session=v; Path=/dashboard; Max-Age=60; HttpOnly; SameSite=Lax"
        );
        let secure = set_cookie(SESSION_COOKIE, "v", "/dashboard", 60, true);
        assert!(secure.to_str().unwrap().ends_with("; Secure"));
    }

    #[test]
    fn a_sealed_token_opens_only_with_its_own_sessions_cookie() {
        let (id, other) = (random_secret(), random_secret());
        let sealed = seal(&id, "eyJhbGciOiJFUzI1NiJ9.the-token.signature");

        assert!(!String::from_utf8_lossy(&sealed).contains("the-token"));
        assert_eq!(
            open(&id, sealed.clone()).as_deref(),
            Some("eyJhbGciOiJFUzI1NiJ9.the-token.signature")
        );
        assert_eq!(open(&other, sealed.clone()), None);
        let mut changed = sealed;
        changed[20] ^= 1;
        assert_eq!(open(&id, changed), None);
        assert_eq!(open(&id, vec![1, 2, 3]), None);
    }

    #[test]
    fn only_the_exact_token_compares_equal() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(!constant_time_eq(b"", b"a"));
    }
}
