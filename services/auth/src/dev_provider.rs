//! The development issuer served as an OpenID provider, so that the dashboard's sign-in runs
//! locally (and in the browser tests) through the same authorization code flow with PKCE as
//! against the hospital's provider: discovery, the key set, an authorize page where a developer
//! picks a role and a staff id, and a token endpoint that checks the PKCE verifier and issues
//! the same kind of signed token the API already accepts.
//!
//! Development only, and it says so on its page: it signs anyone in as anyone. It sends
//! browsers back to loopback addresses only, so it cannot be used to sign anyone in to
//! anything but a local service.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Form, Json, Router};
use serde::Deserialize;
use serde_json::json;

use crate::sign_in::{is_pkce_verifier, pkce_challenge, random_secret};
use crate::{AuthError, DevIssuer, Role, TokenRequest};

/// A code is exchanged within seconds; a minute allows for a slow machine.
const CODE_LIFETIME: Duration = Duration::from_secs(60);

/// The provider: the issuer's key pair behind HTTP endpoints.
pub struct DevProvider {
    issuer: Arc<DevIssuer>,
    /// Where the provider is reached, e.g. `http://127.0.0.1:8090`.
    base_url: String,
    /// How long the tokens it issues are valid.
    token_lifetime: Duration,
    /// Codes handed out and not yet exchanged, by code.
    grants: Mutex<HashMap<String, Grant>>,
}

/// What a code stands for, until it is exchanged (once) or expires.
struct Grant {
    client_id: String,
    redirect_uri: String,
    code_challenge: String,
    nonce: Option<String>,
    subject: String,
    staff_id: Option<String>,
    role: Role,
    issued: Instant,
}

/// The parameters of an authorization request (OpenID Connect Core 1.0, section 3.1.2.1).
#[derive(Debug, Deserialize)]
struct AuthorizationRequest {
    response_type: String,
    client_id: String,
    redirect_uri: String,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    nonce: Option<String>,
    #[serde(default)]
    code_challenge: Option<String>,
    #[serde(default)]
    code_challenge_method: Option<String>,
    #[serde(default)]
    scope: Option<String>,
}

/// The authorize page's form: the request's parameters again, and who to sign in as.
#[derive(Debug, Deserialize)]
struct SignInAs {
    #[serde(flatten)]
    request: AuthorizationRequest,
    role: String,
    #[serde(default)]
    staff_id: String,
}

#[derive(Debug, Deserialize)]
struct TokenForm {
    grant_type: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    redirect_uri: String,
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    code_verifier: String,
}

impl DevProvider {
    pub fn new(issuer: Arc<DevIssuer>, base_url: impl Into<String>) -> Self {
        DevProvider {
            issuer,
            base_url: base_url.into().trim_end_matches('/').to_owned(),
            token_lifetime: Duration::from_secs(8 * 3600),
            grants: Mutex::new(HashMap::new()),
        }
    }

    /// Tokens valid for `lifetime` instead of eight hours (a short one ends sessions soon).
    pub fn token_lifetime(mut self, lifetime: Duration) -> Self {
        self.token_lifetime = lifetime;
        self
    }

    pub fn authorization_endpoint(&self) -> String {
        format!("{}/authorize", self.base_url)
    }

    pub fn token_endpoint(&self) -> String {
        format!("{}/token", self.base_url)
    }

    pub fn jwks_uri(&self) -> String {
        format!("{}/jwks.json", self.base_url)
    }

    pub fn router(self: Arc<Self>) -> Router {
        Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/jwks.json", get(jwks))
            .route("/authorize", get(authorize_page).post(authorize))
            .route("/token", axum::routing::post(token))
            .with_state(self)
    }

    /// Refuses an address other than this machine's loopback: the provider signs anyone in as
    /// anyone, so nobody but the developer at this machine may reach it.
    pub fn check_listen_address(addr: std::net::SocketAddr) -> Result<(), AuthError> {
        if addr.ip().is_loopback() {
            Ok(())
        } else {
            Err(AuthError::DevIssuer(format!(
                "the development issuer signs anyone in as anyone, so it serves on a loopback \
                 address only (127.0.0.1 or ::1), not {addr}"
            )))
        }
    }

