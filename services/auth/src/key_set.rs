//! The issuer's public keys (its JWKS), loaded at start and reloaded when a token names a key
//! we have not seen: identity providers rotate keys by publishing the new one first.

use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use tokio::sync::RwLock;

use crate::{discovery, AuthError};

/// Where the keys come from.
#[derive(Debug, Clone)]
pub(crate) enum KeySource {
    /// Fixed keys (tests, and callers that manage keys themselves).
    Fixed,
    /// A `file:` path or an `http(s)://` URL.
    Uri(String),
}

/// How often an unknown key id may trigger a reload: a flood of tokens with made-up key ids
/// must not turn into a flood of requests to the identity provider.
const RELOAD_AT_MOST_EVERY: Duration = Duration::from_secs(30);

pub(crate) struct KeySet {
    source: KeySource,
    state: RwLock<Loaded>,
}

struct Loaded {
    keys: JwkSet,
    loaded_at: Option<Instant>,
    /// Counts the reloads that replaced the keys: what was verified under an older generation
    /// checks again.
    generation: u64,
}

impl KeySet {
    pub(crate) fn fixed(keys: JwkSet) -> Self {
        KeySet {
            source: KeySource::Fixed,
            state: RwLock::new(Loaded {
                keys,
                loaded_at: None,
                generation: 0,
            }),
        }
    }

    /// Loads the keys from `uri`, or finds them through the issuer's discovery document.
    pub(crate) async fn load(issuer: &str, uri: Option<&str>) -> Result<Self, AuthError> {
        let uri = match uri {
            Some(uri) => uri.to_owned(),
            None => {
                let discovery = discovery::discover(issuer).await?;
                discovery.jwks_uri.ok_or_else(|| {
                    AuthError::key_set(&discovery.url, "the discovery document names no jwks_uri")
                })?
            }
        };
        let keys = fetch(&uri).await?;
        Ok(KeySet {
            source: KeySource::Uri(uri),
            state: RwLock::new(Loaded {
                keys,
                loaded_at: Some(Instant::now()),
                generation: 0,
            }),
        })
    }

    /// How many times the keys have been reloaded.
    pub(crate) async fn generation(&self) -> u64 {
        self.state.read().await.generation
    }

    /// The key with this id, reloading the set once if it is not known (yet).
    pub(crate) async fn find(&self, kid: Option<&str>) -> Option<jsonwebtoken::jwk::Jwk> {
        if let Some(key) = Self::pick(&self.state.read().await.keys, kid) {
            return Some(key);
        }
        let KeySource::Uri(uri) = &self.source else {
            return None;
        };
        let mut state = self.state.write().await;
        let recently = state
            .loaded_at
            .is_some_and(|at| at.elapsed() < RELOAD_AT_MOST_EVERY);
        if !recently {
            match fetch(uri).await {
                Ok(keys) => {
                    state.keys = keys;
                    state.generation += 1;
                }
                Err(error) => tracing::warn!(%error, "reloading the issuer's keys failed"),
            }
            state.loaded_at = Some(Instant::now());
        }
        Self::pick(&state.keys, kid)
    }

    /// By key id; a token without one is accepted only when the issuer publishes a single key.
    fn pick(keys: &JwkSet, kid: Option<&str>) -> Option<jsonwebtoken::jwk::Jwk> {
        match kid {
            Some(kid) => keys.find(kid).cloned(),
            None if keys.keys.len() == 1 => keys.keys.first().cloned(),
            None => None,
        }
    }
}

async fn fetch(uri: &str) -> Result<JwkSet, AuthError> {
    let bytes = match uri.strip_prefix("file:") {
        // `file:///abs/path`, `file:/abs/path` and `file:relative/path` all name a path.
        Some(path) => {
            let path = path.strip_prefix("//").unwrap_or(path);
            // A few hundred bytes, read at start and on key rotation: not worth a thread.
            std::fs::read(path).map_err(|e| AuthError::key_set(uri, e))?
        }
        None => discovery::get(uri).await?,
    };
    serde_json::from_slice(&bytes)
        .map_err(|e| AuthError::key_set(uri, format!("not a JSON Web Key Set: {e}")))
}
