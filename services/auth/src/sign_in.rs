//! Signing in to the dashboard: the service as an OpenID Connect relying party, with the
//! authorization code flow and PKCE (RFC 7636, method S256), a `state` that ties the answer to
//! the browser that asked, and a `nonce` that ties the ID token to this sign-in.
//!
//! The access token the provider returns is then checked by the [`Authenticator`] exactly as a
//! bearer token would be; the ID token only proves that this sign-in produced it.
//!
//! [`Authenticator`]: crate::Authenticator

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::digest::{digest, SHA256};
use ring::rand::{SecureRandom, SystemRandom};
use serde::Deserialize;

use crate::{discovery, provider, AuthError, AuthSettings};

/// `[dashboard.sign_in]`: the dashboard as a client of the hospital's identity provider.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignInSettings {
    /// The client id the provider knows the dashboard by.
    pub client_id: String,
    /// Only for providers that require a confidential client to authenticate at the token
    /// endpoint (sent as `client_secret_post`); PKCE alone is enough for the others. Give it
    /// through the environment, never in a file.
    #[serde(default)]
    pub client_secret: Option<String>,
    /// Where the provider sends the browser back: `{public address}/dashboard/sign-in/callback`,
    /// registered with the provider. `https://` makes the dashboard's cookies `Secure`.
    pub redirect_uri: String,
    /// Unset: from the issuer's discovery document.
    #[serde(default)]
    pub authorization_endpoint: Option<String>,
    /// Unset: from the issuer's discovery document.
    #[serde(default)]
    pub token_endpoint: Option<String>,
    /// Scopes asked for; `openid` is always sent.
    #[serde(default)]
    pub scopes: Vec<String>,
}

/// Written by hand so that the client secret never reaches a log through `{:?}`.
impl fmt::Debug for SignInSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignInSettings")
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("redirect_uri", &self.redirect_uri)
            .field("authorization_endpoint", &self.authorization_endpoint)
            .field("token_endpoint", &self.token_endpoint)
            .field("scopes", &self.scopes)
            .finish()
    }
}

/// The dashboard's side of the provider, endpoints resolved.
pub struct SignInClient {
    client_id: String,
    client_secret: Option<String>,
    redirect_uri: String,
    authorization_endpoint: reqwest::Url,
    token_endpoint: String,
    scope: String,
    http: reqwest::Client,
}

/// What a sign-in keeps on the server side until the provider sends the browser back.
pub struct SignInStart {
    /// Where to send the browser.
    pub authorization_url: String,
    pub state: String,
    pub nonce: String,
    pub code_verifier: String,
}

/// The tokens a code was exchanged for. Never printed.
pub struct Tokens {
    pub access_token: String,
    pub id_token: String,
}

impl fmt::Debug for Tokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Tokens { .. }")
    }
}

impl SignInClient {
    /// Resolves the endpoints the settings leave out from the issuer's discovery document
    /// (which must name the issuer `auth` names). Endpoints come over `https://`, as keys do
    /// (see [`AuthSettings::check`]).
    pub async fn connect(settings: SignInSettings, auth: &AuthSettings) -> Result<Self, AuthError> {
        let (authorization_endpoint, token_endpoint) =
            match (settings.authorization_endpoint, settings.token_endpoint) {
                (Some(authorize), Some(token)) => (authorize, token),
                (authorize, token) => {
                    let found = discovery::discover(auth).await?;
                    let missing = |what: &str| {
                        AuthError::SignIn(format!(
                        "neither the settings nor the issuer's discovery document name the {what}"
                    ))
                    };
                    (
                        authorize
                            .or(found.authorization_endpoint)
                            .ok_or_else(|| missing("authorization endpoint"))?,
                        token
                            .or(found.token_endpoint)
                            .ok_or_else(|| missing("token endpoint"))?,
                    )
                }
            };
        for (what, url) in [
            ("authorization endpoint", &authorization_endpoint),
            ("token endpoint", &token_endpoint),
        ] {
            if let Some(reason) = provider::refuse_url(url, auth.allow_development_issuer) {
                return Err(AuthError::SignIn(format!("the {what}: {reason}")));
            }
        }
        let authorization_endpoint = reqwest::Url::parse(&authorization_endpoint)
            .map_err(|e| AuthError::SignIn(format!("the authorization endpoint: {e}")))?;
        let mut scopes = vec!["openid".to_owned()];
        scopes.extend(settings.scopes.into_iter().filter(|s| s != "openid"));
        Ok(SignInClient {
            client_id: settings.client_id,
            client_secret: settings.client_secret,
            redirect_uri: settings.redirect_uri,
            authorization_endpoint,
            token_endpoint,
            scope: scopes.join(" "),
            http: provider::client()
                .map_err(|e| AuthError::SignIn(format!("an HTTP client: {e}")))?,
        })
    }

    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// Whether the dashboard is served over HTTPS, so its cookies must be `Secure`.
    pub fn served_over_https(&self) -> bool {
        self.redirect_uri.starts_with("https://")
    }

