//! The roster and matching as a program manager uses them: supporters added, changed, paused;
//! the ranked candidates for a case with their reasons and the excluded with theirs; assigning
//! from that list within each supporter's capacity. Real database, matching read model
//! projected from the event store.

mod common;

use std::collections::HashMap;

use axum::http::StatusCode;
use chrono::Utc;
use common::{open_command, post_request, TestApp};
use futures::future::join_all;
use outreach_domain::{CasePolicies, RosterPolicy};
use serde_json::{json, Value};
use uuid::Uuid;

/// A trained supporter at North, in Emergency medicine: the member of `open_command` is a
/// nurse in Critical care at North.
fn entry(staff_id: &str) -> Value {
    json!({
        "staff_id": staff_id,
        "given_name": "Ines",
        "family_name": format!("Okafor {staff_id}"),
        "email": format!("{}@hospital.example", staff_id.to_lowercase()),
        "campus": "North",
        "department": "Emergency medicine",
        "discipline": "nurse",
        "seniority": "senior",
        "languages": ["en"],
        "training": {"status": "trained", "completed_on": "2026-01-15"},
        "capacity": 3,
        "availability": {"weekly_hours": [], "on_call": []}
    })
}

fn with(mut entry: Value, changes: Value) -> Value {
    for (key, value) in changes.as_object().unwrap() {
        entry[key] = value.clone();
    }
    entry
}

async fn app() -> TestApp {
    TestApp::spawn_with_policies(CasePolicies {
        roster: RosterPolicy {
            campuses: vec!["North".into(), "South".into()],
        },
        ..CasePolicies::default()
    })
    .await
}

async fn add(app: &TestApp, entry: Value) {
    let response = app.post("/v1/supporters", Some(entry), None).await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.body);
}

async fn roster_events(app: &TestApp, staff_id: &str) -> Vec<String> {
    let id = outreach_domain::ids::supporter_id(staff_id).to_string();
    sqlx::query_scalar("SELECT event_type FROM events WHERE aggregate_id = $1 ORDER BY sequence")
        .bind(id)
        .fetch_all(&app.pool)
        .await
        .unwrap()
}

async fn open_case_for(app: &TestApp, staff_id: &str) -> Uuid {
    let case_id = Uuid::new_v4();
    app.commands
        .handle_case(case_id, open_command(case_id, staff_id), &HashMap::new())
        .await
        .expect("open the case");
    case_id
}

