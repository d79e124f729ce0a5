//! A case's timeline, as a program manager reads it: every step in the order it happened, with
//! its codes, against a real database and the real projection.

mod common;

use std::sync::Arc;

use axum::http::StatusCode;
use chrono::Utc;
use common::TestApp;
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

    let timeline = app.get(&format!("/v1/cases/{case_id}/timeline")).await;

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
