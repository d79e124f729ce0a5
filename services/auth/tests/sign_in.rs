//! Signing in through the development issuer served as an OpenID provider: the authorization
//! code flow with PKCE, as the dashboard runs it, and the checks that refuse a code, a verifier
//! or an ID token that does not belong to the sign-in.

use std::sync::Arc;

use axum::response::IntoResponse;

use outreach_auth::sign_in::{SignInClient, SignInSettings, SignInStart};
use outreach_auth::{AuthError, AuthSettings, Authenticator, DevIssuer, DevProvider, Role};

const CLIENT: &str = "peer-outreach-dashboard";
const REDIRECT: &str = "http://127.0.0.1:9/dashboard/sign-in/callback";

struct Provider {
    issuer: Arc<DevIssuer>,
    base: String,
}

async fn provider() -> Provider {
    let issuer = Arc::new(DevIssuer::generate().unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let provider = Arc::new(DevProvider::new(issuer.clone(), &base));
    tokio::spawn(provider.serve(listener, std::future::pending()));
    Provider { issuer, base }
}

fn settings(provider: &Provider) -> SignInSettings {
    SignInSettings {
        client_id: CLIENT.into(),
        client_secret: None,
        redirect_uri: REDIRECT.into(),
        authorization_endpoint: Some(format!("{}/authorize", provider.base)),
        token_endpoint: Some(format!("{}/token", provider.base)),
        scopes: vec![],
    }
}

/// The API's settings for a local run against the development issuer.
fn local_auth(issuer: &str) -> AuthSettings {
    AuthSettings {
        allow_development_issuer: true,
        ..AuthSettings::new(issuer, DevIssuer::AUDIENCE)
    }
}

fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// What a developer does on the authorize page: the page's hidden fields sent back with a role
/// and a staff id. Returns the code and state the browser is sent back with.
async fn sign_in_as(start: &SignInStart, role: &str, staff_id: &str) -> (String, String) {
    let page = browser()
        .get(&start.authorization_url)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("Development only"), "{html}");
    let url = reqwest::Url::parse(&start.authorization_url).unwrap();
    let mut form: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    form.push(("role".into(), role.into()));
    form.push(("staff_id".into(), staff_id.into()));
    let answer = browser()
        .post(url.join("/authorize").unwrap())
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 303, "{}", answer.text().await.unwrap());
    let location = answer.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with(REDIRECT), "{location}");
    let back = reqwest::Url::parse(&location).unwrap();
    let param = |name: &str| {
        back.query_pairs()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.into_owned())
            .unwrap()
    };
    (param("code"), param("state"))
}

#[tokio::test]
async fn a_developer_signs_in_with_a_role_and_gets_a_token_the_api_accepts() {
    let provider = provider().await;
    let client = SignInClient::connect(settings(&provider), &local_auth(DevIssuer::ISSUER))
        .await
        .unwrap();
    let start = client.begin();

    let (code, state) = sign_in_as(&start, "program_manager", "E90002").await;
    assert_eq!(state, start.state);
    let tokens = client.exchange(&code, &start.code_verifier).await.unwrap();

    let authenticator = Authenticator::with_keys(
        provider.issuer.settings_in_process(),
        provider.issuer.jwks(),
    );
    let caller = authenticator
        .authenticate(&tokens.access_token)
        .await
        .unwrap();
    assert!(caller.has(Role::ProgramManager));
    assert_eq!(caller.staff_id.as_deref(), Some("E90002"));
    authenticator
        .check_id_token(&tokens.id_token, CLIENT, &start.nonce, &caller.subject)
        .await
        .unwrap();
    assert!(matches!(
        authenticator
            .check_id_token(&tokens.id_token, CLIENT, "another sign-in", &caller.subject)
            .await,
        Err(AuthError::NonceMismatch)
    ));
    assert!(matches!(
        authenticator
            .check_id_token(&tokens.id_token, CLIENT, &start.nonce, "dev|someone-else")
            .await,
        Err(AuthError::SubjectMismatch)
    ));
    // The ID token is for the dashboard's client, not a bearer token for the API.
    assert!(matches!(
        authenticator.authenticate(&tokens.id_token).await,
        Err(AuthError::WrongAudience)
    ));
}

