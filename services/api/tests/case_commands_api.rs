//! Program managers' and supporters' commands on a case, through HTTP to the event store of a
//! real database. The read model is not projected here: cases are opened through the command
//! side, and what the commands did is read from the event store.

mod common;

use std::collections::HashMap;

use axum::http::StatusCode;
use chrono::{Duration, Utc};
use common::{post_request, TestApp, TestResponse};
use serde_json::{json, Value};
use uuid::Uuid;

/// Asserts a successful command: the case's new version in the body and as the ETag.
fn assert_version(response: &TestResponse, case_id: Uuid, version: u64) {
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    assert_eq!(
        response.body,
        json!({"case_id": case_id, "version": version})
    );
    assert_eq!(
        response.headers.get("etag").unwrap(),
        &format!("\"{version}\"")
    );
}

fn uri(case_id: Uuid, command: &str) -> String {
    format!("/v1/cases/{case_id}/{command}")
}

#[tokio::test]
async fn a_program_manager_assigns_a_supporter_and_gets_the_new_version() {
    let app = TestApp::spawn().await;
    let case_id = app.open_case().await;

    let response = app
        .post(
            &uri(case_id, "assignment"),
            Some(json!({"supporter_id": "E20001"})),
            Some("\"1\""),
        )
        .await;

    assert_version(&response, case_id, 2);
    assert_eq!(
        app.event_types(case_id).await,
        ["CaseOpened", "SupporterAssigned"]
    );
    let payload: Value = sqlx::query_scalar(
        "SELECT payload FROM events WHERE aggregate_id = $1 AND event_type = 'SupporterAssigned'",
    )
    .bind(case_id.to_string())
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(payload["SupporterAssigned"]["supporter_id"], "E20001");
}

#[tokio::test]
async fn a_supporter_reaches_the_member_who_accepts_and_an_encounter_is_recorded() {
    let app = TestApp::spawn().await;
    let case_id = app.open_case().await;
    let today = Utc::now().date_naive();

    let steps = [
        ("assignment", Some(json!({"supporter_id": "E20001"}))),
        (
            "contact-attempts",
            Some(json!({"channel": "phone", "outcome": "no_answer"})),
        ),
        (
            "contact-attempts",
            Some(json!({"channel": "text", "outcome": "message_left"})),
        ),
        (
            "contact-attempts",
            Some(json!({"channel": "phone", "outcome": "reached"})),
        ),
        // No body at all, and an empty object, are the same command.
        ("acceptance", None),
        (
            "encounters",
            Some(json!({
                "held_on": today,
                "modality": "video",
                "format": "individual",
                "duration": "30_to_60_minutes"
            })),
        ),
    ];
    let mut version = 1;
    for (command, body) in steps {
        // Each command is made on the version the previous one returned; quotes optional.
        let if_match = if version % 2 == 0 {
            format!("\"{version}\"")
        } else {
            version.to_string()
        };
        let response = app
            .post(&uri(case_id, command), body, Some(&if_match))
            .await;
        version += 1;
        assert_version(&response, case_id, version);
    }

    assert_eq!(
        app.event_types(case_id).await,
        [
            "CaseOpened",
            "SupporterAssigned",
            "ContactAttempted",
            "ContactAttempted",
            "ContactAttempted",
            "SupportAccepted",
            "EncounterRecorded"
        ]
    );
    // The encounter is its date, modality, format and length band, and when it was recorded:
    // nothing that could hold what was said.
    let encounter: Value = sqlx::query_scalar(
        "SELECT payload FROM events WHERE aggregate_id = $1 AND event_type = 'EncounterRecorded'",
    )
    .bind(case_id.to_string())
    .fetch_one(&app.pool)
    .await
    .unwrap();
    let encounter = encounter["EncounterRecorded"]
        .as_object()
        .expect("an EncounterRecorded payload");
    let mut fields: Vec<&str> = encounter.keys().map(String::as_str).collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        ["duration", "format", "held_on", "modality", "recorded_at"]
    );
    assert_eq!(encounter["held_on"], json!(today));
    assert_eq!(encounter["modality"], "video");
    assert_eq!(encounter["format"], "individual");
    assert_eq!(encounter["duration"], "30_to_60_minutes");
}

