//! The issuer's OpenID Connect discovery document (`/.well-known/openid-configuration`), which
//! names its key set and, for the dashboard's sign-in, its authorization and token endpoints.

use serde::Deserialize;

use crate::{provider, AuthError, AuthSettings};

/// What this service reads of a discovery document; everything else is ignored.
#[derive(Debug, Deserialize)]
pub(crate) struct Discovery {
    /// Must be the issuer the settings name (OpenID Connect Discovery 1.0, section 4.3): a
    /// document that names another speaks for another issuer, whatever address served it.
    pub issuer: String,
    #[serde(default)]
    pub jwks_uri: Option<String>,
    #[serde(default)]
    pub authorization_endpoint: Option<String>,
    #[serde(default)]
    pub token_endpoint: Option<String>,
    /// Where the document was read, for error messages.
    #[serde(skip)]
    pub url: String,
}

/// Where `issuer` publishes its discovery document.
pub(crate) fn url_of(issuer: &str) -> String {
    format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    )
}

/// Reads the configured issuer's discovery document; refuses one that names another issuer,
/// and any address in it the settings would not accept as `auth.jwks_uri`.
pub(crate) async fn discover(settings: &AuthSettings) -> Result<Discovery, AuthError> {
    let url = url_of(&settings.issuer);
    if let Some(reason) = provider::refuse_url(&url, settings.allow_development_issuer) {
        return Err(AuthError::key_set(&url, reason));
    }
    let mut discovery: Discovery = serde_json::from_slice(&provider::get(&url).await?)
        .map_err(|e| AuthError::key_set(&url, format!("not a discovery document: {e}")))?;
    if discovery.issuer != settings.issuer {
        return Err(AuthError::key_set(
            &url,
            "the discovery document names another issuer than auth.issuer",
        ));
    }
    let named = [
        &discovery.jwks_uri,
        &discovery.authorization_endpoint,
        &discovery.token_endpoint,
    ];
    for address in named.into_iter().flatten() {
        if let Some(reason) = provider::refuse_url(address, settings.allow_development_issuer) {
            return Err(AuthError::key_set(
                &url,
                format!("the discovery document names {address}: {reason}"),
            ));
        }
    }
    discovery.url = url;
    Ok(discovery)
}