#[tokio::test]
async fn a_code_is_exchanged_only_with_its_verifier_and_only_once() {
    let provider = provider().await;
    let client = SignInClient::connect(settings(&provider), &local_auth(DevIssuer::ISSUER))
        .await
        .unwrap();
    let start = client.begin();
    let (code, _) = sign_in_as(&start, "peer_supporter", "E20001").await;

    let other = client.begin();
    let wrong = client.exchange(&code, &other.code_verifier).await;
    let Err(AuthError::SignIn(reason)) = wrong else {
        panic!("a wrong verifier was accepted: {wrong:?}")
    };
    assert!(reason.contains("invalid_grant"), "{reason}");
    assert!(
        !reason.contains(&code),
        "the code is not repeated: {reason}"
    );

    // The failed attempt spent the code: the right verifier comes too late.
    assert!(client.exchange(&code, &start.code_verifier).await.is_err());

    let again = client.begin();
    let (code, _) = sign_in_as(&again, "peer_supporter", "E20001").await;
    assert!(client.exchange(&code, &again.code_verifier).await.is_ok());
    assert!(client.exchange(&code, &again.code_verifier).await.is_err());
}

/// A discovery document at `base` naming `issuer` and the provider's endpoints, as the
/// hospital's provider publishes it.
async fn discovery_at(issuer: impl Fn(&str) -> String, provider: &Provider) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let document = serde_json::json!({
        "issuer": issuer(&base),
        "authorization_endpoint": format!("{}/authorize", provider.base),
        "token_endpoint": format!("{}/token", provider.base),
        "jwks_uri": format!("{}/jwks.json", provider.base),
    });
    let app = axum::Router::new().route(
        "/.well-known/openid-configuration",
        axum::routing::get(move || {
            let document = document.clone();
            async move { axum::Json(document) }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    base
}

#[tokio::test]
async fn the_endpoints_are_found_through_discovery() {
    let provider = provider().await;
    let mut without_endpoints = settings(&provider);
    without_endpoints.authorization_endpoint = None;
    without_endpoints.token_endpoint = None;
    let issuer = discovery_at(str::to_owned, &provider).await;

    let client = SignInClient::connect(without_endpoints, &local_auth(&issuer))
        .await
        .unwrap();

    let start = client.begin();
    assert!(
        start
            .authorization_url
            .starts_with(&format!("{}/authorize?", provider.base)),
        "{}",
        start.authorization_url
    );
    let url = reqwest::Url::parse(&start.authorization_url).unwrap();
    let query: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!(query["code_challenge_method"], "S256");
    assert_eq!(query["response_type"], "code");
    assert_eq!(query["scope"], "openid");
    assert_ne!(query["code_challenge"], start.code_verifier);
    let (code, _) = sign_in_as(&start, "safety_office", "").await;
    assert!(client.exchange(&code, &start.code_verifier).await.is_ok());
}

#[tokio::test]
async fn a_discovery_document_that_names_another_issuer_is_refused() {
    let provider = provider().await;
    let mut without_endpoints = settings(&provider);
    without_endpoints.authorization_endpoint = None;
    without_endpoints.token_endpoint = None;
    let elsewhere = discovery_at(|_| "https://login.elsewhere.example".into(), &provider).await;

    let refused = SignInClient::connect(without_endpoints.clone(), &local_auth(&elsewhere)).await;
    let Err(AuthError::KeySet { reason, .. }) = refused else {
        panic!("a document for another issuer was trusted")
    };
    assert!(reason.contains("another issuer"), "{reason}");

    // Plain http:// is for a local run only.
    let issuer = discovery_at(str::to_owned, &provider).await;
    let production = AuthSettings::new(&issuer, DevIssuer::AUDIENCE);
    assert!(SignInClient::connect(without_endpoints, &production)
        .await
        .is_err());
}

#[tokio::test]
async fn requests_without_pkce_or_for_another_host_are_refused_on_the_page() {
    let provider = provider().await;
    let base = format!("{}/authorize", provider.base);
    let good = [
        ("response_type", "code"),
        ("client_id", CLIENT),
        ("redirect_uri", REDIRECT),
        ("scope", "openid"),
        ("state", "s"),
        (
            "code_challenge",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        ),
        ("code_challenge_method", "S256"),
    ];
    let with = |name: &str, value: Option<&str>| {
        let mut url = reqwest::Url::parse(&base).unwrap();
        for (key, v) in good {
            match (key == name, value) {
                (true, Some(value)) => url.query_pairs_mut().append_pair(key, value),
                (true, None) => continue,
                (false, _) => url.query_pairs_mut().append_pair(key, v),
            };
        }
        url
    };
    assert_eq!(
        browser().get(with("", None)).send().await.unwrap().status(),
        200
    );
    for (name, value) in [
        ("code_challenge", None),
        ("code_challenge_method", Some("plain")),
        ("redirect_uri", Some("https://attacker.example/callback")),
        ("response_type", Some("token")),
        ("scope", Some("profile")),
    ] {
        let answer = browser().get(with(name, value)).send().await.unwrap();
        assert_eq!(answer.status(), 400, "{name} = {value:?}");
        assert!(answer.headers().get("location").is_none());
    }
}

/// A provider's endpoint whose answer is far past any discovery document or token response:
/// 512 KiB, once with its `Content-Length` and once streamed in chunks without one (so both the
/// header check and the running count are what refuse it). Returns its base address.
async fn oversized_at(path: &'static str, issuer_name: bool, streamed: bool) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let mut document = serde_json::json!({
        "access_token": "a", "id_token": "b", "token_type": "Bearer",
        "padding": "x".repeat(512 * 1024),
    });
    if issuer_name {
        document["issuer"] = base.clone().into();
    }
    let body = document.to_string().into_bytes();
    let answer = move || {
        let body = body.clone();
        async move {
            let content_type = [(axum::http::header::CONTENT_TYPE, "application/json")];
            if streamed {
                let chunks = body
                    .chunks(16 * 1024)
                    .map(|chunk| Ok::<_, std::io::Error>(chunk.to_vec()))
                    .collect::<Vec<_>>();
                let stream = futures::stream::iter(chunks);
                (content_type, axum::body::Body::from_stream(stream)).into_response()
            } else {
                (content_type, body).into_response()
            }
        }
    };
    let app = axum::Router::new().route(path, axum::routing::get(answer.clone()).post(answer));
    tokio::spawn(async move { axum::serve(listener, app).await });
    base
}

