//! Signing in and out: the authorization code flow with PKCE against the identity provider,
//! `state` bound to the browser by a short-lived cookie, the ID token's `nonce` checked, and
//! the access token checked by the same [`Authenticator`] as a bearer token before a session
//! starts.
//!
//! [`Authenticator`]: outreach_auth::Authenticator

use askama::Template;
use axum::body::Bytes;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use chrono::{DateTime, Duration, Utc};
use outreach_auth::sign_in::random_secret;
use outreach_auth::AuthError;
use serde::Deserialize;

use super::session::{self, cookie, fingerprint, set_cookie, SESSION_COOKIE, SIGN_IN_COOKIE};
use super::view::Nav;
use super::{form_routes, render, Anyone, PageError, SignedIn, WebState};
use crate::error::ApiError;

pub(crate) fn routes() -> Router<WebState> {
    Router::new()
        .route("/sign-in", get(sign_in))
        .route("/sign-in/callback", get(callback))
        .route(form_routes::SIGN_OUT, post(sign_out))
        .route("/signed-out", get(signed_out))
}

/// How long the provider may take to send the browser back.
const SIGN_IN_MINUTES: i64 = 10;

/// Sign-ins under way from one client address, at most: a browser needs one or two, a few
/// people behind one address a few more.
const SIGN_INS_PER_CLIENT: i64 = 20;

#[derive(Deserialize)]
struct SignInQuery {
    #[serde(default)]
    return_to: Option<String>,
}

/// A page of the dashboard to come back to; anything else (another site, a path outside the
/// dashboard) is ignored, so the sign-in cannot be made into an open redirect.
fn page_to_return_to(path: Option<&str>) -> &str {
    match path {
        Some(path)
            if (path == "/dashboard" || path.starts_with("/dashboard/"))
                && !path.contains("//")
                && !path.contains('\\')
                && path.is_ascii() =>
        {
            path
        }
        _ => "/dashboard",
    }
}

/// The address a request came from, when the server was started with it (the service is);
/// one shared key otherwise.
fn client_address(extensions: &axum::http::Extensions) -> String {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(address)| address.ip().to_string())
        .unwrap_or_default()
}

/// Starts a sign-in: remembers what the provider must answer with, and sends the browser there.
/// Expired sign-ins go first, and this address's oldest beyond [`SIGN_INS_PER_CLIENT`].
async fn sign_in(
    State(state): State<WebState>,
    Query(query): Query<SignInQuery>,
    request: axum::extract::Request,
) -> Result<Response, PageError> {
    let client = &state.dashboard.sign_in;
    let start = client.begin();
    let attempt = random_secret();
    let address = client_address(request.extensions());
    let mut tx = state.api.pool.begin().await.map_err(ApiError::from)?;
    // One start at a time per address, so the cap holds however many arrive at once. A
    // sign-in under way lost in a crash is only started again, so its commit need not wait
    // for the disk.
    sqlx::query(
        "SELECT set_config('synchronous_commit', 'off', true),
                pg_advisory_xact_lock(hashtextextended('dashboard_sign_ins:' || $1, 0))",
    )
    .bind(&address)
    .execute(&mut *tx)
    .await
    .map_err(ApiError::from)?;
    sqlx::query(
        "DELETE FROM dashboard_sign_ins
          WHERE expires_at <= now()
             OR attempt_hash IN (SELECT attempt_hash FROM dashboard_sign_ins
                                  WHERE client = $1
                                  ORDER BY expires_at DESC
                                 OFFSET $2)",
    )
    .bind(&address)
    .bind(SIGN_INS_PER_CLIENT - 1)
    .execute(&mut *tx)
    .await
    .map_err(ApiError::from)?;
    sqlx::query(
        "INSERT INTO dashboard_sign_ins
             (attempt_hash, state, nonce, code_verifier, return_to, expires_at, client)
         VALUES ($1, $2, $3, $4, $5, now() + make_interval(mins => $6), $7)",
    )
    .bind(fingerprint(&attempt))
    .bind(&start.state)
    .bind(&start.nonce)
    .bind(&start.code_verifier)
    .bind(page_to_return_to(query.return_to.as_deref()))
    .bind(SIGN_IN_MINUTES as i32)
    .bind(&address)
    .execute(&mut *tx)
    .await
    .map_err(ApiError::from)?;
    tx.commit().await.map_err(ApiError::from)?;
    let cookie = set_cookie(
        SIGN_IN_COOKIE,
        &attempt,
        "/dashboard/sign-in",
        SIGN_IN_MINUTES * 60,
        client.served_over_https(),
    );
    Ok((
        [(header::SET_COOKIE, cookie)],
        Redirect::to(&start.authorization_url),
    )
        .into_response())
}

#[derive(Deserialize)]
struct Callback {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    state: Option<String>,
    /// The provider's refusal (`access_denied` and the like), instead of a code.
    #[serde(default)]
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "sign_in_failed.html")]
struct SignInFailed {
    nav: Nav,
    title: String,
    reason: String,
}