#[tokio::test]
async fn resources_referrals_escalations_closing_and_reopening() {
    let app = TestApp::spawn().await;
    let case_id = app.open_case().await;
    for (command, body) in [
        ("assignment", json!({"supporter_id": "E20001"})),
        (
            "contact-attempts",
            json!({"channel": "email", "outcome": "reached"}),
        ),
        ("acceptance", json!({})),
    ] {
        let response = app.post(&uri(case_id, command), Some(body), None).await;
        assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    }

    let steps = [
        ("resources", Some(json!({}))),
        (
            "professional-referrals",
            Some(json!({"service": "employee_assistance"})),
        ),
        (
            "escalations",
            Some(json!({"category": "impairment_putting_patients_at_risk"})),
        ),
        ("closure", Some(json!({"reason": "completed"}))),
        ("reopening", None),
    ];
    let mut version = 4;
    for (command, body) in steps {
        let response = app.post(&uri(case_id, command), body, None).await;
        version += 1;
        assert_version(&response, case_id, version);
    }

    assert_eq!(
        app.event_types(case_id).await[4..],
        [
            "ResourcesSent",
            "ReferredToProfessionalHelp",
            "EscalationRecorded",
            "CaseClosed",
            "CaseReopened"
        ]
    );
}

#[tokio::test]
async fn contact_after_a_decline_is_refused_naming_the_rule() {
    let app = TestApp::spawn().await;
    let case_id = app.open_case().await;
    for (command, body) in [
        ("assignment", Some(json!({"supporter_id": "E20001"}))),
        (
            "contact-attempts",
            Some(json!({"channel": "phone", "outcome": "reached"})),
        ),
        ("decline", None),
    ] {
        let response = app.post(&uri(case_id, command), body, None).await;
        assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    }
    let before = app.event_types(case_id).await;

    let response = app
        .post(
            &uri(case_id, "contact-attempts"),
            Some(json!({"channel": "phone", "outcome": "reached"})),
            Some("\"4\""),
        )
        .await;

    response.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "no-contact-after-decline");
    assert_eq!(response.body["rule"], "no-contact-after-decline");
    assert_eq!(response.body.get("current_version"), None);
    assert_eq!(app.event_types(case_id).await, before);
    // Resources still go to a member who declined (promise 4).
    let resources = app.post(&uri(case_id, "resources"), None, None).await;
    assert_version(&resources, case_id, 5);
}

#[tokio::test]
async fn domain_refusals_are_422_problems_named_after_their_rule() {
    let app = TestApp::spawn().await;
    let case_id = app.open_case().await;
    app.put_on_roster("E7").await;

    // The member cannot support themselves.
    let themselves = app
        .post(
            &uri(case_id, "assignment"),
            Some(json!({"supporter_id": "E7"})),
            None,
        )
        .await;
    // Nobody has reached the member yet.
    let acceptance = app.post(&uri(case_id, "acceptance"), None, None).await;
    // An open case cannot be reopened.
    let reopening = app.post(&uri(case_id, "reopening"), None, None).await;
    // `completed` needs the member to have accepted.
    let closure = app
        .post(
            &uri(case_id, "closure"),
            Some(json!({"reason": "completed"})),
            None,
        )
        .await;

    for (response, rule) in [
        (&themselves, "supporter-is-the-member"),
        (&acceptance, "member-not-reached"),
        (&reopening, "case-not-closed"),
        (&closure, "close-reason-does-not-fit"),
    ] {
        let detail = response.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, rule);
        assert_eq!(response.body["rule"], rule);
        assert!(!detail.is_empty());
    }
    assert_eq!(app.event_types(case_id).await, ["CaseOpened"]);
}

#[tokio::test]
async fn acting_on_an_unknown_case_is_a_404_problem() {
    let app = TestApp::spawn().await;
    let unknown = Uuid::new_v4();

    for (command, body, if_match) in [
        ("assignment", Some(json!({"supporter_id": "E20001"})), None),
        ("decline", None, None),
        ("reopening", None, None),
        // Even with a version the unknown case never had.
        (
            "closure",
            Some(json!({"reason": "withdrawn"})),
            Some("\"5\""),
        ),
    ] {
        let response = app.post(&uri(unknown, command), body, if_match).await;

        response.assert_problem(StatusCode::NOT_FOUND, "case-not-found");
    }
    assert!(app.event_types(unknown).await.is_empty());
}

#[tokio::test]
async fn a_stale_if_match_is_a_409_problem_with_the_current_version_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let case_id = app.open_case().await;
    let assigned = app
        .post(
            &uri(case_id, "assignment"),
            Some(json!({"supporter_id": "E20001"})),
            Some("\"1\""),
        )
        .await;
    assert_version(&assigned, case_id, 2);

    // A second manager, still looking at version 1, assigns someone else.
    let response = app
        .post(
            &uri(case_id, "assignment"),
            Some(json!({"supporter_id": "E30003"})),
            Some("\"1\""),
        )
        .await;

    let detail = response.assert_problem(StatusCode::CONFLICT, "stale-version");
    assert_eq!(response.body["current_version"], 2);
    assert_eq!(response.body.get("rule"), None);
    assert!(detail.contains('2'), "{detail}");
    assert_eq!(
        app.event_types(case_id).await,
        ["CaseOpened", "SupporterAssigned"]
    );
}