#[tokio::test]
async fn an_oversized_discovery_document_is_refused() {
    let provider = provider().await;
    let mut without_endpoints = settings(&provider);
    without_endpoints.authorization_endpoint = None;
    without_endpoints.token_endpoint = None;
    for streamed in [false, true] {
        let issuer = oversized_at("/.well-known/openid-configuration", true, streamed).await;

        let refused = SignInClient::connect(without_endpoints.clone(), &local_auth(&issuer)).await;

        let Err(AuthError::KeySet { reason, .. }) = refused else {
            panic!("an oversized discovery document was read (streamed: {streamed})")
        };
        assert!(reason.contains("larger than"), "{reason}");
    }
}

#[tokio::test]
async fn an_oversized_token_response_is_refused() {
    let provider = provider().await;
    for streamed in [false, true] {
        let mut oversized = settings(&provider);
        let token = oversized_at("/token", false, streamed).await;
        oversized.token_endpoint = Some(format!("{token}/token"));
        let client = SignInClient::connect(oversized, &local_auth(DevIssuer::ISSUER))
            .await
            .unwrap();
        let start = client.begin();

        let refused = client.exchange("any-code", &start.code_verifier).await;

        let Err(AuthError::SignIn(reason)) = refused else {
            panic!("an oversized token response was read (streamed: {streamed})")
        };
        assert!(
            reason.contains("the token endpoint's answer") && reason.contains("larger than"),
            "{reason}"
        );
    }
}
