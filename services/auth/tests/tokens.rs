//! Which tokens let a caller in: the identity provider's own, signed with RS256 or ES256 for
//! our issuer and audience, in date; and none other.

use std::path::PathBuf;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use outreach_auth::{AuthError, AuthSettings, Authenticator, DevIssuer, Role, TokenRequest};
use serde_json::{json, Value};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// The hospital's keys: the development issuer's ES256 key and a test RSA key.
fn keys(issuer: &DevIssuer) -> JwkSet {
    let rsa: Jwk = serde_json::from_str(
        &std::fs::read_to_string(fixture("test-rsa-key.jwk.json")).expect("fixture"),
    )
    .expect("a JWK");
    let mut keys = issuer.jwks();
    keys.keys.push(rsa);
    keys
}

fn authenticator(issuer: &DevIssuer) -> Authenticator {
    Authenticator::with_keys(issuer.settings_in_process(), keys(issuer))
}

fn rs256(claims: &Value) -> String {
    let pem = std::fs::read(fixture("test-rsa-key.pem")).expect("fixture");
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("test-rsa-1".into());
    jsonwebtoken::encode(
        &header,
        claims,
        &EncodingKey::from_rsa_pem(&pem).expect("an RSA key"),
    )
    .expect("signing works")
}

fn claims(roles: Value) -> Value {
    let now = chrono_now();
    json!({
        "iss": DevIssuer::ISSUER,
        "aud": DevIssuer::AUDIENCE,
        "sub": "oidc|ada",
        "staff_id": "E10001",
        "iat": now,
        "exp": now + 600,
        "roles": roles,
    })
}

fn chrono_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn segments(token: &str) -> Vec<String> {
    token.split('.').map(str::to_owned).collect()
}

#[tokio::test]
async fn a_program_manager_signed_in_through_the_development_issuer_is_let_in() {
    let issuer = DevIssuer::generate().unwrap();
    let token = issuer
        .mint(&TokenRequest::new("oidc|pm", Role::ProgramManager).staff_id("E40001"))
        .unwrap();

    let caller = authenticator(&issuer).authenticate(&token).await.unwrap();

    assert_eq!(caller.subject, "oidc|pm");
    assert_eq!(caller.staff_id.as_deref(), Some("E40001"));
    assert!(caller.has(Role::ProgramManager));
    assert!(!caller.has(Role::Director));
}

#[tokio::test]
async fn an_rs256_token_from_the_hospitals_provider_is_let_in_with_all_its_roles() {
    let issuer = DevIssuer::generate().unwrap();
    let token = rs256(&claims(json!(["director", "program_manager", "unrelated"])));

    let caller = authenticator(&issuer).authenticate(&token).await.unwrap();

    assert_eq!(
        caller.roles.iter().copied().collect::<Vec<_>>(),
        vec![Role::Director, Role::ProgramManager]
    );
}

#[tokio::test]
async fn roles_are_read_where_the_provider_puts_them_under_its_own_names() {
    let issuer = DevIssuer::generate().unwrap();
    let mut settings = issuer.settings_in_process();
    settings.roles_claim = "realm_access.roles".into();
    settings.role_names.peer_supporter = "pso-volunteer".into();
    let authenticator = Authenticator::with_keys(settings, keys(&issuer));
    let mut claims = claims(json!(null));
    claims["realm_access"] = json!({ "roles": ["pso-volunteer", "offline_access"] });

    let caller = authenticator.authenticate(&rs256(&claims)).await.unwrap();

    assert_eq!(
        caller.roles.iter().copied().collect::<Vec<_>>(),
        vec![Role::PeerSupporter]
    );
}

async fn refusal(issuer: &DevIssuer, token: &str) -> AuthError {
    authenticator(issuer)
        .authenticate(token)
        .await
        .expect_err("the token must be refused")
}

#[tokio::test]
async fn an_expired_token_is_refused() {
    let issuer = DevIssuer::generate().unwrap();
    let mut request = TokenRequest::new("oidc|pm", Role::ProgramManager);
    request.expires_in = -300;

    let error = refusal(&issuer, &issuer.mint(&request).unwrap()).await;

    assert!(matches!(error, AuthError::Expired), "{error}");
}

#[tokio::test]
async fn a_token_meant_for_another_service_is_refused() {
    let issuer = DevIssuer::generate().unwrap();
    let mut request = TokenRequest::new("oidc|pm", Role::ProgramManager);
    request.audience = Some("payroll".into());

    let error = refusal(&issuer, &issuer.mint(&request).unwrap()).await;

    assert!(matches!(error, AuthError::WrongAudience), "{error}");
}

