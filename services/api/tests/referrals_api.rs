//! Referrals are not an oracle: anyone but the program's staff is told only that a referral
//! was taken in, whether it opened a case or joined one; a self-referral is made under the
//! caller's own staff id; the campus is one of the program's; and a colleague's contact
//! details come from what the program has for them, not from the referrer: with nothing on
//! record, they are held until the program's staff confirm them.

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

/// The case a colleague's referral of `E7` opened (or joined).
async fn case_of_e7(app: &TestApp) -> uuid::Uuid {
    let (member, _) = app.commands.member("E7").await.unwrap();
    member.open_case().expect("an open case")
}

/// Outbox rows, of any kind, whose payload holds `text`.
async fn outbox_rows_holding(app: &TestApp, text: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM outbox WHERE strpos(payload::text, $1) > 0")
        .bind(text)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

/// Everything that could write to the member or tell a supporter how to reach them, and what
/// program managers read, brought up to the event store.
async fn project_all(app: &TestApp) {
    use outreach_projections as p;
    app.project(Arc::new(p::OutreachProjection)).await;
    app.project(Arc::new(p::CaseTimeline)).await;
    app.project(Arc::new(p::AssignmentNotices)).await;
    app.project(Arc::new(p::DirectorNotices)).await;
}

/// A colleague the program has no record of: the referrer is told what anyone is told, the
/// address they typed is held as a suggestion that reaches nobody (no supporter is assigned, no
/// outbox row holds it) until a program manager confirms it; then it is the member's contact.
#[tokio::test]
async fn a_colleague_with_nothing_on_record_waits_for_the_staff_to_confirm_the_contact() {
    let app = TestApp::spawn().await;
    app.put_on_roster("S1").await;
    let suggested = "insider@evil.example";
    let colleague = app.token(Role::CareTeamMember, Some("E55"));

    let held = app
        .post_as(
            &colleague,
            "/v1/referrals",
            Some(referral("colleague", "E7", suggested)),
        )
        .await;
    // The same answer as a referral that found a record or joined a case.
    let joined = app
        .post_as(
            &colleague,
            "/v1/referrals",
            Some(referral("supervisor", "E7", suggested)),
        )
        .await;
    for answer in [&held, &joined] {
        assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.body);
        let fields: Vec<&String> = answer.body.as_object().unwrap().keys().collect();
        assert_eq!(fields, ["referral_id"], "{}", answer.body);
        assert!(answer.headers.get("location").is_none());
    }
    let case_id = case_of_e7(&app).await;
    assert_eq!(
        app.event_types(case_id).await,
        ["CaseOpened", "ContactToConfirm", "TriggerLinked"]
    );
    // Sealed like the opening's personal part: the address is nowhere in the store in clear.
    let in_clear: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE strpos(payload::text, $1) > 0")
            .bind(suggested)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(in_clear, 0);
    project_all(&app).await;

    let case = app.get(&format!("/v1/cases/{case_id}")).await;
    assert_eq!(case.status, StatusCode::OK, "{}", case.body);
    assert_eq!(case.body["contact_to_confirm"], true);
    assert_eq!(case.body["suggested_contact"]["email"], suggested);
    assert_eq!(case.body["member"]["contact"]["email"], Value::Null);
    assert_eq!(case.body["member"]["name"]["given"], "Ana");
    let listed = app.get("/v1/cases").await;
    assert_eq!(listed.body["cases"][0]["contact_to_confirm"], true);

    // Nobody is lined up to reach the member through it, and nothing is sent to it.
    let assign = format!("/v1/cases/{case_id}/assignment");
    let refused = app
        .post(&assign, Some(json!({"supporter_id": "S1"})), None)
        .await;
    refused.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "contact-to-confirm");
    project_all(&app).await;
    assert_eq!(outbox_rows_holding(&app, suggested).await, 0);

    // A program manager confirms it, under their own name.
    let manager = app.token(Role::ProgramManager, Some("M1"));
    let confirmed = app
        .post_as(
            &manager,
            &format!("/v1/cases/{case_id}/contact-confirmation"),
            Some(json!({})),
        )
        .await;
    assert_eq!(confirmed.status, StatusCode::OK, "{}", confirmed.body);
    let author: Value = sqlx::query_scalar(
        "SELECT metadata FROM events WHERE aggregate_id = $1 AND event_type = 'ContactConfirmed'",
    )
    .bind(case_id.to_string())
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(author["author_role"], "program_manager", "{author}");
    assert_eq!(author["author_staff_id"], "M1", "{author}");
    let again = app
        .post_as(
            &manager,
            &format!("/v1/cases/{case_id}/contact-confirmation"),
            Some(json!({})),
        )
        .await;
    again.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "no-contact-to-confirm");

    // Now it is the member's contact: shown as such, and the supporter is told it.
    let assigned = app
        .post(&assign, Some(json!({"supporter_id": "S1"})), None)
        .await;
    assert_eq!(assigned.status, StatusCode::OK, "{}", assigned.body);
    project_all(&app).await;
    let case = app.get(&format!("/v1/cases/{case_id}")).await;
    assert_eq!(case.body["contact_to_confirm"], false);
    assert_eq!(case.body["suggested_contact"], Value::Null);
    assert_eq!(case.body["member"]["contact"]["email"], suggested);
    let notice: Value = sqlx::query_scalar(
        "SELECT payload FROM outbox WHERE kind = 'assignment' AND topic_key = $1",
    )
    .bind(case_id.to_string())
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(notice["member"]["email"], suggested, "{notice}");
}

