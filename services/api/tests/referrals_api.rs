//! Referrals are not an oracle: anyone but the program's staff is told only that a referral
//! was taken in, whether it opened a case or joined one; a self-referral is made under the
//! caller's own staff id; the campus is one of the program's; and a colleague's contact
//! details come from what the program has for them, not from the referrer.

mod common;

use std::collections::HashMap;
use std::sync::Arc;

use axum::http::StatusCode;
use chrono::Utc;
use common::TestApp;
use outreach_auth::Role;
use outreach_domain::{CaseCommand, CasePolicies, RosterPolicy};
use outreach_events::lifecycle::CloseReason;
use serde_json::{json, Value};

/// A referral of `staff_id` by `referred_by`, to be reached at `email`.
fn referral(referred_by: &str, staff_id: &str, email: &str) -> Value {
    json!({
        "referred_by": referred_by,
        "campus": "North",
        "unit": "ICU 4",
        "member": {
            "staff_id": staff_id,
            "name": {"given": "Ana", "family": "Silva"},
            "role": "Registered nurse",
            "discipline": "nurse",
            "department": "Critical care",
            "contact": {"email": email}
        }
    })
}

async fn events(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_colleague_is_told_the_same_whether_the_referral_opened_a_case_or_joined_one() {
    let app = TestApp::spawn().await;
    let colleague = app.token(Role::CareTeamMember, Some("E55"));

    let opened = app
        .post_as(
            &colleague,
            "/v1/referrals",
            Some(referral("colleague", "E7", "a@b")),
        )
        .await;
    let joined = app
        .post_as(
            &colleague,
            "/v1/referrals",
            Some(referral("colleague", "E7", "a@b")),
        )
        .await;

    for answer in [&opened, &joined] {
        assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.body);
        let fields: Vec<&String> = answer.body.as_object().unwrap().keys().collect();
        assert_eq!(fields, ["referral_id"], "{}", answer.body);
        assert!(answer.headers.get("location").is_none());
    }
    // It did join: the member has one case, and the staff are told so.
    let (member, _) = app.commands.member("E7").await.unwrap();
    let case_id = member.open_case().expect("an open case");
    let staff = app
        .post(
            "/v1/referrals",
            Some(referral("colleague", "E7", "a@b")),
            None,
        )
        .await;
    assert_eq!(staff.status, StatusCode::OK, "{}", staff.body);
    assert_eq!(staff.body["outcome"], "linked");
    assert_eq!(staff.body["case_id"], case_id.to_string());
}

#[tokio::test]
async fn a_self_referral_under_another_staff_id_is_refused_and_records_nothing() {
    let app = TestApp::spawn().await;
    let member = app.token(Role::CareTeamMember, Some("E55"));
    let before = events(&app).await;

    let other = app
        .post_as(
            &member,
            "/v1/referrals",
            Some(referral("self", "E7", "me@evil.example")),
        )
        .await;
    let none = app
        .post_as(
            &app.token(Role::CareTeamMember, None),
            "/v1/referrals",
            Some(referral("self", "E7", "a@b")),
        )
        .await;

    for refused in [other, none] {
        refused.assert_problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "self-referral-under-another-staff-id",
        );
        assert_eq!(refused.body["field"], "member.staff_id");
    }
    assert_eq!(events(&app).await, before);
    let own = app
        .post_as(
            &member,
            "/v1/referrals",
            Some(referral("self", "E55", "a@b")),
        )
        .await;
    assert_eq!(own.status, StatusCode::ACCEPTED, "{}", own.body);
}

#[tokio::test]
async fn a_campus_the_program_does_not_have_is_refused_by_name() {
    let policies = CasePolicies {
        roster: RosterPolicy {
            campuses: vec!["North".into(), "South".into()],
        },
        ..CasePolicies::default()
    };
    let app = TestApp::spawn_with_policies(policies).await;
    let before = events(&app).await;
    let mut body = referral("colleague", "E7", "a@b");
    body["campus"] = json!("=HYPERLINK(\"http://x\")");

    let refused = app.post("/v1/referrals", Some(body), None).await;

    refused.assert_problem(
        StatusCode::UNPROCESSABLE_ENTITY,
        "campus-not-of-the-program",
    );
    assert_eq!(refused.body["field"], "campus");
    assert_eq!(events(&app).await, before);
}

/// A colleague names someone the program already reached (their last case is closed): the new
/// case uses the details on record, not the address the colleague typed.
#[tokio::test]
async fn a_colleague_referral_takes_the_contact_details_on_record() {
    let app = TestApp::spawn().await;
    let earlier = app.open_case().await; // E7, ana.silva@hospital.example
    app.commands
        .act_on_case(
            earlier,
            CaseCommand::Close {
                reason: CloseReason::Withdrawn,
                at: Utc::now(),
            },
            None,
            &HashMap::new(),
        )
        .await
        .unwrap();
    let outreach = Arc::new(outreach_projections::OutreachProjection);
    app.project(outreach.clone()).await;
    let colleague = app.token(Role::CareTeamMember, Some("E55"));

    let answer = app
        .post_as(
            &colleague,
            "/v1/referrals",
            Some(referral("colleague", "E7", "insider@evil.example")),
        )
        .await;

    assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.body);
    app.project(outreach).await;
    let contacts: Vec<(Option<String>, bool)> = sqlx::query_as(
        "SELECT email, case_id = $1 FROM outreach_cases WHERE staff_id = 'E7' ORDER BY opened_at",
    )
    .bind(earlier)
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        contacts,
        [
            (Some("ana.silva@hospital.example".to_owned()), true),
            (Some("ana.silva@hospital.example".to_owned()), false),
        ]
    );
}