fn staff_ids(list: &Value) -> Vec<&str> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|s| s["staff_id"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn a_manager_adds_a_supporter_and_reads_them_back_from_the_roster() {
    let app = app().await;

    let added = app.post("/v1/supporters", Some(entry("S1")), None).await;

    assert_eq!(added.status, StatusCode::CREATED, "{}", added.body);
    assert_eq!(added.body, json!({"staff_id": "S1", "version": 1}));
    assert_eq!(added.headers["location"], "/v1/supporters/S1");
    app.project_matching().await;
    let supporter = app.get("/v1/supporters/S1").await;
    assert_eq!(supporter.status, StatusCode::OK, "{}", supporter.body);
    assert_eq!(supporter.body["campus"], "North");
    assert_eq!(supporter.body["capacity"], 3);
    assert_eq!(supporter.body["open_cases"], 0);
    assert_eq!(supporter.body["paused"], false);
    assert_eq!(supporter.body["training_status"], "trained");
    let roster = app.get("/v1/supporters?campus=North").await;
    assert!(staff_ids(&roster.body["supporters"]).contains(&"S1"));
    let elsewhere = app.get("/v1/supporters?campus=South").await;
    assert!(!staff_ids(&elsewhere.body["supporters"]).contains(&"S1"));
}

#[tokio::test]
async fn a_wrong_roster_entry_is_refused_naming_the_field_and_nothing_is_recorded() {
    let app = app().await;
    for (changes, status, field) in [
        (json!({"campus": "Atlantis"}), 422, "campus"),
        (json!({"capacity": -1}), 422, "capacity"),
        (json!({"capacity": 21}), 422, "capacity"),
        (
            json!({"availability": {"weekly_hours": [{"day": "monday", "starts": "17:00:00", "ends": "08:00:00"}]}}),
            422,
            "availability.weekly_hours[0]",
        ),
        (
            json!({"availability": {"on_call": [{"starts": "2026-12-07", "ends": "2026-12-01"}]}}),
            422,
            "availability.on_call[0]",
        ),
        (
            json!({"training": {"status": "trained"}}),
            422,
            "training.completed_on",
        ),
        (json!({"discipline": "wizard"}), 400, "discipline"),
        (json!({"email": "not an address"}), 400, "email"),
    ] {
        let response = app
            .post(
                "/v1/supporters",
                Some(with(entry("S1"), changes.clone())),
                None,
            )
            .await;

        assert_eq!(
            response.status.as_u16(),
            status,
            "{changes}: {}",
            response.body
        );
        if status == 422 {
            assert_eq!(response.body["rule"], "invalid-roster-entry");
            assert_eq!(response.body["field"], field, "{changes}");
        } else {
            let detail = response.assert_problem(StatusCode::BAD_REQUEST, "invalid-body");
            assert!(detail.contains(field), "{changes}: {detail}");
        }
    }
    assert!(roster_events(&app, "S1").await.is_empty());
}

#[tokio::test]
async fn a_manager_changes_pauses_and_resumes_a_supporter() {
    let app = app().await;
    add(&app, entry("S1")).await;

    let changed = app
        .put(
            "/v1/supporters/S1",
            with(entry("S1"), json!({"capacity": 5})),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
    let paused = app.post("/v1/supporters/S1/pause", None, None).await;
    assert_eq!(paused.body["version"], 3, "{}", paused.body);
    app.project_matching().await;
    let supporter = app.get("/v1/supporters/S1").await;
    assert_eq!(supporter.body["capacity"], 5);
    assert_eq!(supporter.body["paused"], true);

    let resumed = app.post("/v1/supporters/S1/resume", None, None).await;
    assert_eq!(resumed.body["version"], 4, "{}", resumed.body);
    assert_eq!(
        roster_events(&app, "S1").await,
        [
            "SupporterJoined",
            "SupporterProfileChanged",
            "SupporterPaused",
            "SupporterResumed"
        ]
    );
}

#[tokio::test]
async fn changes_to_a_supporter_nobody_added_are_404s_and_an_entry_keeps_its_staff_id() {
    let app = app().await;
    let unknown = app.put("/v1/supporters/S9", entry("S9")).await;
    unknown.assert_problem(StatusCode::NOT_FOUND, "supporter-not-found");
    let pause = app.post("/v1/supporters/S9/pause", None, None).await;
    pause.assert_problem(StatusCode::NOT_FOUND, "supporter-not-found");
    let read = app.get("/v1/supporters/S9").await;
    read.assert_problem(StatusCode::NOT_FOUND, "supporter-not-found");

    add(&app, entry("S1")).await;
    let renamed = app.put("/v1/supporters/S1", entry("S2")).await;
    assert_eq!(renamed.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(renamed.body["field"], "staff_id");
    assert_eq!(roster_events(&app, "S1").await, ["SupporterJoined"]);
}

#[tokio::test]
async fn candidates_are_ranked_with_reasons_and_every_exclusion_is_explained() {
    let app = app().await;
    // The member E7: a nurse in Critical care at North, named on the report with nobody else.
    let case_id = app.open_case().await;
    add(&app, entry("BEST")).await;
    add(&app, with(entry("SOUTH"), json!({"campus": "South"}))).await;
    add(
        &app,
        with(entry("SAMEDEPT"), json!({"department": "Critical care"})),
    )
    .await;
    add(&app, entry("PAUSED")).await;
    app.post("/v1/supporters/PAUSED/pause", None, None).await;
    add(
        &app,
        with(entry("NEW"), json!({"training": {"status": "in_training"}})),
    )
    .await;
    add(&app, with(entry("FULL"), json!({"capacity": 0}))).await;
    add(&app, entry("E7")).await;
    // Only on-call in a week long past: nobody can reach the member before the deadline.
    add(
        &app,
        with(
            entry("AWAY"),
            json!({"availability": {"on_call": [{"starts": "2026-01-05", "ends": "2026-01-11"}]}}),
        ),
    )
    .await;
    app.project_matching().await;

    let response = app.get(&format!("/v1/cases/{case_id}/candidates")).await;

    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    let candidates = &response.body["candidates"];
    // SOUTH and the test app's two fixtures (South, Anesthesia) tie on the same reasons: the
    // lower staff id goes first.
    assert_eq!(
        staff_ids(candidates),
        ["BEST", "E20001", "E30003", "SOUTH"],
        "{candidates:#}"
    );
    assert_eq!(candidates[3]["score"], candidates[1]["score"]);
    assert_eq!(
        candidates[0]["reasons"],
        json!([
            "same campus",
            "same discipline",
            "different department",
            "has room: 0 of 3 cases"
        ])
    );
    assert_eq!(candidates[0]["score"], 30 + 25 + 10 + 5);
    assert_eq!(candidates[0]["family_name"], "Okafor BEST");
    let excluded: HashMap<&str, &str> = response.body["excluded"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["staff_id"].as_str().unwrap(),
                e["reason"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        excluded,
        HashMap::from([
            ("SAMEDEPT", "same-department"),
            ("PAUSED", "paused"),
            ("NEW", "not-trained"),
            ("FULL", "at-capacity"),
            ("E7", "is-the-member"),
            ("AWAY", "unavailable-until-deadline"),
        ])
    );
    let explained = response.body["excluded"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["staff_id"] == "SAMEDEPT")
        .unwrap();
    assert_eq!(explained["explanation"], "same department as the member");
}

#[tokio::test]
async fn a_member_who_asks_for_their_own_department_is_offered_a_colleague_from_it() {
    let app = app().await;
    let case_id = app.open_case().await;
    add(
        &app,
        with(entry("SAMEDEPT"), json!({"department": "Critical care"})),
    )
    .await;
    let stated = app
        .put(
            "/v1/members/E7/preferences",
            json!({"supporter_department": "own_department", "supporter_language": "en"}),
        )
        .await;
    assert_eq!(stated.status, StatusCode::OK, "{}", stated.body);
    app.project_matching().await;

    let response = app.get(&format!("/v1/cases/{case_id}/candidates")).await;

    let first = &response.body["candidates"][0];
    assert_eq!(first["staff_id"], "SAMEDEPT", "{}", response.body);
    let reasons = first["reasons"].as_array().unwrap();
    assert!(
        reasons.contains(&json!("matches preference: department")),
        "{reasons:?}"
    );
    assert!(
        reasons.contains(&json!("matches preference: language")),
        "{reasons:?}"
    );
    assert!(!reasons.contains(&json!("different department")));
}

#[tokio::test]
async fn a_colleague_named_in_the_same_report_is_excluded() {
    let app = app().await;
    let case_id = app.open_case().await;
    // The report that opened E7's case also named W1, a witness.
    let report = outreach_events::ReportRef {
        source: "/datix/north".into(),
        report_id: format!("INC-{}", case_id.simple()),
    };
    let witness = |staff_id: &str| outreach_domain::InvolvedMember {
        profile: outreach_events::MemberProfile {
            staff_id: staff_id.into(),
            role: "Registered nurse".into(),
            discipline: outreach_events::Discipline::Nurse,
            department: "Float pool".into(),
            seniority: None,
            involvement: outreach_events::Involvement::Witness,
        },
        contact: outreach_events::MemberContact {
            given_name: "Wen".into(),
            family_name: "Li".into(),
            email: Some("wen.li@hospital.example".into()),
            phone: None,
            mobile: None,
            preferred_channel: None,
        },
        eligible: false,
        case_id: None,
    };
    app.commands
        .handle_report(
            outreach_domain::ReportCommand::Record {
                report,
                trigger: outreach_events::TriggerKind::Incident,
                outreach: false,
                urgent: false,
                campus: "North".into(),
                unit: "ICU 4".into(),
                members: vec![witness("W1")],
                recorded_at: Utc::now(),
                revision: None,
            },
            &HashMap::new(),
        )
        .await
        .expect("record the report");
    add(&app, entry("W1")).await;
    app.project_matching().await;

    let response = app.get(&format!("/v1/cases/{case_id}/candidates")).await;

    let excluded = &response.body["excluded"];
    assert_eq!(staff_ids(excluded), ["W1"], "{}", response.body);
    assert_eq!(excluded[0]["reason"], "named-in-same-report");
}

#[tokio::test]
async fn candidates_of_an_unknown_or_closed_case_are_problems() {
    let app = app().await;
    let unknown = app
        .get(&format!("/v1/cases/{}/candidates", Uuid::new_v4()))
        .await;
    unknown.assert_problem(StatusCode::NOT_FOUND, "case-not-found");

    let case_id = app.open_case().await;
    let closed = app
        .post(
            &format!("/v1/cases/{case_id}/closure"),
            Some(json!({"reason": "withdrawn"})),
            None,
        )
        .await;
    assert_eq!(closed.status, StatusCode::OK, "{}", closed.body);
    app.project_matching().await;
    let response = app.get(&format!("/v1/cases/{case_id}/candidates")).await;
    response.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "case-is-closed");
}

#[tokio::test]
async fn an_excluded_or_unknown_supporter_cannot_be_assigned_and_holds_no_slot() {
    let app = app().await;
    let case_id = app.open_case().await;
    add(&app, entry("PAUSED")).await;
    app.post("/v1/supporters/PAUSED/pause", None, None).await;
    let assign = |supporter: &'static str| {
        app.send(post_request(
            &format!("/v1/cases/{case_id}/assignment"),
            Some(json!({"supporter_id": supporter})),
            None,
        ))
    };

    let paused = assign("PAUSED").await;
    paused.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "supporter-paused");
    let unknown = assign("NOBODY").await;
    unknown.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "supporter-not-found");
    assert_eq!(unknown.body["field"], "supporter_id");

    assert_eq!(app.event_types(case_id).await, ["CaseOpened"]);
    assert_eq!(
        roster_events(&app, "PAUSED").await,
        ["SupporterJoined", "SupporterPaused"]
    );
}