#[tokio::test]
async fn a_token_from_another_issuer_is_refused() {
    let issuer = DevIssuer::generate().unwrap();
    let mut request = TokenRequest::new("oidc|pm", Role::ProgramManager);
    request.issuer = Some("https://login.elsewhere.example".into());

    let error = refusal(&issuer, &issuer.mint(&request).unwrap()).await;

    assert!(matches!(error, AuthError::WrongIssuer), "{error}");
}

#[tokio::test]
async fn an_unsigned_token_is_refused() {
    let issuer = DevIssuer::generate().unwrap();
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(claims(json!(["director"])).to_string());

    let error = refusal(&issuer, &format!("{header}.{payload}.")).await;

    assert!(matches!(error, AuthError::AlgorithmNotAccepted), "{error}");
}

#[tokio::test]
async fn a_token_signed_with_the_public_key_as_a_shared_secret_is_refused() {
    // The classic confusion: HS256 "signed" with bytes anyone can read from the key set.
    let issuer = DevIssuer::generate().unwrap();
    let public = std::fs::read(fixture("test-rsa-key.jwk.json")).unwrap();
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("test-rsa-1".into());
    let token = jsonwebtoken::encode(
        &header,
        &claims(json!(["director"])),
        &EncodingKey::from_secret(&public),
    )
    .unwrap();

    let error = refusal(&issuer, &token).await;

    assert!(matches!(error, AuthError::AlgorithmNotAccepted), "{error}");
}

#[tokio::test]
async fn a_token_whose_claims_were_changed_after_signing_is_refused() {
    let issuer = DevIssuer::generate().unwrap();
    let token = issuer
        .mint(&TokenRequest::new("oidc|sup", Role::PeerSupporter))
        .unwrap();
    let mut parts = segments(&token);
    let mut payload: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&parts[1]).unwrap()).unwrap();
    payload["roles"] = json!(["director"]);
    parts[1] = URL_SAFE_NO_PAD.encode(payload.to_string());

    let error = refusal(&issuer, &parts.join(".")).await;

    assert!(matches!(error, AuthError::BadSignature), "{error}");
}

#[tokio::test]
async fn a_token_with_a_damaged_signature_is_refused() {
    let issuer = DevIssuer::generate().unwrap();
    let token = rs256(&claims(json!(["director"])));
    let mut parts = segments(&token);
    let mut signature = URL_SAFE_NO_PAD.decode(&parts[2]).unwrap();
    signature[10] ^= 0x01;
    parts[2] = URL_SAFE_NO_PAD.encode(signature);

    let error = refusal(&issuer, &parts.join(".")).await;

    assert!(matches!(error, AuthError::BadSignature), "{error}");
}

#[tokio::test]
async fn a_token_from_a_key_the_issuer_does_not_publish_is_refused() {
    let issuer = DevIssuer::generate().unwrap();
    let impostor = DevIssuer::generate().unwrap();
    let token = impostor
        .mint(&TokenRequest::new("oidc|x", Role::Director))
        .unwrap();

    let error = refusal(&issuer, &token).await;

    assert!(matches!(error, AuthError::UnknownKey), "{error}");
}

#[tokio::test]
async fn a_token_granting_no_role_of_the_program_is_refused() {
    let issuer = DevIssuer::generate().unwrap();
    let token = rs256(&claims(json!(["offline_access", "payroll_clerk"])));

    let error = refusal(&issuer, &token).await;

    assert!(matches!(error, AuthError::NoRole), "{error}");
}

#[tokio::test]
async fn something_that_is_not_a_jwt_is_refused() {
    let issuer = DevIssuer::generate().unwrap();

    for garbage in ["", "abc", "a.b.c", "ey.ey.ey", "....."] {
        let error = refusal(&issuer, garbage).await;
        assert!(
            matches!(error, AuthError::Malformed),
            "{garbage:?}: {error}"
        );
    }
}