#[tokio::test]
async fn of_two_concurrent_commands_on_the_same_version_exactly_one_wins() {
    let app = TestApp::spawn().await;
    let case_id = app.open_case().await;
    let assign = |supporter: &str| {
        app.send(post_request(
            &uri(case_id, "assignment"),
            Some(json!({"supporter_id": supporter})),
            Some("\"1\""),
        ))
    };

    let (first, second) = tokio::join!(assign("E20001"), assign("E30003"));

    let mut statuses = [first.status, second.status];
    statuses.sort();
    assert_eq!(
        statuses,
        [StatusCode::OK, StatusCode::CONFLICT],
        "{} / {}",
        first.body,
        second.body
    );
    let (winner, loser) = if first.status == StatusCode::OK {
        (&first, &second)
    } else {
        (&second, &first)
    };
    assert_version(winner, case_id, 2);
    loser.assert_problem(StatusCode::CONFLICT, "stale-version");
    assert_eq!(
        app.event_types(case_id).await,
        ["CaseOpened", "SupporterAssigned"]
    );
}

#[tokio::test]
async fn an_unknown_field_is_a_400_problem_naming_it_and_nothing_is_recorded() {
    let app = TestApp::spawn().await;
    let case_id = app.open_case().await;
    app.post(
        &uri(case_id, "assignment"),
        Some(json!({"supporter_id": "E20001"})),
        None,
    )
    .await;

    let attempt = app
        .post(
            &uri(case_id, "contact-attempts"),
            Some(json!({"outcome": "reached", "channel": "phone", "notes": "she cried"})),
            None,
        )
        .await;
    // Commands without fields take none either.
    let resources = app
        .post(
            &uri(case_id, "resources"),
            Some(json!({"notes": "sent the brochure"})),
            None,
        )
        .await;

    for response in [&attempt, &resources] {
        let detail = response.assert_problem(StatusCode::BAD_REQUEST, "invalid-body");
        assert!(detail.contains("`notes`"), "{detail}");
    }
    assert_eq!(
        app.event_types(case_id).await,
        ["CaseOpened", "SupporterAssigned"]
    );
}

#[tokio::test]
async fn malformed_bodies_are_400_problems_naming_the_field() {
    let app = TestApp::spawn().await;
    let case_id = app.open_case().await;

    for (command, body, field) in [
        (
            "contact-attempts",
            json!({"channel": "fax", "outcome": "reached"}),
            "channel",
        ),
        ("contact-attempts", json!({"channel": "phone"}), "outcome"),
        (
            "encounters",
            json!({"held_on": "24/11/2026", "modality": "phone", "format": "group", "duration": "under_15_minutes"}),
            "held_on",
        ),
        (
            "encounters",
            json!({"held_on": "2026-11-24", "modality": "phone", "format": "group", "duration": "45_minutes"}),
            "duration",
        ),
        (
            "assignment",
            json!({"supporter_id": "E2 called her"}),
            "supporter_id",
        ),
        ("assignment", json!({"supporter_id": 20001}), "supporter_id"),
        ("closure", json!({"reason": "resolved"}), "reason"),
        ("escalations", json!({"category": "other"}), "category"),
        ("professional-referrals", json!({}), "service"),
    ] {
        let response = app.post(&uri(case_id, command), Some(body), None).await;

        let detail = response.assert_problem(StatusCode::BAD_REQUEST, "invalid-body");
        assert!(detail.contains(field), "{command}, {field}: {detail}");
    }
    // A command with fields sent without a body is told it needs one.
    let empty = app.post(&uri(case_id, "assignment"), None, None).await;
    let detail = empty.assert_problem(StatusCode::BAD_REQUEST, "invalid-body");
    assert!(detail.contains("body is required"), "{detail}");
    assert_eq!(app.event_types(case_id).await, ["CaseOpened"]);
}

