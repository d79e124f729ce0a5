//! Liveness, readiness, the OpenAPI document, and how the API answers requests it has no route for.

mod common;

use axum::http::{Method, StatusCode};
use common::TestApp;
use serde_json::json;

#[tokio::test]
async fn healthz_answers_ok_even_when_the_database_is_down() {
    let app = TestApp::without_database();

    let response = app.get("/healthz").await;

    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.body, json!({"status": "ok"}));
}

#[tokio::test]
async fn readyz_is_ready_when_database_and_broker_are_up() {
    let app = TestApp::spawn().await;

    let response = app.get("/readyz").await;

    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(
        response.body,
        json!({"status": "ready", "database": "ok", "broker": "ok", "projections": []})
    );
}

#[tokio::test]
async fn readyz_reports_the_broker_unreachable_as_503() {
    let app = TestApp::spawn().await;
    app.broker.set_reachable(false);

    let response = app.get("/readyz").await;

    assert_eq!(response.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        response.body,
        json!({"status": "unavailable", "database": "ok", "broker": "unreachable", "projections": []})
    );

    // The probe recovers and so does readiness.
    app.broker.set_reachable(true);
    assert_eq!(app.get("/readyz").await.status, StatusCode::OK);
}

#[tokio::test]
async fn readyz_reports_the_database_unreachable_as_503() {
    let app = TestApp::without_database();

    let response = app.get("/readyz").await;

    assert_eq!(response.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        response.body,
        json!({"status": "unavailable", "database": "unreachable", "broker": "ok", "projections": null})
    );
}

#[tokio::test]
async fn readyz_reports_projection_lag_without_failing_readiness() {
    let app = TestApp::spawn().await;
    let append = |aggregate: &'static str| {
        // One statement is one transaction: its events share a transaction id.
        sqlx::query(
            "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
             SELECT 'OutreachCase', $1, s, 'CaseOpened', '1.0', '{}', '{}' FROM generate_series(0, 2) s",
        )
        .bind(aggregate)
        .execute(&app.pool)
    };
    append("case-a").await.unwrap();
    // The outreach projection has applied the first event; statistics none at all.
    sqlx::query(
        "INSERT INTO projection_checkpoints (projection, transaction_id, global_position)
         SELECT 'outreach_cases', transaction_id, global_position FROM events
         WHERE aggregate_id = 'case-a' ORDER BY global_position LIMIT 1",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    sqlx::query("INSERT INTO projection_checkpoints (projection) VALUES ('statistics')")
        .execute(&app.pool)
        .await
        .unwrap();
    append("case-b").await.unwrap();

    let response = app.get("/readyz").await;

    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(
        response.body["projections"],
        json!([
            {"name": "outreach_cases", "lag_events": 5},
            // Every event: the six of the cases and the two of the test app's roster.
            {"name": "statistics", "lag_events": 8}
        ])
    );
}

