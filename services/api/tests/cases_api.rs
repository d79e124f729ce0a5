//! The case list and single cases, as a program manager sees them, against a real database.

mod common;

use std::collections::HashSet;

use axum::http::StatusCode;
use chrono::{DateTime, Duration, TimeZone, Utc};
use common::{CaseStory, TestApp};
use outreach_domain::CaseCommand;
use outreach_events::lifecycle::{
    ContactOutcome, DurationBand, EncounterFormat, Modality, ProfessionalHelp,
};
use serde_json::{json, Value};
use uuid::Uuid;

fn monday_morning() -> DateTime<Utc> {
    // Sub-second precision on purpose: the cursor must keep microseconds.
    Utc.with_ymd_and_hms(2026, 11, 23, 8, 30, 0).unwrap() + Duration::microseconds(123_456)
}

fn ids(page: &Value) -> Vec<String> {
    page["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .map(|case| case["case_id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn the_case_list_shows_the_newest_cases_first_and_pages_through_all_of_them_without_repeats()
{
    let app = TestApp::spawn().await;
    let mut cases: Vec<CaseStory> = (0..7)
        .map(|hour| CaseStory::open_at(monday_morning() + Duration::hours(hour)))
        .collect();
    // A mass-casualty incident opens several cases in the same microsecond: the case id
    // breaks the tie, and a page boundary falling between them must lose none.
    cases.push(CaseStory::open_at(monday_morning() + Duration::hours(3)));
    cases.push(CaseStory::open_at(monday_morning() + Duration::hours(3)));
    app.tell(&cases.iter().collect::<Vec<_>>()).await;
    cases.sort_by_key(|c| std::cmp::Reverse((c.opened_at, c.case_id)));
    let expected: Vec<String> = cases.iter().map(|c| c.case_id.to_string()).collect();

    let mut seen = Vec::new();
    let mut uri = "/v1/cases?limit=3".to_owned();
    let mut pages = 0;
    loop {
        let page = app.get(&uri).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        pages += 1;
        seen.extend(ids(&page.body));
        match page.body["next"].as_str() {
            Some(next) => uri = format!("/v1/cases?limit=3&after={next}"),
            None => break,
        }
        assert!(pages < 10, "paging does not end");
    }

    // Nine cases in pages of three: the third page is full and still says it is the last.
    assert_eq!(pages, 3);
    assert_eq!(seen, expected);
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), seen.len());
}

#[tokio::test]
async fn the_case_list_pages_by_fifty_unless_asked_otherwise() {
    let app = TestApp::spawn().await;
    let cases: Vec<CaseStory> = (0..51)
        .map(|minute| CaseStory::open_at(monday_morning() + Duration::minutes(minute)))
        .collect();
    app.tell(&cases.iter().collect::<Vec<_>>()).await;

    let first = app.get("/v1/cases").await;

    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(ids(&first.body).len(), 50);
    let next = first.body["next"].as_str().expect("a second page");
    let second = app.get(&format!("/v1/cases?after={next}")).await;
    assert_eq!(ids(&second.body).len(), 1);
    assert_eq!(second.body["next"], Value::Null);
}

#[tokio::test]
async fn filtering_by_campus_and_status() {
    let app = TestApp::spawn().await;
    let t = monday_morning();
    let north_open = CaseStory::open_at(t);
    let north_open_later = CaseStory::open_at(t + Duration::hours(1));
    let north_cancelled =
        CaseStory::open_at(t + Duration::hours(2)).cancelled(t + Duration::hours(5));
    let south_open = CaseStory::open_at(t + Duration::hours(3)).campus("South");
    app.tell(&[
        &north_open,
        &north_open_later,
        &north_cancelled,
        &south_open,
    ])
    .await;

    let north_and_open = app.get("/v1/cases?campus=North&status=open").await;
    let cancelled = app.get("/v1/cases?status=cancelled").await;
    let south = app.get("/v1/cases?campus=South").await;
    let nowhere = app.get("/v1/cases?campus=West").await;

    assert_eq!(north_and_open.status, StatusCode::OK);
    assert_eq!(
        ids(&north_and_open.body),
        [
            north_open_later.case_id.to_string(),
            north_open.case_id.to_string()
        ]
    );
    assert_eq!(ids(&cancelled.body), [north_cancelled.case_id.to_string()]);
    assert_eq!(ids(&south.body), [south_open.case_id.to_string()]);
    assert_eq!(nowhere.body, json!({"cases": [], "next": null}));
}

