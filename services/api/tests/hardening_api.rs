//! Hostile and careless input: bodies nested to exhaust the parser, floods on the referral
//! form and on feedback links, and error messages that would repeat personal data.

mod common;

use axum::http::StatusCode;
use common::{generous_rate_limits, TestApp};
use outreach_api::RateLimitSettings;
use outreach_auth::Role;
use serde_json::{json, Value};

/// A colleague's referral of `staff_id`.
fn referral(staff_id: &str) -> Value {
    json!({
        "referred_by": "colleague",
        "campus": "North",
        "unit": "ICU 4",
        "member": {
            "staff_id": staff_id,
            "name": {"given": "Ana", "family": "Silva"},
            "role": "Registered nurse",
            "discipline": "nurse",
            "department": "Critical care",
            "contact": {"email": "ana.silva@hospital.example"}
        }
    })
}

#[tokio::test]
async fn a_body_nested_deeper_than_any_command_is_refused_before_it_is_parsed() {
    let app = TestApp::spawn().await;
    let deep = format!("{}1{}", "[".repeat(5000), "]".repeat(5000));

    let response = app
        .request(axum::http::Method::POST, "/v1/referrals", deep.into_bytes())
        .await;

    // `request` sends no content type: set one and try again, as a client would.
    assert_eq!(response.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let request = axum::http::Request::post("/v1/referrals")
        .header("content-type", "application/json")
        .body(axum::body::Body::from(format!(
            "{{\"member\": {}1{}}}",
            "[".repeat(5000),
            "]".repeat(5000)
        )))
        .unwrap();
    let detail = app
        .send(request)
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "invalid-body");
    assert!(detail.contains("deeper than 16 levels"), "{detail}");
}

#[tokio::test]
async fn an_error_about_a_field_never_repeats_what_was_in_it() {
    let app = TestApp::spawn().await;
    for (field, value, secret) in [
        (
            "preferred_channel",
            json!("Zebulonqx Quarrington"),
            "Zebulonqx",
        ),
        ("contact", json!({"phone": 5550199}), "5550199"),
        ("seniority", json!(["Quarrington-Vex"]), "Quarrington"),
    ] {
        let mut body = referral("E7");
        body["member"][field] = value;

        let response = app.post("/v1/referrals", Some(body), None).await;

        let detail = response.assert_problem(StatusCode::BAD_REQUEST, "invalid-body");
        assert!(detail.contains(field), "{detail}");
        assert!(
            !response.body.to_string().contains(secret),
            "{}",
            response.body
        );
    }
}

#[tokio::test]
async fn one_caller_flooding_the_referral_form_is_slowed_and_others_are_not() {
    let app = TestApp::spawn_with_rate_limits(RateLimitSettings {
        referrals_per_minute: 2,
        ..generous_rate_limits()
    })
    .await;
    let flooder = app.token(Role::CareTeamMember, Some("E7"));
    let colleague = app.token(Role::PeerSupporter, Some("E20001"));

    let mut statuses = Vec::new();
    for n in 0..3 {
        let response = app
            .post_as(&flooder, "/v1/referrals", Some(referral(&format!("E7{n}"))))
            .await;
        statuses.push(response.status);
        if response.status == StatusCode::TOO_MANY_REQUESTS {
            response.assert_problem(StatusCode::TOO_MANY_REQUESTS, "too-many-requests");
            let wait: u64 = response.headers["retry-after"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!((1..=60).contains(&wait), "{wait}");
        }
    }
    let other = app
        .post_as(&colleague, "/v1/referrals", Some(referral("E80")))
        .await;

    assert_eq!(
        statuses,
        [
            StatusCode::ACCEPTED,
            StatusCode::ACCEPTED,
            StatusCode::TOO_MANY_REQUESTS
        ]
    );
    assert_eq!(other.status, StatusCode::ACCEPTED, "{}", other.body);
}

#[tokio::test]
async fn guessing_feedback_links_is_slowed() {
    let app = TestApp::spawn_with_rate_limits(RateLimitSettings {
        feedback_per_minute: 3,
        ..generous_rate_limits()
    })
    .await;
    let answer = json!({"helpfulness": 4, "would_recommend": true});

    let mut statuses = Vec::new();
    for n in 0..4 {
        let guess = format!("{n:064x}");
        let response = app
            .post(&format!("/v1/feedback/{guess}"), Some(answer.clone()), None)
            .await;
        statuses.push(response.status);
    }

    assert_eq!(
        statuses,
        [
            StatusCode::NOT_FOUND,
            StatusCode::NOT_FOUND,
            StatusCode::NOT_FOUND,
            StatusCode::TOO_MANY_REQUESTS
        ]
    );
}

/// Junk on the anonymous feedback link (tokens of any shape, and of the right shape that no
/// link has) is answered without holding up a real answer: guesses are limited together,
/// real links on their own.
#[tokio::test]
async fn a_flood_of_junk_feedback_never_makes_a_real_answer_wait() {
    let app = TestApp::spawn_with_rate_limits(RateLimitSettings::default()).await;
    let token = "5".repeat(64);
    // A link as sent before tokens were MACs: its hash stored, not yet used.
    sqlx::query(
        "INSERT INTO feedback_tokens (token_hash, used) VALUES (sha256(convert_to($1, 'UTF8')), false)",
    )
    .bind(&token)
    .execute(&app.pool)
    .await
    .unwrap();
    let answer = json!({"helpfulness": 4, "would_recommend": true});

    let mut statuses = std::collections::BTreeMap::new();
    for n in 0..500u32 {
        let junk = if n % 2 == 0 {
            format!("{n:064x}")
        } else {
            format!("junk-{n}")
        };
        let response = app
            .post(&format!("/v1/feedback/{junk}"), Some(answer.clone()), None)
            .await;
        *statuses.entry(response.status.as_u16()).or_insert(0) += 1;
    }
    let real = app
        .post(&format!("/v1/feedback/{token}"), Some(answer), None)
        .await;

    // Malformed ones are simply unknown; well-formed guesses past the limit (120 a minute,
    // refilling as the flood goes on) are slowed.
    let (unknown, slowed) = (statuses[&404], statuses[&429]);
    assert_eq!(unknown + slowed, 500, "{statuses:?}");
    assert!((370..400).contains(&unknown), "{statuses:?}");
    assert_eq!(real.status, StatusCode::CREATED, "{}", real.body);
}