/// A manager who knows better enters the member's own details in place of the suggestion; the
/// suggestion is never the member's contact.
#[tokio::test]
async fn a_manager_replaces_a_suggested_contact_with_the_members_own() {
    let app = TestApp::spawn().await;
    let colleague = app.token(Role::CareTeamMember, Some("E55"));
    let answer = app
        .post_as(
            &colleague,
            "/v1/referrals",
            Some(referral("colleague", "E7", "insider@evil.example")),
        )
        .await;
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.body);
    let case_id = case_of_e7(&app).await;
    let confirm = format!("/v1/cases/{case_id}/contact-confirmation");

    let no_route = app
        .post(
            &confirm,
            Some(json!({"replace_with": {"contact": {}, "preferred_channel": "phone"}})),
            None,
        )
        .await;
    no_route.assert_problem(StatusCode::BAD_REQUEST, "invalid-body");
    let replaced = app
        .post(
            &confirm,
            Some(json!({"replace_with": {
                "contact": {"phone": "+14155550100"}, "preferred_channel": "phone"}})),
            None,
        )
        .await;
    assert_eq!(replaced.status, StatusCode::OK, "{}", replaced.body);

    project_all(&app).await;
    let case = app.get(&format!("/v1/cases/{case_id}")).await;
    assert_eq!(case.body["contact_to_confirm"], false);
    assert_eq!(
        case.body["member"]["contact"],
        json!({"email": null, "phone": "+14155550100", "mobile": null, "preferred_channel": "phone"})
    );
    let timeline = app.get(&format!("/v1/cases/{case_id}/timeline")).await;
    let steps: Vec<&str> = timeline.body["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|step| step["step"].as_str().unwrap())
        .collect();
    assert_eq!(steps, ["opened", "contact_to_confirm", "contact_confirmed"]);
    assert_eq!(timeline.body["steps"][2]["reason"], "replaced");
}

/// What the program's staff refer, and a self-referral, is never held: the details given are
/// the member's.
#[tokio::test]
async fn a_staff_referral_or_a_self_referral_needs_no_confirmation() {
    let app = TestApp::spawn().await;
    let staff = app
        .post(
            "/v1/referrals",
            Some(referral("colleague", "E7", "a@b")),
            None,
        )
        .await;
    assert_eq!(staff.status, StatusCode::CREATED, "{}", staff.body);
    let member = app.token(Role::CareTeamMember, Some("E8"));
    let own = app
        .post_as(
            &member,
            "/v1/referrals",
            Some(referral("self", "E8", "e8@b")),
        )
        .await;
    assert_eq!(own.status, StatusCode::ACCEPTED, "{}", own.body);

    let held: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE event_type = 'ContactToConfirm'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(held, 0);
}
