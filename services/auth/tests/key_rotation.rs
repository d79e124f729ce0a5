//! The issuer's keys over HTTP, from a provider served by the test itself: a key the provider
//! stops publishing stops letting tokens in after the next refresh; a provider that hangs
//! keeps only the requests that need a new key waiting; an oversized key set is refused.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use outreach_auth::{AuthError, AuthSettings, Authenticator, DevIssuer, Role, TokenRequest};
use serde_json::{json, Value};

/// What the test's provider serves, changed by the test as it goes.
#[derive(Default)]
struct Published {
    jwks: Mutex<Value>,
    /// Once set, the key set's endpoint never answers.
    hang: std::sync::atomic::AtomicBool,
    requests: AtomicUsize,
}

async fn jwks(State(published): State<Arc<Published>>) -> Json<Value> {
    published.requests.fetch_add(1, Ordering::SeqCst);
    if published.hang.load(Ordering::SeqCst) {
        std::future::pending::<()>().await;
    }
    Json(published.jwks.lock().unwrap().clone())
}

/// Serves `/jwks.json` on a free loopback port; returns its URL.
async fn provider(published: Arc<Published>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
    let app = Router::new()
        .route("/jwks.json", get(jwks))
        .with_state(published);
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

/// The key sets of `issuers`, as one JWKS.
fn key_set(issuers: &[&DevIssuer]) -> Value {
    let keys: Vec<Value> = issuers
        .iter()
        .flat_map(|issuer| {
            serde_json::to_value(issuer.jwks()).unwrap()["keys"]
                .clone()
                .as_array()
                .cloned()
                .unwrap()
        })
        .collect();
    json!({ "keys": keys })
}

/// A local run's settings: the development issuer's name, keys from `jwks_uri` over plain
/// http:// on loopback.
fn settings(jwks_uri: &str, refresh_seconds: u64) -> AuthSettings {
    AuthSettings {
        jwks_uri: Some(jwks_uri.to_owned()),
        allow_development_issuer: true,
        jwks_refresh_seconds: refresh_seconds,
        ..AuthSettings::new(DevIssuer::ISSUER, DevIssuer::AUDIENCE)
    }
}

fn token(issuer: &DevIssuer, subject: &str) -> String {
    issuer
        .mint(&TokenRequest::new(subject, Role::ProgramManager))
        .unwrap()
}

#[tokio::test]
async fn a_key_the_provider_removed_lets_no_one_in_after_the_next_refresh() {
    let (old, new) = (
        DevIssuer::generate().unwrap(),
        DevIssuer::generate().unwrap(),
    );
    let published = Arc::new(Published::default());
    *published.jwks.lock().unwrap() = key_set(&[&old, &new]);
    let url = provider(published.clone()).await;
    let authenticator = Authenticator::connect(settings(&url, 1)).await.unwrap();
    let signed_with_old = token(&old, "oidc|pm");
    authenticator.authenticate(&signed_with_old).await.unwrap();

    // The provider retires the old key.
    *published.jwks.lock().unwrap() = key_set(&[&new]);

    let since = Instant::now();
    let refused = loop {
        match authenticator.authenticate(&signed_with_old).await {
            Err(error) => break error,
            Ok(_) => {
                assert!(
                    since.elapsed() < Duration::from_secs(10),
                    "the retired key still lets callers in after 10 s of a 1 s refresh"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    assert!(matches!(refused, AuthError::UnknownKey), "{refused}");
    // A token never seen before is refused too, and the new key still lets callers in.
    let error = authenticator
        .authenticate(&token(&old, "oidc|another"))
        .await
        .unwrap_err();
    assert!(matches!(error, AuthError::UnknownKey), "{error}");
    authenticator
        .authenticate(&token(&new, "oidc|pm"))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_provider_that_hangs_keeps_waiting_only_the_request_that_needs_a_new_key() {
    let (known, rotated_in) = (
        DevIssuer::generate().unwrap(),
        DevIssuer::generate().unwrap(),
    );
    let published = Arc::new(Published::default());
    *published.jwks.lock().unwrap() = key_set(&[&known]);
    let url = provider(published.clone()).await;
    let authenticator = Arc::new(Authenticator::connect(settings(&url, 1)).await.unwrap());
    let fetches_before = published.requests.load(Ordering::SeqCst);
    published.hang.store(true, Ordering::SeqCst);

    // The next refresh asks, and the provider never answers.
    let since = Instant::now();
    while published.requests.load(Ordering::SeqCst) == fetches_before {
        assert!(
            since.elapsed() < Duration::from_secs(5),
            "no refresh was made"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // A token signed with a key the provider has just started to use needs the keys that
    // fetch brings: it waits.
    let waiting = tokio::spawn({
        let authenticator = authenticator.clone();
        let token = token(&rotated_in, "oidc|rotated");
        async move { authenticator.authenticate(&token).await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;

    // Meanwhile callers with the known key come and go as before: each a new token, so each
    // is checked against the key set, not remembered.
    let mut slowest = Duration::ZERO;
    for n in 0..50 {
        let started = Instant::now();
        authenticator
            .authenticate(&token(&known, &format!("oidc|caller-{n}")))
            .await
            .unwrap();
        slowest = slowest.max(started.elapsed());
    }
    assert!(
        slowest < Duration::from_secs(2),
        "a caller with a known key waited {slowest:?} behind the hanging fetch"
    );
    assert!(
        !waiting.is_finished(),
        "the request that needs a new key should still be waiting for the provider"
    );
    waiting.abort();
}

#[tokio::test]
async fn an_oversized_key_set_is_refused() {
    let issuer = DevIssuer::generate().unwrap();
    let published = Arc::new(Published::default());
    let mut keys = key_set(&[&issuer]);
    keys["padding"] = json!("x".repeat(512 * 1024));
    *published.jwks.lock().unwrap() = keys;
    let url = provider(published).await;

    let refused = Authenticator::connect(settings(&url, 60)).await;

    let Err(AuthError::KeySet { reason, .. }) = refused else {
        panic!("an oversized key set was read")
    };
    assert!(reason.contains("larger than"), "{reason}");
}