#[tokio::test]
async fn a_filtered_list_pages_within_its_filter() {
    let app = TestApp::spawn().await;
    let t = monday_morning();
    let mut south = Vec::new();
    for hour in 0..6 {
        let north = CaseStory::open_at(t + Duration::hours(hour));
        let case = CaseStory::open_at(t + Duration::hours(hour)).campus("South");
        app.tell(&[&north, &case]).await;
        south.push(case);
    }

    let first = app.get("/v1/cases?campus=South&limit=4").await;
    let next = first.body["next"].as_str().expect("a second page");
    let second = app
        .get(&format!("/v1/cases?campus=South&limit=4&after={next}"))
        .await;

    let mut seen = ids(&first.body);
    seen.extend(ids(&second.body));
    south.sort_by_key(|c| std::cmp::Reverse((c.opened_at, c.case_id)));
    let expected: Vec<String> = south.iter().map(|c| c.case_id.to_string()).collect();
    assert_eq!(seen, expected);
    assert_eq!(second.body["next"], Value::Null);
}

#[tokio::test]
async fn a_case_shows_the_member_and_how_to_reach_them() {
    let app = TestApp::spawn_for_stories().await;
    let opened = monday_morning();
    let closed = opened + Duration::hours(30);
    let case = CaseStory::open_at(opened).cancelled(closed);
    app.tell(&[&case]).await;

    let response = app.get(&format!("/v1/cases/{}", case.case_id)).await;

    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(
        response.headers.get("content-type").unwrap(),
        "application/json"
    );
    assert_eq!(
        response.body,
        json!({
            "case_id": case.case_id,
            "version": 2,
            "status": "cancelled",
            "trigger": "incident",
            "report": {"source": "/datix/north", "report_id": case.report_id},
            "campus": "North",
            "unit": "ICU 4",
            "opened_at": "2026-11-23T08:30:00.123456Z",
            "closed_at": "2026-11-24T14:30:00.123456Z",
            "close_reason": "report_withdrawn",
            "supporter_id": null,
            "first_contact_due": "2026-11-25T08:30:00.123456Z",
            "overdue": false,
            "urgent": false,
            "first_contacted_at": null,
            "reached_at": null,
            "decision": null,
            "decided_at": null,
            "contact_attempts": 0,
            "encounters": 0,
            "resources_sent": 0,
            "referrals": 0,
            "escalations": 0,
            "member": {
                "staff_id": "S-1001",
                "role": "Registered nurse",
                "discipline": "nurse",
                "department": "Critical care",
                "seniority": "senior",
                "involvement": "primary",
                "name": {"given": "Ana", "family": "Silva"},
                "contact": {
                    "email": "ana.silva@hospital.example",
                    "phone": null,
                    "mobile": "+1 555 0100",
                    "preferred_channel": "email"
                }
            },
            "contact_to_confirm": false,
            "suggested_contact": null
        })
    );
}

#[tokio::test]
async fn a_case_shows_where_it_stands_in_its_lifecycle_and_its_version_as_etag() {
    let app = TestApp::spawn_for_stories().await;
    let opened = monday_morning();
    let reached = opened + Duration::hours(3);
    let case = CaseStory::open_at(opened)
        .urgent()
        .assigned("E20001", opened + Duration::hours(1))
        .contacted(opened + Duration::hours(2), ContactOutcome::NoAnswer)
        .contacted(reached, ContactOutcome::Reached)
        .then(CaseCommand::RecordAcceptance { at: reached })
        .then(CaseCommand::RecordEncounter {
            held_on: reached.date_naive(),
            modality: Modality::Phone,
            format: EncounterFormat::Individual,
            duration: DurationBand::FifteenToThirtyMinutes,
            at: reached,
        })
        .then(CaseCommand::RecordResourcesSent { at: reached })
        .then(CaseCommand::ReferToProfessionalHelp {
            service: ProfessionalHelp::EmployeeAssistance,
            at: reached,
        });
    app.tell(&[&case]).await;

    let response = app.get(&format!("/v1/cases/{}", case.case_id)).await;

    // Eight events: the opening, the assignment, two attempts, the acceptance, the encounter,
    // the resources and the referral.
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.headers.get("etag").unwrap(), "\"8\"");
    let body = &response.body;
    assert_eq!(body["version"], 8);
    assert_eq!(body["status"], "accepted");
    for (field, value) in [
        ("supporter_id", json!("E20001")),
        ("first_contact_due", json!("2026-11-25T08:30:00.123456Z")),
        ("overdue", json!(false)),
        ("urgent", json!(true)),
        ("first_contacted_at", json!("2026-11-23T10:30:00.123456Z")),
        ("reached_at", json!("2026-11-23T11:30:00.123456Z")),
        ("decision", json!("accepted")),
        ("decided_at", json!("2026-11-23T11:30:00.123456Z")),
        ("contact_attempts", json!(2)),
        ("encounters", json!(1)),
        ("resources_sent", json!(1)),
        ("referrals", json!(1)),
        ("escalations", json!(0)),
    ] {
        assert_eq!(body[field], value, "{field}");
    }
    // The list shows the same case the same way.
    let list = app.get("/v1/cases").await;
    assert_eq!(&list.body["cases"][0], body);
}

