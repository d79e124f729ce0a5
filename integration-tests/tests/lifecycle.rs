//! A program manager and a peer supporter work a case from opening to closing, through the API.

use integration_tests::reports::{incident, staff};
use integration_tests::{case_of, eventually, metric_value, TestBed};
use outreach_domain::deadline::Allowance;
use outreach_intake::sample::Mode;
use serde_json::json;

#[tokio::test]
async fn a_case_is_assigned_contacted_accepted_met_and_closed_and_the_read_model_follows() {
    let bed = TestBed::new().await;
    let service = bed.start().await;
    for supporter in ["P1", "S9", "S8"] {
        bed.put_on_roster(&service, supporter).await;
    }
    bed.publish(
        &incident(
            "INC-500",
            vec![staff("N1", "nurse"), staff("P1", "physician")],
        ),
        Mode::Structured,
    )
    .await;
    let cases = bed
        .wait_for_cases(&service, "two cases", |cases| cases.len() == 2)
        .await;
    let case = case_of(&cases, "N1");
    let id = case["case_id"].as_str().unwrap().to_string();
    assert_eq!(case["status"], "open");
    assert_eq!(case["version"], 1);
    assert!(
        case["first_contact_due"].is_string(),
        "a deadline is set at opening: {case}"
    );
    let path = |what: &str| format!("/v1/cases/{id}/{what}");

    // A colleague named on the same report cannot be the supporter.
    let (status, problem) = bed
        .post(
            &service,
            &path("assignment"),
            json!({"supporter_id": "P1"}),
            Some(1),
        )
        .await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["rule"], "supporter-named-in-report");

    let (status, assigned) = bed
        .post(
            &service,
            &path("assignment"),
            json!({"supporter_id": "S9"}),
            Some(1),
        )
        .await;
    assert_eq!(
        (status, assigned["version"].as_u64()),
        (200, Some(2)),
        "{assigned}"
    );

    // A second manager who still sees version 1 is told the case has moved on.
    let (status, stale) = bed
        .post(
            &service,
            &path("assignment"),
            json!({"supporter_id": "S8"}),
            Some(1),
        )
        .await;
    assert_eq!(status, 409, "{stale}");
    assert_eq!(stale["current_version"], 2);

    for (what, body) in [
        (
            "contact-attempts",
            json!({"channel": "email", "outcome": "no_answer"}),
        ),
        (
            "contact-attempts",
            json!({"channel": "phone", "outcome": "reached"}),
        ),
        ("acceptance", json!({})),
        (
            "encounters",
            json!({"held_on": "2026-11-20", "modality": "video", "format": "individual", "duration": "30_to_60_minutes"}),
        ),
        ("resources", json!({})),
        ("closure", json!({"reason": "completed"})),
    ] {
        let (status, answer) = bed.post(&service, &path(what), body, None).await;
        assert_eq!(status, 200, "{what}: {answer}");
    }

    let closed = bed
        .wait_for_case(
            &service,
            &id,
            "the read model to show the closed case",
            |case| case["status"] == "closed",
        )
        .await;
    assert_eq!(closed["supporter_id"], "S9");
    assert_eq!(closed["decision"], "accepted");
    assert_eq!(closed["close_reason"], "completed");
    assert_eq!(
        (
            closed["contact_attempts"].as_u64(),
            closed["encounters"].as_u64()
        ),
        (Some(2), Some(1))
    );
    assert_eq!(closed["overdue"], false);
    assert_eq!(closed["version"], 8);

    // What was said is never recorded: a body that tries is refused whole.
    let (status, _) = bed
        .post(
            &service,
            &path("reopening"),
            json!({"notes": "talked about the night shift"}),
            None,
        )
        .await;
    assert_eq!(status, 400);
    service.stop().await;
}

#[tokio::test]
async fn a_declined_member_is_not_contacted_again() {
    let bed = TestBed::new().await;
    let service = bed.start().await;
    bed.put_on_roster(&service, "S1").await;
    bed.publish(
        &incident("INC-501", vec![staff("D1", "nurse")]),
        Mode::Structured,
    )
    .await;
    let cases = bed
        .wait_for_cases(&service, "the case", |cases| cases.len() == 1)
        .await;
    let id = cases[0]["case_id"].as_str().unwrap();
    let path = |what: &str| format!("/v1/cases/{id}/{what}");
    bed.post(
        &service,
        &path("assignment"),
        json!({"supporter_id": "S1"}),
        None,
    )
    .await;
    bed.post(
        &service,
        &path("contact-attempts"),
        json!({"channel": "text", "outcome": "reached"}),
        None,
    )
    .await;
    let (status, _) = bed.post(&service, &path("decline"), json!({}), None).await;
    assert_eq!(status, 200);
    let (status, problem) = bed
        .post(
            &service,
            &path("contact-attempts"),
            json!({"channel": "phone", "outcome": "reached"}),
            None,
        )
        .await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["rule"], "no-contact-after-decline");
    service.stop().await;
}

#[tokio::test]
async fn cases_past_their_first_contact_deadline_stand_out_until_someone_tries() {
    // A program that promises contact within the minute, so the deadline passes during the test.
    let bed = TestBed::with(|s| {
        s.policy.deadlines.first_contact = Allowance::Minutes(0);
        s.telemetry.gauge_interval_ms = 100;
    })
    .await;
    let service = bed.start().await;
    bed.put_on_roster(&service, "S1").await;
    bed.publish(
        &incident("INC-502", vec![staff("O1", "nurse"), staff("O2", "nurse")]),
        Mode::Structured,
    )
    .await;
    let cases = bed
        .wait_for_cases(&service, "two cases", |cases| cases.len() == 2)
        .await;
    assert!(cases.iter().all(|c| c["overdue"] == true), "{cases:#?}");

    let id = case_of(&cases, "O1")["case_id"]
        .as_str()
        .unwrap()
        .to_string();
    bed.post(
        &service,
        &format!("/v1/cases/{id}/assignment"),
        json!({"supporter_id": "S1"}),
        None,
    )
    .await;
    bed.post(
        &service,
        &format!("/v1/cases/{id}/contact-attempts"),
        json!({"channel": "email", "outcome": "message_left"}),
        None,
    )
    .await;
    let overdue = eventually(
        "only the untouched case to be overdue",
        || async { bed.get(&service, "/v1/cases?overdue=true").await.1 },
        |page| page["cases"].as_array().is_some_and(|c| c.len() == 1),
    )
    .await;
    assert_eq!(overdue["cases"][0]["member"]["staff_id"], "O2");
    // Operators see the same figure.
    eventually(
        "the overdue gauge",
        || bed.metrics(&service),
        |text| metric_value(text, "peer_outreach_cases_overdue", &[]) == Some(1.0),
    )
    .await;
    service.stop().await;
}