#[tokio::test]
async fn a_body_that_is_not_json_is_a_400_or_415_problem() {
    let app = TestApp::spawn().await;
    let case_id = app.open_case().await;
    let send = |content_type: &'static str, body: &'static str| {
        let request = axum::http::Request::post(uri(case_id, "assignment"))
            .header("content-type", content_type)
            .body(axum::body::Body::from(body))
            .unwrap();
        app.send(request)
    };

    send("application/json", "{\"supporter_id\": ")
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "invalid-body");
    send("application/json", "[]")
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "invalid-body");
    send("text/plain", "supporter_id=E20001")
        .await
        .assert_problem(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported-media-type");
    // Parameters and structured-syntax suffixes are fine.
    let ok = send(
        "application/json; charset=utf-8",
        "{\"supporter_id\": \"E20001\"}",
    )
    .await;
    assert_version(&ok, case_id, 2);
}

#[tokio::test]
async fn a_malformed_if_match_is_a_400_problem_that_does_not_repeat_it() {
    let app = TestApp::spawn().await;
    let case_id = app.open_case().await;

    let mut details = Vec::new();
    for if_match in ["W/\"1\"", "latest", "\"1", "\"1\", \"2\"", "-1"] {
        let response = app
            .post(
                &uri(case_id, "assignment"),
                Some(json!({"supporter_id": "E20001"})),
                Some(if_match),
            )
            .await;

        let detail = response.assert_problem(StatusCode::BAD_REQUEST, "invalid-parameter");
        assert!(detail.contains("`If-Match`"), "{detail}");
        assert!(!detail.contains(if_match), "{if_match:?} echoed: {detail}");
        details.push(detail);
    }
    // One fixed sentence, whatever was sent.
    details.dedup();
    assert_eq!(details.len(), 1, "{details:?}");
    // `*` is any version.
    let any = app
        .post(
            &uri(case_id, "assignment"),
            Some(json!({"supporter_id": "E20001"})),
            Some("*"),
        )
        .await;
    assert_version(&any, case_id, 2);
}

#[tokio::test]
async fn a_case_id_that_is_not_a_uuid_is_a_400_problem_and_get_is_not_a_command() {
    let app = TestApp::spawn().await;

    let response = app.post("/v1/cases/not-a-uuid/decline", None, None).await;
    let detail = response.assert_problem(StatusCode::BAD_REQUEST, "invalid-parameter");
    assert!(detail.contains("`case_id`"), "{detail}");

    let get = app.get(&uri(Uuid::new_v4(), "decline")).await;
    get.assert_problem(StatusCode::METHOD_NOT_ALLOWED, "method-not-allowed");
    assert_eq!(get.headers.get("allow").unwrap(), "POST");
}

#[tokio::test]
async fn an_encounter_on_a_day_yet_to_come_is_refused() {
    let app = TestApp::spawn().await;
    let case_id = app.open_case().await;
    let metadata = HashMap::new();
    for command in [
        outreach_domain::CaseCommand::Assign {
            supporter_id: "E20001".into(),
            named_in_report: false,
            at: Utc::now(),
        },
        outreach_domain::CaseCommand::RecordContactAttempt {
            channel: outreach_events::Channel::Phone,
            outcome: outreach_events::lifecycle::ContactOutcome::Reached,
            at: Utc::now(),
        },
    ] {
        app.commands
            .act_on_case(case_id, command, None, &metadata)
            .await
            .unwrap();
    }

    let response = app
        .post(
            &uri(case_id, "encounters"),
            Some(json!({
                "held_on": (Utc::now() + Duration::days(2)).date_naive(),
                "modality": "in_person",
                "format": "group",
                "duration": "over_60_minutes"
            })),
            None,
        )
        .await;

    response.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "encounter-in-the-future");
}

#[tokio::test]
async fn an_unreachable_event_store_is_a_503_problem_that_reveals_nothing() {
    let app = TestApp::without_database();

    let response = app
        .post(
            &uri(Uuid::new_v4(), "assignment"),
            Some(json!({"supporter_id": "E20001"})),
            None,
        )
        .await;

    let detail = response.assert_problem(StatusCode::SERVICE_UNAVAILABLE, "unavailable");
    for leak in ["127.0.0.1", "postgres", "connection", "sqlx", "pool"] {
        assert!(!detail.contains(leak), "detail mentions {leak:?}: {detail}");
    }
    assert!(response.headers.get("retry-after").is_some());
}

#[tokio::test]
async fn an_oversized_command_body_is_a_413_problem() {
    let app = TestApp::without_database();
    let padding = "x".repeat(64 * 1024);

    let response = app
        .post(
            &uri(Uuid::new_v4(), "assignment"),
            Some(json!({"supporter_id": "E20001", "padding": padding})),
            None,
        )
        .await;

    response.assert_problem(StatusCode::PAYLOAD_TOO_LARGE, "payload-too-large");
}