#[tokio::test]
async fn a_refused_assignment_gives_the_slot_back() {
    let app = app().await;
    let case_id = app.open_case().await;
    add(&app, entry("S1")).await;
    app.post(
        &format!("/v1/cases/{case_id}/closure"),
        Some(json!({"reason": "withdrawn"})),
        None,
    )
    .await;

    let response = app
        .post(
            &format!("/v1/cases/{case_id}/assignment"),
            Some(json!({"supporter_id": "S1"})),
            None,
        )
        .await;

    response.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "case-is-closed");
    assert_eq!(
        roster_events(&app, "S1").await,
        ["SupporterJoined", "CaseTaken", "CaseReleased"]
    );
    let (supporter, _) = app.commands.supporter("S1").await.unwrap();
    assert!(supporter.holding.is_empty());
}

#[tokio::test]
async fn reassigning_a_case_frees_the_first_supporters_slot() {
    let app = app().await;
    let case_id = app.open_case().await;
    add(&app, entry("S1")).await;
    add(&app, entry("S2")).await;
    for supporter in ["S1", "S2"] {
        let response = app
            .post(
                &format!("/v1/cases/{case_id}/assignment"),
                Some(json!({"supporter_id": supporter})),
                None,
            )
            .await;
        assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    }

    let (first, _) = app.commands.supporter("S1").await.unwrap();
    let (second, _) = app.commands.supporter("S2").await.unwrap();
    assert!(first.holding.is_empty());
    assert_eq!(second.holding.iter().collect::<Vec<_>>(), [&case_id]);
}