    /// A new sign-in: fresh `state`, `nonce` and PKCE verifier, and the URL that asks the
    /// provider for a code.
    pub fn begin(&self) -> SignInStart {
        let (state, nonce, code_verifier) = (random_secret(), random_secret(), random_secret());
        let mut url = self.authorization_endpoint.clone();
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.client_id)
            .append_pair("redirect_uri", &self.redirect_uri)
            .append_pair("scope", &self.scope)
            .append_pair("state", &state)
            .append_pair("nonce", &nonce)
            .append_pair("code_challenge", &pkce_challenge(&code_verifier))
            .append_pair("code_challenge_method", "S256");
        SignInStart {
            authorization_url: url.into(),
            state,
            nonce,
            code_verifier,
        }
    }

    /// Exchanges the code the provider sent back for tokens, proving with the verifier that
    /// this is the client that asked for it.
    pub async fn exchange(&self, code: &str, code_verifier: &str) -> Result<Tokens, AuthError> {
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", &self.redirect_uri),
            ("client_id", &self.client_id),
            ("code_verifier", code_verifier),
        ];
        if let Some(secret) = &self.client_secret {
            form.push(("client_secret", secret));
        }
        let response = self
            .http
            .post(&self.token_endpoint)
            .form(&form)
            .send()
            .await
            // reqwest's message names the URL, never the form.
            .map_err(|e| AuthError::SignIn(format!("the token endpoint: {e}")))?;
        let status = response.status();
        let body = provider::read_capped(response)
            .await
            .map_err(|e| AuthError::SignIn(format!("the token endpoint's answer: {e}")))?;
        if !status.is_success() {
            #[derive(Deserialize)]
            struct Refusal {
                error: String,
            }
            let code = serde_json::from_slice::<Refusal>(&body)
                .map(|r| r.error)
                .unwrap_or_else(|_| "no error code".into());
            return Err(AuthError::SignIn(format!(
                "the token endpoint refused the code ({status}, {code})"
            )));
        }
        #[derive(Deserialize)]
        struct Answer {
            access_token: String,
            id_token: Option<String>,
        }
        let answer: Answer = serde_json::from_slice(&body).map_err(|_| {
            AuthError::SignIn("the token endpoint's answer has no access token".into())
        })?;
        Ok(Tokens {
            access_token: answer.access_token,
            id_token: answer.id_token.ok_or_else(|| {
                AuthError::SignIn("the token endpoint's answer has no ID token".into())
            })?,
        })
    }
}

/// 32 random bytes, base64url: a `state`, `nonce`, PKCE verifier or session id. 43 characters,
/// the shortest verifier RFC 7636 allows.
pub fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    SystemRandom::new()
        .fill(&mut bytes)
        .expect("the operating system's random number generator works");
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The S256 code challenge of a PKCE verifier: BASE64URL(SHA-256(verifier)).
pub fn pkce_challenge(code_verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(digest(&SHA256, code_verifier.as_bytes()))
}

/// Whether a verifier is one RFC 7636 allows: 43 to 128 unreserved characters.
pub fn is_pkce_verifier(value: &str) -> bool {
    (43..=128).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_challenge_is_rfc_7636s_example() {
        // RFC 7636, appendix B.
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn secrets_are_fresh_and_valid_verifiers() {
        let (a, b) = (random_secret(), random_secret());
        assert_ne!(a, b);
        assert!(is_pkce_verifier(&a), "{a}");
        assert!(!is_pkce_verifier("short"));
        assert!(!is_pkce_verifier(&format!("{a} with spaces")));
        assert!(!is_pkce_verifier(&"a".repeat(129)));
    }
}