#[tokio::test]
async fn the_openapi_document_lists_every_route() {
    let app = TestApp::without_database();

    let response = app.get("/openapi.json").await;

    assert_eq!(response.status, StatusCode::OK);
    let doc = &response.body;
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    for path in [
        "/v1/cases",
        "/v1/cases/{case_id}",
        "/healthz",
        "/readyz",
        "/metrics",
        "/openapi.json",
        "/v1/members/{staff_id}",
        "/v1/group-debriefs",
    ] {
        assert!(doc["paths"][path]["get"].is_object(), "{path} missing");
    }
    for schema in [
        "Problem",
        "Case",
        "CaseList",
        "Readiness",
        "Health",
        "CaseVersion",
        "AssignSupporter",
        "RecordContactAttempt",
        "RecordEncounter",
        "ReferToProfessionalHelp",
        "RecordEscalation",
        "CloseCase",
        "NoFields",
        "Referral",
        "ReferredMember",
        "ReferredName",
        "ReferralContact",
        "Referred",
        "StatePreferences",
        "MemberVersion",
        "MemberRecord",
        "MemberPreferences",
    ] {
        assert!(
            doc["components"]["schemas"][schema].is_object(),
            "{schema} missing"
        );
    }
    let list_params: Vec<&str> = doc["paths"]["/v1/cases"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        list_params,
        ["status", "campus", "overdue", "limit", "after"]
    );
    assert!(
        doc["paths"]["/v1/cases/{case_id}"]["get"]["responses"]["200"]["headers"]["ETag"]
            .is_object()
    );

    // Every command: its body, the If-Match header, the new version as ETag, and its problems.
    for (command, body) in [
        ("assignment", "AssignSupporter"),
        ("contact-attempts", "RecordContactAttempt"),
        ("decline", "NoFields"),
        ("acceptance", "NoFields"),
        ("encounters", "RecordEncounter"),
        ("resources", "NoFields"),
        ("professional-referrals", "ReferToProfessionalHelp"),
        ("escalations", "RecordEscalation"),
        ("closure", "CloseCase"),
        ("reopening", "NoFields"),
        ("merge", "MergeCase"),
    ] {
        let path = format!("/v1/cases/{{case_id}}/{command}");
        let operation = &doc["paths"][&path]["post"];
        assert!(operation.is_object(), "{path} missing");
        assert_eq!(
            operation["requestBody"]["content"]["application/json"]["schema"]["$ref"],
            format!("#/components/schemas/{body}"),
            "{path}"
        );
        // Commands without fields may be sent without a body.
        assert_eq!(
            operation["requestBody"]["required"],
            body != "NoFields",
            "{path}"
        );
        let params: Vec<(&str, &str)> = operation["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p["name"].as_str().unwrap(), p["in"].as_str().unwrap()))
            .collect();
        assert_eq!(
            params,
            [("case_id", "path"), ("If-Match", "header")],
            "{path}"
        );
        assert_eq!(
            operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/CaseVersion",
            "{path}"
        );
        assert!(
            operation["responses"]["200"]["headers"]["ETag"].is_object(),
            "{path}"
        );
        for status in ["400", "404", "409", "413", "415", "422", "500", "503"] {
            assert_eq!(
                operation["responses"][status]["content"]["application/problem+json"]["schema"]
                    ["$ref"],
                "#/components/schemas/Problem",
                "{path} {status}"
            );
        }
    }
    // Members' commands: referrals, preferences, opting out and in, and the member's record.
    let referral = &doc["paths"]["/v1/referrals"]["post"];
    assert_eq!(
        referral["requestBody"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/Referral"
    );
    assert_eq!(referral["requestBody"]["required"], true);
    for status in ["200", "201"] {
        assert_eq!(
            referral["responses"][status]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/Referred",
            "{status}"
        );
    }
    assert!(referral["responses"]["201"]["headers"]["Location"].is_object());
    for (method, path, body, response) in [
        (
            "put",
            "/v1/members/{staff_id}/preferences",
            "StatePreferences",
            "MemberVersion",
        ),
        (
            "post",
            "/v1/members/{staff_id}/opt-out",
            "NoFields",
            "MemberVersion",
        ),
        (
            "post",
            "/v1/members/{staff_id}/opt-in",
            "NoFields",
            "MemberVersion",
        ),
    ] {
        let operation = &doc["paths"][path][method];
        assert!(operation.is_object(), "{method} {path} missing");
        assert_eq!(
            operation["requestBody"]["content"]["application/json"]["schema"]["$ref"],
            format!("#/components/schemas/{body}"),
            "{path}"
        );
        assert_eq!(
            operation["requestBody"]["required"],
            body != "NoFields",
            "{path}"
        );
        assert_eq!(
            operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"],
            format!("#/components/schemas/{response}"),
            "{path}"
        );
    }
    for (method, path, statuses) in [
        (
            "post",
            "/v1/referrals",
            &["400", "409", "413", "415", "422", "500", "503"][..],
        ),
        (
            "put",
            "/v1/members/{staff_id}/preferences",
            &["400", "409", "413", "415", "422", "500", "503"][..],
        ),
        (
            "post",
            "/v1/members/{staff_id}/opt-out",
            &["400", "409", "413", "415", "500", "503"][..],
        ),
        (
            "post",
            "/v1/members/{staff_id}/opt-in",
            &["400", "409", "413", "415", "500", "503"][..],
        ),
        (
            "get",
            "/v1/members/{staff_id}",
            &["400", "404", "500", "503"][..],
        ),
    ] {
        let operation = &doc["paths"][path][method];
        for status in statuses {
            assert_eq!(
                operation["responses"][status]["content"]["application/problem+json"]["schema"]
                    ["$ref"],
                "#/components/schemas/Problem",
                "{method} {path} {status}"
            );
        }
        if path.contains("{staff_id}") {
            let params: Vec<(&str, &str)> = operation["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| (p["name"].as_str().unwrap(), p["in"].as_str().unwrap()))
                .collect();
            assert_eq!(params, [("staff_id", "path")], "{method} {path}");
        }
    }
    assert_eq!(
        doc["components"]["schemas"]["MemberRecord"]["required"],
        json!([
            "staff_id",
            "opted_out",
            "open_case_id",
            "preferences",
            "version"
        ])
    );

    // Bodies are closed, and their codes are listed.
    let schemas = &doc["components"]["schemas"];
    for body in [
        "AssignSupporter",
        "RecordContactAttempt",
        "RecordEncounter",
        "ReferToProfessionalHelp",
        "RecordEscalation",
        "CloseCase",
        "NoFields",
        "Referral",
        "ReferredMember",
        "ReferredName",
        "ReferralContact",
        "StatePreferences",
    ] {
        assert_eq!(schemas[body]["additionalProperties"], false, "{body}");
    }
    for (schema, values) in [
        ("Channel", json!(["email", "phone", "text"])),
        (
            "ContactOutcome",
            json!(["no_answer", "message_left", "reached"]),
        ),
        ("Modality", json!(["phone", "video", "in_person"])),
        ("EncounterFormat", json!(["individual", "group"])),
        (
            "DurationBand",
            json!([
                "under_15_minutes",
                "15_to_30_minutes",
                "30_to_60_minutes",
                "over_60_minutes"
            ]),
        ),
        (
            "ProfessionalHelp",
            json!(["employee_assistance", "psychology", "chaplaincy", "other"]),
        ),
        (
            "EscalationCategory",
            json!([
                "danger_to_self_or_others",
                "impairment_putting_patients_at_risk",
                "abuse_or_neglect",
                "discrimination_harassment_or_retaliation"
            ]),
        ),
        (
            "CloseReason",
            json!([
                "completed",
                "declined",
                "unreachable",
                "withdrawn",
                "merged"
            ]),
        ),
        ("ReferredBy", json!(["self", "colleague", "supervisor"])),
        ("ReferralOutcome", json!(["opened", "linked"])),
        (
            "Discipline",
            json!([
                "physician",
                "resident",
                "fellow",
                "nurse",
                "pharmacist",
                "respiratory_therapist",
                "physical_therapist",
                "social_work",
                "spiritual_care",
                "supervisor",
                "allied_health",
                "other"
            ]),
        ),
        (
            "Seniority",
            json!(["trainee", "early_career", "mid_career", "senior"]),
        ),
        ("SupporterGender", json!(["woman", "man", "non_binary"])),
        (
            "DepartmentPreference",
            json!(["own_department", "other_department"]),
        ),
        ("SeniorityPreference", json!(["similar", "more_senior"])),
        (
            "CaseStatus",
            json!([
                "open",
                "assigned",
                "reached",
                "accepted",
                "declined",
                "closed",
                "cancelled"
            ]),
        ),
    ] {
        assert_eq!(schemas[schema]["enum"], values, "{schema}");
    }
    // The problem's extension members are documented, and sent only when they apply.
    for member in ["rule", "current_version"] {
        assert!(
            schemas["Problem"]["properties"][member].is_object(),
            "{member}"
        );
    }
    assert_eq!(
        schemas["Problem"]["required"],
        json!(["type", "title", "status", "detail"])
    );
    assert!(
        doc["paths"]["/v1/cases/{case_id}"]["get"]["responses"]["404"]["content"]
            ["application/problem+json"]
            .is_object()
    );
    // Nullable fields are always sent, so the schema says they are required.
    assert_eq!(
        doc["components"]["schemas"]["Contact"]["required"],
        json!(["email", "phone", "mobile", "preferred_channel"])
    );
    // What is served is what the binary can also get from the library.
    assert_eq!(doc, &outreach_api::document());
}

#[tokio::test]
async fn an_unknown_route_is_a_404_problem() {
    let app = TestApp::without_database();

    for uri in ["/v2/cases", "/", "/v1/cases/x/notes"] {
        app.get(uri)
            .await
            .assert_problem(StatusCode::NOT_FOUND, "not-found");
    }
}

#[tokio::test]
async fn a_wrong_method_is_a_405_problem() {
    let app = TestApp::without_database();

    let response = app.request(Method::DELETE, "/v1/cases", Vec::new()).await;

    response.assert_problem(StatusCode::METHOD_NOT_ALLOWED, "method-not-allowed");
    let allow = response
        .headers
        .get("allow")
        .expect("Allow header")
        .to_str()
        .unwrap();
    assert!(allow.contains("GET"), "{allow}");
}

#[tokio::test]
async fn an_oversized_request_body_is_a_413_problem() {
    let app = TestApp::without_database();

    let response = app
        .request(Method::POST, "/v1/cases", vec![b'x'; 64 * 1024 + 1])
        .await;

    response.assert_problem(StatusCode::PAYLOAD_TOO_LARGE, "payload-too-large");
}

/// `/readyz` is public: however often it is called, the database is asked at most once a
/// second, and every call in between answers with what was last seen.
#[tokio::test]
async fn readyz_answers_from_what_it_saw_within_the_last_second() {
    let app = TestApp::spawn().await;
    sqlx::query("INSERT INTO projection_checkpoints (projection) VALUES ('statistics')")
        .execute(&app.pool)
        .await
        .unwrap();
    let lag =
        |response: &common::TestResponse| response.body["projections"][0]["lag_events"].clone();
    let first = app.get("/readyz").await;
    // Two more events (the roster's two supporters are there already).
    app.open_case().await;
    let calls = futures::future::join_all((0..200).map(|_| app.get("/readyz"))).await;
    assert!(calls.iter().all(|call| call.status == StatusCode::OK));
    assert!(
        calls.iter().all(|call| lag(call) == lag(&first)),
        "{}",
        lag(&first)
    );
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let later = app.get("/readyz").await;
    assert_ne!(lag(&later), lag(&first), "seen again after a second");
}