/// Capacity holds however many managers assign the same supporter at once: for each capacity,
/// more managers than slots race, each on a case of their own.
#[tokio::test]
async fn capacity_holds_when_managers_assign_the_same_supporter_at_once() {
    let app = app().await;
    for capacity in [1_u32, 2, 3] {
        let supporter = format!("CAP{capacity}");
        add(&app, with(entry(&supporter), json!({"capacity": capacity}))).await;
        let mut cases = Vec::new();
        for n in 0..capacity + 3 {
            cases.push(open_case_for(&app, &format!("M{capacity}-{n}")).await);
        }

        let responses = join_all(cases.iter().map(|case_id| {
            app.send(post_request(
                &format!("/v1/cases/{case_id}/assignment"),
                Some(json!({"supporter_id": supporter})),
                None,
            ))
        }))
        .await;

        let assigned = responses
            .iter()
            .filter(|r| r.status == StatusCode::OK)
            .count();
        for refused in responses.iter().filter(|r| r.status != StatusCode::OK) {
            refused.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "supporter-at-capacity");
        }
        assert_eq!(assigned, capacity as usize, "capacity {capacity}");
        let (held, _) = app.commands.supporter(&supporter).await.unwrap();
        assert_eq!(held.holding.len(), capacity as usize);
        // Every case that records the supporter is one they hold a slot for, and no other.
        for case_id in &cases {
            let (case, _) = app.commands.case(*case_id).await.unwrap();
            assert_eq!(
                case.supporter_id() == Some(supporter.as_str()),
                held.holding.contains(case_id),
                "case {case_id}"
            );
        }
    }
}