#[tokio::test]
async fn the_development_issuer_kept_on_disk_is_trusted_through_its_key_file() {
    let dir = std::env::temp_dir().join(format!("dev-issuer-{}", uuid::Uuid::new_v4()));
    let issuer = DevIssuer::load_or_generate(&dir).unwrap();
    let again = DevIssuer::load_or_generate(&dir).unwrap();
    let token = again
        .mint(&TokenRequest::new("oidc|do", Role::Director))
        .unwrap();

    // Only a local run trusts it, and says so.
    let refused = Authenticator::connect(issuer.settings(&dir)).await;
    let Err(AuthError::Settings(reason)) = refused else {
        panic!("the development issuer was trusted without the opt-in")
    };
    assert!(reason.contains("auth.allow_development_issuer"), "{reason}");
    let local = AuthSettings {
        allow_development_issuer: true,
        ..issuer.settings(&dir)
    };
    let authenticator = Authenticator::connect(local.clone()).await.unwrap();
    let caller = authenticator.authenticate(&token).await.unwrap();

    assert!(caller.has(Role::Director));
    let missing = AuthSettings {
        jwks_uri: Some(format!("file:{}/nowhere.json", dir.display())),
        ..local
    };
    assert!(matches!(
        Authenticator::connect(missing).await,
        Err(AuthError::KeySet { .. })
    ));
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn a_token_let_in_once_is_refused_once_it_expires() {
    let issuer = DevIssuer::generate().unwrap();
    let mut settings = issuer.settings_in_process();
    settings.leeway_seconds = 0;
    let authenticator = Authenticator::with_keys(settings, keys(&issuer));
    let mut request = TokenRequest::new("oidc|pm", Role::ProgramManager);
    request.expires_in = 2;
    let token = issuer.mint(&request).unwrap();
    authenticator
        .authenticate(&token)
        .await
        .expect("in date, it is let in");

    // Past its `exp` (whole seconds) the second request must not ride on the first check.
    tokio::time::sleep(std::time::Duration::from_millis(3100)).await;
    let error = authenticator
        .authenticate(&token)
        .await
        .expect_err("out of date, it must be refused");

    assert!(matches!(error, AuthError::Expired), "{error}");
}

#[tokio::test]
async fn an_id_token_is_not_a_bearer_token_even_for_our_audience() {
    let issuer = DevIssuer::generate().unwrap();
    // As a provider issues it when the API's audience is also the client id.
    let id_token = issuer
        .mint_id_token("oidc|pm", DevIssuer::AUDIENCE, "a nonce", 600)
        .unwrap();

    let error = refusal(&issuer, &id_token).await;

    assert!(matches!(error, AuthError::NotAnAccessToken), "{error}");
}

#[tokio::test]
async fn a_token_of_another_type_is_refused_and_access_token_types_are_let_in() {
    let issuer = DevIssuer::generate().unwrap();
    let signed_as = |typ: &str| {
        let pem = std::fs::read(fixture("test-rsa-key.pem")).expect("fixture");
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some("test-rsa-1".into());
        header.typ = Some(typ.into());
        jsonwebtoken::encode(
            &header,
            &claims(json!(["director"])),
            &EncodingKey::from_rsa_pem(&pem).expect("an RSA key"),
        )
        .expect("signing works")
    };

    for refused in ["logout+jwt", "secevent+jwt", "ID", "dpop+jwt"] {
        let error = refusal(&issuer, &signed_as(refused)).await;
        assert!(
            matches!(error, AuthError::NotAnAccessToken),
            "{refused}: {error}"
        );
    }
    for accepted in ["JWT", "at+jwt", "application/at+JWT"] {
        authenticator(&issuer)
            .authenticate(&signed_as(accepted))
            .await
            .unwrap_or_else(|e| panic!("{accepted}: {e}"));
    }
}

#[tokio::test]
async fn settings_that_would_trust_keys_by_accident_are_refused() {
    let hospital = AuthSettings::new(
        "https://login.hospital.example/realms/staff",
        "peer-outreach",
    );
    let with_keys = |uri: &str, allow: bool| AuthSettings {
        jwks_uri: Some(uri.into()),
        allow_development_issuer: allow,
        ..hospital.clone()
    };

    assert!(hospital.check().is_ok());
    assert!(with_keys("https://login.hospital.example/certs", false)
        .check()
        .is_ok());
    for (uri, allow) in [
        ("http://login.hospital.example/certs", false),
        ("http://login.hospital.example/certs", true),
        ("http://127.0.0.1:8090/jwks.json", false),
        ("file:/etc/peer-outreach/jwks.json", false),
    ] {
        let Err(AuthError::Settings(reason)) = with_keys(uri, allow).check() else {
            panic!("{uri} was accepted (allow_development_issuer = {allow})")
        };
        assert!(reason.contains("auth.jwks_uri"), "{reason}");
    }
    assert!(with_keys("http://127.0.0.1:8090/jwks.json", true)
        .check()
        .is_ok());
    let issuer = DevIssuer::generate().unwrap();
    let Err(AuthError::Settings(reason)) = issuer.settings_in_process().check() else {
        panic!("the development issuer was trusted without the opt-in")
    };
    assert!(reason.contains("auth.allow_development_issuer"), "{reason}");
}
