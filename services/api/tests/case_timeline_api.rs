//! A case's timeline, as a program manager reads it: every step in the order it happened, with
//! its codes, against a real database and the real projection; and as the director reads it,
//! with who took each step.

mod common;

use std::sync::Arc;

use axum::http::StatusCode;
use chrono::Utc;
use common::TestApp;
use outreach_auth::Role;
use serde_json::json;
use uuid::Uuid;

#[tokio::test]
async fn a_worked_case_shows_every_step_in_order_with_its_codes_and_nothing_said() {
    let app = TestApp::spawn().await;
    let case_id = app.open_case().await;
    let today = Utc::now().date_naive();
    for (command, body) in [
        ("assignment", json!({"supporter_id": "E20001"})),
        (
            "contact-attempts",
            json!({"channel": "phone", "outcome": "no_answer"}),
        ),
        (
            "contact-attempts",
            json!({"channel": "text", "outcome": "reached"}),
        ),
        ("acceptance", json!({})),
        (
            "encounters",
            json!({"held_on": today, "modality": "in_person", "format": "individual",
                   "duration": "15_to_30_minutes"}),
        ),
        ("professional-referrals", json!({"service": "psychology"})),
        ("closure", json!({"reason": "completed"})),
    ] {
        let response = app
            .post(&format!("/v1/cases/{case_id}/{command}"), Some(body), None)
            .await;
        assert_eq!(
            response.status,
            StatusCode::OK,
            "{command}: {}",
            response.body
        );
    }
    app.project(Arc::new(outreach_projections::CaseTimeline))
        .await;
    let manager = app.token(Role::ProgramManager, Some("E90002"));

    let timeline = app
        .get_as(&manager, &format!("/v1/cases/{case_id}/timeline"))
        .await;

    assert_eq!(timeline.status, StatusCode::OK, "{}", timeline.body);
    let steps = timeline.body["steps"].as_array().expect("steps");
    let kinds: Vec<&str> = steps.iter().map(|s| s["step"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "opened",
            "supporter_assigned",
            "contact_attempted",
            "contact_attempted",
            "support_accepted",
            "encounter_recorded",
            "referred_to_professional_help",
            "closed"
        ]
    );
    assert_eq!(steps[0]["trigger"], "incident");
    assert_eq!(steps[1]["supporter_id"], "E20001");
    assert_eq!(
        (&steps[3]["channel"], &steps[3]["outcome"]),
        (&json!("text"), &json!("reached"))
    );
    let encounter = steps[5].as_object().unwrap();
    let mut fields: Vec<&str> = encounter.keys().map(String::as_str).collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        ["at", "duration", "format", "held_on", "modality", "step"],
        "an encounter is its date and codes: nothing that could hold what was said"
    );
    assert_eq!(steps[6]["service"], "psychology");
    assert_eq!(steps[7]["reason"], "completed");
    let times: Vec<&str> = steps.iter().map(|s| s["at"].as_str().unwrap()).collect();
    let mut sorted = times.clone();
    sorted.sort_unstable();
    assert_eq!(times, sorted, "oldest first");
}

#[tokio::test]
async fn the_timeline_of_an_unknown_case_is_not_found() {
    let app = TestApp::spawn().await;
    app.open_case().await;
    app.project(Arc::new(outreach_projections::CaseTimeline))
        .await;

    let response = app
        .get(&format!("/v1/cases/{}/timeline", Uuid::new_v4()))
        .await;

    response.assert_problem(StatusCode::NOT_FOUND, "case-not-found");
}

#[tokio::test]
async fn the_director_sees_who_took_each_step_and_a_manager_does_not() {
    let app = TestApp::spawn().await;
    let case_id = app.open_case().await;
    let manager = app.token(Role::ProgramManager, Some("E90002"));
    let supporter = app.token(Role::PeerSupporter, Some("E20001"));
    let assigned = app
        .post_as(
            &manager,
            &format!("/v1/cases/{case_id}/assignment"),
            Some(json!({"supporter_id": "E20001"})),
        )
        .await;
    assert_eq!(assigned.status, StatusCode::OK, "{}", assigned.body);
    let attempted = app
        .post_as(
            &supporter,
            &format!("/v1/cases/{case_id}/contact-attempts"),
            Some(json!({"channel": "phone", "outcome": "reached"})),
        )
        .await;
    assert_eq!(attempted.status, StatusCode::OK, "{}", attempted.body);
    app.project(Arc::new(outreach_projections::CaseTimeline))
        .await;

    let timeline = app.get(&format!("/v1/cases/{case_id}/timeline")).await;

    let steps = timeline.body["steps"].as_array().expect("steps");
    // Opened by the command side in this test, with no author: as the service's own step.
    assert_eq!(steps[0]["author"]["subject"], json!(null));
    assert_eq!(
        steps[1]["author"],
        json!({"source": "api", "role": "program_manager", "subject": "oidc|program_manager",
               "staff_id": "E90002", "relation": null})
    );
    assert_eq!(steps[2]["author"]["role"], "peer_supporter");
    assert_eq!(steps[2]["author"]["staff_id"], "E20001");
    let as_manager = app
        .get_as(&manager, &format!("/v1/cases/{case_id}/timeline"))
        .await;
    assert_eq!(as_manager.status, StatusCode::OK);
    assert!(
        !as_manager.body.to_string().contains("author"),
        "{}",
        as_manager.body
    );
}