/// The provider sent the browser back: check everything, then start a session.
async fn callback(
    State(state): State<WebState>,
    headers: HeaderMap,
    Query(answer): Query<Callback>,
) -> Result<Response, PageError> {
    let secure = state.dashboard.sign_in.served_over_https();
    let forget_attempt = set_cookie(SIGN_IN_COOKIE, "", "/dashboard/sign-in", 0, secure);
    match finish(&state, &headers, answer).await {
        Ok((session_id, expires_at, return_to)) => {
            let max_age = (expires_at - Utc::now()).num_seconds().max(0);
            let session = set_cookie(SESSION_COOKIE, &session_id, "/dashboard", max_age, secure);
            let mut response = Redirect::to(&return_to).into_response();
            let cookies = response.headers_mut();
            cookies.append(header::SET_COOKIE, forget_attempt);
            cookies.append(header::SET_COOKIE, session);
            Ok(response)
        }
        Err(error) => {
            // The reason names the failed check, never a code, token or claim.
            tracing::warn!(%error, "a dashboard sign-in failed");
            let reason = match error {
                SignInError::Auth(AuthError::SignIn(reason)) => reason,
                SignInError::Auth(other) => other.to_string(),
                SignInError::Stale => "the sign-in took too long, or was started in another \
                                       browser or tab; please start again"
                    .to_owned(),
                SignInError::Refused => "the identity provider did not sign you in".to_owned(),
                SignInError::Api(error) => return Err(error.into()),
            };
            let page = SignInFailed {
                nav: Nav::default(),
                title: "Sign-in did not complete".to_owned(),
                reason,
            };
            Ok((
                StatusCode::UNAUTHORIZED,
                [(header::SET_COOKIE, forget_attempt)],
                render(&page)?,
            )
                .into_response())
        }
    }
}

enum SignInError {
    /// No sign-in under way in this browser matches the answer.
    Stale,
    /// The provider answered with an error instead of a code.
    Refused,
    Auth(AuthError),
    Api(ApiError),
}

impl std::fmt::Display for SignInError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SignInError::Stale => f.write_str("no matching sign-in under way in this browser"),
            SignInError::Refused => f.write_str("the provider refused the sign-in"),
            SignInError::Auth(error) => error.fmt(f),
            SignInError::Api(error) => error.fmt(f),
        }
    }
}

/// The session's id, its end, and the page to return to.
async fn finish(
    state: &WebState,
    headers: &HeaderMap,
    answer: Callback,
) -> Result<(String, DateTime<Utc>, String), SignInError> {
    let attempt = cookie(headers, SIGN_IN_COOKIE).ok_or(SignInError::Stale)?;
    // Used once: whatever happens next, this sign-in cannot be answered again.
    let pending = sqlx::query_as::<_, (String, String, String, String, bool)>(
        "DELETE FROM dashboard_sign_ins
         WHERE attempt_hash = $1
         RETURNING state, nonce, code_verifier, return_to, expires_at > now() AS in_time",
    )
    .bind(fingerprint(&attempt))
    .fetch_optional(&state.api.pool)
    .await
    .map_err(|e| SignInError::Api(e.into()))?
    .and_then(|(expected_state, nonce, verifier, return_to, in_time)| {
        in_time.then_some((expected_state, nonce, verifier, return_to))
    });
    let (expected_state, nonce, verifier, return_to) = pending.ok_or(SignInError::Stale)?;
    if answer.state.as_deref() != Some(expected_state.as_str()) {
        return Err(SignInError::Stale);
    }
    if answer.error.is_some() {
        return Err(SignInError::Refused);
    }
    let code = answer.code.ok_or(SignInError::Refused)?;
    let client = &state.dashboard.sign_in;
    let tokens = client
        .exchange(&code, &verifier)
        .await
        .map_err(SignInError::Auth)?;
    let caller = state
        .api
        .auth
        .authenticate(&tokens.access_token)
        .await
        .map_err(SignInError::Auth)?;
    state
        .api
        .auth
        .check_id_token(
            &tokens.id_token,
            client.client_id(),
            &nonce,
            &caller.subject,
        )
        .await
        .map_err(SignInError::Auth)?;
    let expires_at = DateTime::from_timestamp(caller.expires_at, 0)
        .unwrap_or_else(|| Utc::now() + Duration::hours(1));
    let session_id = session::start(&state.api.pool, &tokens.access_token, expires_at)
        .await
        .map_err(SignInError::Api)?;
    Ok((session_id, expires_at, return_to))
}

/// Ends the session here; the provider's own session, if it keeps one, is its own.
async fn sign_out(
    State(state): State<WebState>,
    signed_in: SignedIn<Anyone>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, PageError> {
    signed_in.check_form(&body)?;
    super::forms::only_csrf(&body)?;
    if let Some(id) = cookie(&headers, SESSION_COOKIE) {
        session::end(&state.api.pool, &id).await?;
    }
    let secure = state.dashboard.sign_in.served_over_https();
    Ok((
        [(
            header::SET_COOKIE,
            set_cookie(SESSION_COOKIE, "", "/dashboard", 0, secure),
        )],
        Redirect::to("/dashboard/signed-out"),
    )
        .into_response())
}

#[derive(Template)]
#[template(path = "signed_out.html")]
struct SignedOut {
    nav: Nav,
    title: String,
}

async fn signed_out() -> Result<Html<String>, PageError> {
    render(&SignedOut {
        nav: Nav::default(),
        title: "Signed out".to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_pages_of_the_dashboard_are_returned_to() {
        for good in ["/dashboard/", "/dashboard", "/dashboard/cases/1f0c"] {
            assert_eq!(page_to_return_to(Some(good)), good);
        }
        for bad in [
            "https://attacker.example/",
            "//attacker.example/dashboard/",
            "/dashboard//attacker.example",
            "/dashboard/\\attacker.example",
            "/v1/cases",
            "/dashboardx",
            "",
        ] {
            assert_eq!(page_to_return_to(Some(bad)), "/dashboard", "{bad}");
        }
        assert_eq!(page_to_return_to(None), "/dashboard");
    }
}
