//! The issuer's OpenID Connect discovery document (`/.well-known/openid-configuration`), which
//! names its key set and, for the dashboard's sign-in, its authorization and token endpoints.

use std::time::Duration;

use serde::Deserialize;

use crate::AuthError;

/// What this service reads of a discovery document; everything else is ignored.
#[derive(Debug, Deserialize)]
pub(crate) struct Discovery {
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

pub(crate) async fn discover(issuer: &str) -> Result<Discovery, AuthError> {
    let url = format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    );
    let mut discovery: Discovery = serde_json::from_slice(&get(&url).await?)
        .map_err(|e| AuthError::key_set(&url, format!("not a discovery document: {e}")))?;
    discovery.url = url;
    Ok(discovery)
}

pub(crate) async fn get(url: &str) -> Result<Vec<u8>, AuthError> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| AuthError::key_set(url, e))?;
    let response = client
        .get(url)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|e| AuthError::key_set(url, e))?;
    Ok(response
        .bytes()
        .await
        .map_err(|e| AuthError::key_set(url, e))?
        .to_vec())
}