#[tokio::test]
async fn a_case_whose_first_contact_is_past_due_is_overdue_until_contact_is_attempted() {
    // First contact is due 48 hours after the opening.
    let app = TestApp::spawn_for_stories().await;
    let now = Utc::now();
    let opened = now - Duration::days(3);
    // Due yesterday, nobody tried: overdue, whether or not a supporter is assigned.
    let late_open = CaseStory::open_at(opened);
    let late_assigned = CaseStory::open_at(opened + Duration::minutes(1))
        .assigned("E20001", opened + Duration::hours(1));
    // Due yesterday, but contact was attempted (late or not): no longer overdue.
    let contacted = CaseStory::open_at(opened + Duration::minutes(2))
        .assigned("E20001", opened + Duration::hours(1))
        .contacted(now - Duration::hours(2), ContactOutcome::NoAnswer);
    // Due tomorrow: not yet.
    let not_yet = CaseStory::open_at(now - Duration::days(1));
    // Opened before deadlines existed: never overdue.
    let no_deadline = Uuid::new_v4();
    // Cancelled before anyone acted: nobody is to contact the member.
    let cancelled =
        CaseStory::open_at(opened + Duration::minutes(5)).cancelled(now - Duration::days(2));
    app.tell(&[&late_open, &late_assigned, &contacted, &not_yet, &cancelled])
        .await;
    app.tell_legacy_opening(no_deadline, opened + Duration::minutes(4))
        .await;

    let all = [
        late_open.case_id,
        late_assigned.case_id,
        contacted.case_id,
        not_yet.case_id,
        no_deadline,
        cancelled.case_id,
    ];
    for case_id in all {
        let response = app.get(&format!("/v1/cases/{case_id}")).await;
        let expected = case_id == late_open.case_id || case_id == late_assigned.case_id;
        assert_eq!(response.body["overdue"], expected, "{}", response.body);
    }
    let overdue = app.get("/v1/cases?overdue=true").await;
    let on_time = app.get("/v1/cases?overdue=false").await;
    let everything = app.get("/v1/cases").await;

    assert_eq!(overdue.status, StatusCode::OK, "{}", overdue.body);
    assert_eq!(
        ids(&overdue.body),
        [
            late_assigned.case_id.to_string(),
            late_open.case_id.to_string()
        ]
    );
    assert!(overdue.body["cases"]
        .as_array()
        .unwrap()
        .iter()
        .all(|case| case["overdue"] == true));
    assert_eq!(
        ids(&on_time.body),
        [
            not_yet.case_id.to_string(),
            cancelled.case_id.to_string(),
            no_deadline.to_string(),
            contacted.case_id.to_string(),
        ]
    );
    assert_eq!(ids(&everything.body).len(), 6);
    // The filter combines with the others.
    let north_overdue_assigned = app
        .get("/v1/cases?overdue=true&status=assigned&campus=North")
        .await;
    assert_eq!(
        ids(&north_overdue_assigned.body),
        [late_assigned.case_id.to_string()]
    );
}

#[tokio::test]
async fn a_bad_overdue_filter_is_a_400_problem_naming_the_parameter() {
    let app = TestApp::spawn().await;

    for overdue in ["yes", "1", "", "TRUE"] {
        let response = app.get(&format!("/v1/cases?overdue={overdue}")).await;

        let detail = response.assert_problem(StatusCode::BAD_REQUEST, "invalid-parameter");
        assert!(detail.contains("overdue"), "overdue={overdue}: {detail}");
    }
}

