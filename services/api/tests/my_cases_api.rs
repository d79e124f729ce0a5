//! A peer supporter sees the cases assigned to them, and in them only who to reach and how;
//! the safety office sees statistics and no case.

mod common;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use axum::http::StatusCode;
use common::{open_command, TestApp};
use outreach_auth::Role;
use serde_json::json;
use uuid::Uuid;

async fn case_of(app: &TestApp, member: &str, supporter: &str) -> Uuid {
    let case_id = Uuid::new_v4();
    app.commands
        .handle_case(case_id, open_command(case_id, member), &HashMap::new())
        .await
        .expect("open the case");
    let assigned = app
        .post(
            &format!("/v1/cases/{case_id}/assignment"),
            Some(json!({"supporter_id": supporter})),
            None,
        )
        .await;
    assert_eq!(assigned.status, StatusCode::OK, "{}", assigned.body);
    case_id
}

async fn project(app: &TestApp) {
    app.project(Arc::new(outreach_projections::OutreachProjection))
        .await;
    app.project_matching().await;
}

#[tokio::test]
async fn a_supporter_sees_their_own_case_with_contact_details_and_preferences_only() {
    let app = TestApp::spawn().await;
    let mine = case_of(&app, "E7", "E20001").await;
    let theirs = case_of(&app, "E8", "E30003").await;
    let stated = app
        .put(
            "/v1/members/E7/preferences",
            json!({"channel": "phone", "supporter_specialty": "Cardiology"}),
        )
        .await;
    assert_eq!(stated.status, StatusCode::OK, "{}", stated.body);
    project(&app).await;
    let supporter = app.token(Role::PeerSupporter, Some("E20001"));

    let list = app.get_as(&supporter, "/v1/my/cases").await;

    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    let cases = list.body["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 1, "{}", list.body);
    let case = &cases[0];
    assert_eq!(case["case_id"], json!(mine));
    let fields: BTreeSet<&str> = case
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        fields,
        BTreeSet::from([
            "case_id",
            "version",
            "status",
            "first_contact_due",
            "name",
            "contact",
            "preferences"
        ])
    );
    assert_eq!(case["name"], json!({"given": "Ana", "family": "Silva"}));
    assert_eq!(case["contact"]["email"], "ana.silva@hospital.example");
    assert_eq!(case["preferences"]["supporter_specialty"], "Cardiology");
    // Nothing about the report, the unit, or the member's role and department.
    for absent in ["INC-", "ICU 4", "Registered nurse", "Critical care", "E7"] {
        assert!(
            !list.body.to_string().contains(absent),
            "{absent} in {}",
            list.body
        );
    }

    let one = app
        .get_as(&supporter, &format!("/v1/my/cases/{mine}"))
        .await;
    assert_eq!(one.status, StatusCode::OK);
    assert_eq!(one.body["case_id"], json!(mine));
    app.get_as(&supporter, &format!("/v1/my/cases/{theirs}"))
        .await
        .assert_problem(StatusCode::NOT_FOUND, "case-not-found");
}

#[tokio::test]
async fn a_supporter_records_steps_on_their_own_case_and_on_no_other() {
    let app = TestApp::spawn().await;
    let mine = case_of(&app, "E7", "E20001").await;
    let theirs = case_of(&app, "E8", "E30003").await;
    let supporter = app.token(Role::PeerSupporter, Some("E20001"));
    let attempt = json!({"channel": "phone", "outcome": "reached"});

    let on_mine = app
        .post_as(
            &supporter,
            &format!("/v1/cases/{mine}/contact-attempts"),
            Some(attempt.clone()),
        )
        .await;
    let on_theirs = app
        .post_as(
            &supporter,
            &format!("/v1/cases/{theirs}/contact-attempts"),
            Some(attempt),
        )
        .await;

    assert_eq!(on_mine.status, StatusCode::OK, "{}", on_mine.body);
    on_theirs.assert_problem(StatusCode::FORBIDDEN, "forbidden");
    assert_eq!(
        app.event_types(theirs).await,
        ["CaseOpened", "SupporterAssigned"],
        "nothing was recorded on the other supporter's case"
    );
    // Nor may they see the program's view of either case, or reassign one.
    app.get_as(&supporter, &format!("/v1/cases/{mine}"))
        .await
        .assert_problem(StatusCode::FORBIDDEN, "forbidden");
    app.post_as(
        &supporter,
        &format!("/v1/cases/{theirs}/assignment"),
        Some(json!({"supporter_id": "E20001"})),
    )
    .await
    .assert_problem(StatusCode::FORBIDDEN, "forbidden");
}

#[tokio::test]
async fn the_safety_office_reads_statistics_and_cannot_open_a_case() {
    let app = TestApp::spawn().await;
    let case_id = case_of(&app, "E7", "E20001").await;
    project(&app).await;
    let safety_office = app.token(Role::SafetyOffice, None);

    let statistics = app
        .get_as(&safety_office, "/v1/statistics?period=2026-Q3")
        .await;
    assert_eq!(statistics.status, StatusCode::OK, "{}", statistics.body);
    for forbidden in [
        format!("/v1/cases/{case_id}"),
        "/v1/cases".to_owned(),
        "/v1/supporters".to_owned(),
        "/v1/members/E7".to_owned(),
        "/v1/my/cases".to_owned(),
    ] {
        app.get_as(&safety_office, &forbidden)
            .await
            .assert_problem(StatusCode::FORBIDDEN, "forbidden");
    }
}