    /// Serves on `listener`, which must be on loopback, until `shutdown` resolves.
    pub async fn serve(
        self: Arc<Self>,
        listener: tokio::net::TcpListener,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<(), AuthError> {
        let addr = listener
            .local_addr()
            .map_err(|e| AuthError::DevIssuer(format!("serving: {e}")))?;
        Self::check_listen_address(addr)?;
        axum::serve(listener, self.router())
            .with_graceful_shutdown(shutdown)
            .await
            .map_err(|e| AuthError::DevIssuer(format!("serving: {e}")))
    }

    fn grant(&self, code: &str) -> Option<Grant> {
        let mut grants = self
            .grants
            .lock()
            .expect("the grants lock is never poisoned");
        grants.retain(|_, grant| grant.issued.elapsed() < CODE_LIFETIME);
        // A code is spent by its first exchange, whether that succeeds or not (RFC 6749,
        // section 4.1.2): a wrong verifier cannot be retried against it.
        grants.remove(code)
    }
}

async fn discovery(State(provider): State<Arc<DevProvider>>) -> Json<serde_json::Value> {
    Json(json!({
        "issuer": provider.issuer.issuer(),
        "authorization_endpoint": provider.authorization_endpoint(),
        "token_endpoint": provider.token_endpoint(),
        "jwks_uri": provider.jwks_uri(),
        "response_types_supported": ["code"],
        "grant_types_supported": ["authorization_code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["none"],
        "scopes_supported": ["openid"],
    }))
}

async fn jwks(State(provider): State<Arc<DevProvider>>) -> Json<serde_json::Value> {
    Json(serde_json::to_value(provider.issuer.jwks()).expect("a key set serializes"))
}

/// Why an authorization request is refused; shown on the page, never sent to a redirect URI
/// that has not been checked.
fn check(request: &AuthorizationRequest) -> Result<(), &'static str> {
    if request.response_type != "code" {
        return Err("only the authorization code flow is supported (response_type=code)");
    }
    if request.client_id.is_empty() {
        return Err("client_id is missing");
    }
    let loopback = reqwest::Url::parse(&request.redirect_uri).is_ok_and(|url| {
        matches!(url.scheme(), "http" | "https")
            && matches!(
                url.host_str(),
                Some("127.0.0.1" | "localhost" | "[::1]" | "::1")
            )
    });
    if !loopback {
        return Err("the development issuer sends browsers back to loopback addresses only");
    }
    if request.code_challenge_method.as_deref() != Some("S256")
        || request.code_challenge.as_deref().is_none_or(str::is_empty)
    {
        return Err("PKCE is required: code_challenge with code_challenge_method=S256");
    }
    if !request
        .scope
        .as_deref()
        .is_some_and(|scope| scope.split(' ').any(|s| s == "openid"))
    {
        return Err("the scope must include openid");
    }
    Ok(())
}

async fn authorize_page(
    Query(request): Query<AuthorizationRequest>,
) -> Result<Html<String>, Response> {
    check(&request).map_err(refused_page)?;
    let hidden = |name: &str, value: &str| {
        format!(
            r#"<input type="hidden" name="{name}" value="{}">"#,
            escape(value)
        )
    };
    let fields: String = [
        ("response_type", Some(request.response_type.as_str())),
        ("client_id", Some(request.client_id.as_str())),
        ("redirect_uri", Some(request.redirect_uri.as_str())),
        ("state", request.state.as_deref()),
        ("nonce", request.nonce.as_deref()),
        ("code_challenge", request.code_challenge.as_deref()),
        (
            "code_challenge_method",
            request.code_challenge_method.as_deref(),
        ),
        ("scope", request.scope.as_deref()),
    ]
    .into_iter()
    .filter_map(|(name, value)| Some(hidden(name, value?)))
    .collect();
    let options: String = Role::ALL
        .iter()
        .map(|role| format!(r#"<option value="{0}">{0}</option>"#, role.code()))
        .collect();
    Ok(Html(format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Development sign-in: peer-outreach</title>
<style>
body {{ font: 1rem/1.5 system-ui, sans-serif; max-width: 34rem; margin: 2rem auto; padding: 0 1rem; color: #1a1a1a; }}
.warning {{ border: 3px solid #8a1c00; background: #fff4e5; padding: 0.75rem 1rem; }}
label {{ display: block; margin-top: 1rem; font-weight: 600; }}
select, input {{ font: inherit; padding: 0.4rem; width: 100%; box-sizing: border-box; }}
button {{ font: inherit; margin-top: 1.25rem; padding: 0.5rem 1.25rem; background: #0b4f8a; color: #fff; border: 0; }}
:focus-visible {{ outline: 3px solid #c05600; outline-offset: 2px; }}
</style>
</head>
<body>
<main>
<h1>Development sign-in</h1>
<p class="warning"><strong>Development only.</strong> This is peer-outreach's development issuer, not the
hospital's identity provider: it signs anyone in with any role. Never trust it in production.</p>
<form method="post" action="/authorize">
{fields}
<label for="role">Role</label>
<select id="role" name="role">{options}</select>
<label for="staff_id">Staff id</label>
<input id="staff_id" name="staff_id" autocomplete="off" maxlength="64" aria-describedby="staff_id_help">
<p id="staff_id_help">A peer supporter's cases and a member's own record are found by it, e.g. E20001.</p>
<button type="submit">Sign in</button>
</form>
</main>
</body>
</html>"#
    )))
}

async fn authorize(
    State(provider): State<Arc<DevProvider>>,
    Form(form): Form<SignInAs>,
) -> Result<Redirect, Response> {
    check(&form.request).map_err(refused_page)?;
    let role: Role = form
        .role
        .parse()
        .map_err(|_| refused_page("choose one of the program's roles"))?;
    let staff_id = Some(form.staff_id.trim().to_owned()).filter(|id| !id.is_empty());
    let subject = match &staff_id {
        Some(staff_id) => format!("dev|{}|{staff_id}", role.code()),
        None => format!("dev|{}", role.code()),
    };
    let code = random_secret();
    let request = form.request;
    let mut redirect = reqwest::Url::parse(&request.redirect_uri)
        .map_err(|_| refused_page("the redirect URI is not a URL"))?;
    {
        let mut query = redirect.query_pairs_mut();
        query.append_pair("code", &code);
        if let Some(state) = &request.state {
            query.append_pair("state", state);
        }
    }
    provider
        .grants
        .lock()
        .expect("the grants lock is never poisoned")
        .insert(
            code,
            Grant {
                client_id: request.client_id,
                redirect_uri: request.redirect_uri,
                code_challenge: request.code_challenge.unwrap_or_default(),
                nonce: request.nonce,
                subject,
                staff_id,
                role,
                issued: Instant::now(),
            },
        );
    Ok(Redirect::to(redirect.as_str()))
}

async fn token(State(provider): State<Arc<DevProvider>>, Form(form): Form<TokenForm>) -> Response {
    if form.grant_type != "authorization_code" {
        return token_error(
            "unsupported_grant_type",
            "only authorization_code is supported",
        );
    }
    let Some(grant) = provider.grant(&form.code) else {
        return token_error("invalid_grant", "the code is unknown, spent or expired");
    };
    if grant.client_id != form.client_id || grant.redirect_uri != form.redirect_uri {
        return token_error(
            "invalid_grant",
            "the code was issued to another client or redirect URI",
        );
    }
    if !is_pkce_verifier(&form.code_verifier)
        || pkce_challenge(&form.code_verifier) != grant.code_challenge
    {
        return token_error(
            "invalid_grant",
            "the code verifier does not match the code challenge",
        );
    }
    let lifetime = i64::try_from(provider.token_lifetime.as_secs()).unwrap_or(i64::MAX);
    let mut request = TokenRequest::new(grant.subject.clone(), grant.role);
    request.staff_id = grant.staff_id;
    request.expires_in = lifetime;
    let minted = provider.issuer.mint(&request).and_then(|access_token| {
        let id_token = provider.issuer.mint_id_token(
            &grant.subject,
            &grant.client_id,
            grant.nonce.as_deref().unwrap_or_default(),
            lifetime,
        )?;
        Ok((access_token, id_token))
    });
    match minted {
        Ok((access_token, id_token)) => (
            [(header::CACHE_CONTROL, "no-store")],
            Json(json!({
                "access_token": access_token,
                "id_token": id_token,
                "token_type": "Bearer",
                "expires_in": lifetime,
            })),
        )
            .into_response(),
        Err(error) => {
            tracing::error!(%error, "the development issuer could not sign a token");
            (StatusCode::INTERNAL_SERVER_ERROR, "signing failed").into_response()
        }
    }
}

fn token_error(error: &str, description: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        [(header::CACHE_CONTROL, "no-store")],
        Json(json!({"error": error, "error_description": description})),
    )
        .into_response()
}

fn refused_page(reason: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Html(format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Sign-in refused</title></head>\
             <body><main><h1>Sign-in refused</h1><p>{}</p></main></body></html>",
            escape(reason)
        )),
    )
        .into_response()
}

/// Text for an HTML attribute or element.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