#[tokio::test]
async fn a_case_whose_personal_data_was_purged_shows_nulls() {
    let app = TestApp::spawn().await;
    let case_id = Uuid::new_v4();
    app.tell_legacy_opening(case_id, monday_morning()).await;

    let response = app.get(&format!("/v1/cases/{case_id}")).await;

    assert_eq!(response.status, StatusCode::OK);
    let member = &response.body["member"];
    assert_eq!(member["seniority"], Value::Null);
    assert_eq!(member["name"], json!({"given": null, "family": null}));
    assert_eq!(
        member["contact"],
        json!({"email": null, "phone": null, "mobile": null, "preferred_channel": null})
    );
    assert_eq!(response.body["closed_at"], Value::Null);
    assert_eq!(response.body["close_reason"], Value::Null);
    // The same case in the list has the same shape.
    let list = app.get("/v1/cases").await;
    assert_eq!(list.body["cases"][0], response.body);
}

#[tokio::test]
async fn an_unknown_case_is_a_404_problem() {
    let app = TestApp::spawn().await;

    let response = app.get(&format!("/v1/cases/{}", Uuid::new_v4())).await;

    response.assert_problem(StatusCode::NOT_FOUND, "case-not-found");
}

#[tokio::test]
async fn a_case_id_that_is_not_a_uuid_is_a_400_problem_naming_the_parameter() {
    let app = TestApp::spawn().await;

    let response = app.get("/v1/cases/not-a-uuid").await;

    let detail = response.assert_problem(StatusCode::BAD_REQUEST, "invalid-parameter");
    assert!(detail.contains("`case_id`"), "{detail}");
}

#[tokio::test]
async fn a_bad_status_filter_is_a_400_problem_naming_the_parameter() {
    let app = TestApp::spawn().await;

    let response = app.get("/v1/cases?status=pending").await;

    let detail = response.assert_problem(StatusCode::BAD_REQUEST, "invalid-parameter");
    assert!(detail.contains("status"), "{detail}");
    for status in [
        "open",
        "assigned",
        "reached",
        "accepted",
        "declined",
        "closed",
        "cancelled",
    ] {
        assert!(detail.contains(status), "{status}: {detail}");
    }
}

#[tokio::test]
async fn a_page_size_out_of_range_or_not_a_number_is_a_400_problem_naming_the_parameter() {
    let app = TestApp::spawn().await;

    for limit in ["0", "201", "-1", "ten", ""] {
        let response = app.get(&format!("/v1/cases?limit={limit}")).await;

        let detail = response.assert_problem(StatusCode::BAD_REQUEST, "invalid-parameter");
        assert!(detail.contains("limit"), "limit={limit}: {detail}");
    }
    assert_eq!(app.get("/v1/cases?limit=200").await.status, StatusCode::OK);
    assert_eq!(app.get("/v1/cases?limit=1").await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_malformed_cursor_is_a_400_problem() {
    let app = TestApp::spawn().await;

    for after in [
        "garbage",
        "123",
        "abc_0191c0de-0000-7000-8000-000000000000",
        "1795000000_nope",
    ] {
        let response = app.get(&format!("/v1/cases?after={after}")).await;

        let detail = response.assert_problem(StatusCode::BAD_REQUEST, "invalid-parameter");
        assert!(detail.contains("after"), "after={after}: {detail}");
    }
}

#[tokio::test]
async fn a_database_failure_is_a_500_problem_that_reveals_nothing() {
    let app = TestApp::spawn().await;
    app.tell(&[&CaseStory::open_at(monday_morning())]).await;
    sqlx::query("ALTER TABLE outreach_cases RENAME TO outreach_cases_gone")
        .execute(&app.owner_pool().await)
        .await
        .unwrap();

    for uri in [
        "/v1/cases".to_owned(),
        format!("/v1/cases/{}", Uuid::new_v4()),
    ] {
        let response = app.get(&uri).await;

        let detail = response.assert_problem(StatusCode::INTERNAL_SERVER_ERROR, "internal");
        for leak in ["outreach_cases", "relation", "sqlx", "Silva", "S-1001"] {
            assert!(
                !detail.contains(leak),
                "{uri}: detail mentions {leak:?}: {detail}"
            );
        }
    }
}
