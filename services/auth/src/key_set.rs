//! The issuer's public keys (its JWKS): loaded at start, fetched again every
//! `auth.jwks_refresh_seconds` (so a key the provider stopped publishing stops being trusted),
//! and at once when a token names a key we have not seen (providers publish a new key before
//! they sign with it).
//!
//! A fetch holds no lock that a request reads under: requests take the current keys (an `Arc`
//! cloned under a lock held for no longer than that), and a fetched set replaces them whole
//! once it has arrived. While a provider hangs, only a request whose token names a key nobody
//! has seen waits for it, for the fetch's timeout at most.

use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{Jwk, JwkSet};

use crate::{discovery, provider, AuthError, AuthSettings};

/// Where the keys come from.
#[derive(Debug, Clone)]
enum KeySource {
    /// Fixed keys (tests, and callers that manage keys themselves).
    Fixed,
    /// A `file:` path or an `http(s)://` URL.
    Uri(String),
}

/// How often an unknown key id may trigger a fetch: a flood of tokens with made-up key ids
/// must not turn into a flood of requests to the identity provider.
const FETCH_AT_MOST_EVERY: Duration = Duration::from_secs(30);

pub(crate) struct KeySet {
    source: KeySource,
    current: RwLock<Arc<Loaded>>,
    /// One fetch at a time; held across the fetch, so only fetches wait on it.
    fetching: tokio::sync::Mutex<()>,
}

struct Loaded {
    keys: JwkSet,
    fetched_at: Option<Instant>,
    /// Counts the fetches that changed the keys: what was verified under an older generation
    /// checks again.
    generation: u64,
}

impl KeySet {
    pub(crate) fn fixed(keys: JwkSet) -> Arc<Self> {
        Arc::new(KeySet {
            source: KeySource::Fixed,
            current: RwLock::new(Arc::new(Loaded {
                keys,
                fetched_at: None,
                generation: 0,
            })),
            fetching: tokio::sync::Mutex::new(()),
        })
    }

    /// Loads the keys from `auth.jwks_uri`, or where the issuer's discovery document says.
    pub(crate) async fn load(settings: &AuthSettings) -> Result<Arc<Self>, AuthError> {
        let uri = match &settings.jwks_uri {
            Some(uri) => uri.clone(),
            None => {
                let discovery = discovery::discover(settings).await?;
                discovery.jwks_uri.ok_or_else(|| {
                    AuthError::key_set(&discovery.url, "the discovery document names no jwks_uri")
                })?
            }
        };
        if let Some(reason) = provider::refuse_url(&uri, settings.allow_development_issuer) {
            return Err(AuthError::key_set(&uri, reason));
        }
        let keys = fetch(&uri).await?;
        Ok(Arc::new(KeySet {
            source: KeySource::Uri(uri),
            current: RwLock::new(Arc::new(Loaded {
                keys,
                fetched_at: Some(Instant::now()),
                generation: 0,
            })),
            fetching: tokio::sync::Mutex::new(()),
        }))
    }

    /// Fetches the keys again every `interval`, for as long as the key set is in use.
    pub(crate) fn refresh_every(self: &Arc<Self>, interval: Duration) {
        if matches!(self.source, KeySource::Fixed) {
            return;
        }
        let keys = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(interval).await;
                let Some(keys) = keys.upgrade() else {
                    return;
                };
                keys.fetch_unless_fresh(Duration::ZERO).await;
            }
        });
    }

    /// How many times a fetch has changed the keys.
    pub(crate) fn generation(&self) -> u64 {
        self.now().generation
    }

    /// The key with this id; fetches the set once first if it is not known (yet).
    pub(crate) async fn find(&self, kid: Option<&str>) -> Option<Jwk> {
        if let Some(key) = pick(&self.now().keys, kid) {
            return Some(key);
        }
        self.fetch_unless_fresh(FETCH_AT_MOST_EVERY).await;
        pick(&self.now().keys, kid)
    }

    /// The keys as they are now.
    fn now(&self) -> Arc<Loaded> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Fetches the keys unless that was done within `fresh_for`. A failed fetch keeps the keys
    /// there were (an outage of the provider must not lock everyone out) and counts as a try.
    async fn fetch_unless_fresh(&self, fresh_for: Duration) {
        let KeySource::Uri(uri) = &self.source else {
            return;
        };
        let _one_at_a_time = self.fetching.lock().await;
        let before = self.now();
        if before.fetched_at.is_some_and(|at| at.elapsed() < fresh_for) {
            return;
        }
        let (keys, generation) = match fetch(uri).await {
            Ok(keys) if keys == before.keys => (keys, before.generation),
            Ok(keys) => {
                tracing::info!(keys = keys.keys.len(), "the issuer's keys changed");
                (keys, before.generation + 1)
            }
            Err(error) => {
                tracing::warn!(%error, "fetching the issuer's keys failed; the keys held are kept");
                (before.keys.clone(), before.generation)
            }
        };
        let fetched = Arc::new(Loaded {
            keys,
            fetched_at: Some(Instant::now()),
            generation,
        });
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = fetched;
    }
}

/// By key id; a token without one is accepted only when the issuer publishes a single key.
fn pick(keys: &JwkSet, kid: Option<&str>) -> Option<Jwk> {
    match kid {
        Some(kid) => keys.find(kid).cloned(),
        None if keys.keys.len() == 1 => keys.keys.first().cloned(),
        None => None,
    }
}

async fn fetch(uri: &str) -> Result<JwkSet, AuthError> {
    let bytes = match uri.strip_prefix("file:") {
        // `file:///abs/path`, `file:/abs/path` and `file:relative/path` all name a path.
        Some(path) => {
            let path = path.strip_prefix("//").unwrap_or(path);
            // A few hundred bytes, read at start and on key rotation: not worth a thread.
            let bytes = std::fs::read(path).map_err(|e| AuthError::key_set(uri, e))?;
            if bytes.len() > provider::MAX_RESPONSE_BYTES {
                return Err(AuthError::key_set(
                    uri,
                    "the file is too large for a key set",
                ));
            }
            bytes
        }
        None => provider::get(uri).await?,
    };
    serde_json::from_slice(&bytes)
        .map_err(|e| AuthError::key_set(uri, format!("not a JSON Web Key Set: {e}")))
}
