//! The list of proposed group debriefs, against a real database.

mod common;

use axum::http::StatusCode;
use chrono::{DateTime, Duration, TimeZone, Utc};
use common::TestApp;
use serde_json::{json, Value};
use sqlx::PgPool;

fn monday_morning() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 8, 30, 0).unwrap()
}

/// A row of the group debrief read model, as the projection would write it.
async fn insert(pool: &PgPool, report_id: &str, campus: &str, proposed_at: DateTime<Utc>) {
    sqlx::query(
        "INSERT INTO group_debrief_proposals
             (report_source, report_id, campus, unit, staff, departments, proposed_at)
         VALUES ('/datix/north', $1, $2, 'ICU 4', 7, 3, $3)",
    )
    .bind(report_id)
    .bind(campus)
    .bind(proposed_at)
    .execute(pool)
    .await
    .expect("insert a proposal");
}

fn report_ids(body: &Value) -> Vec<&str> {
    body["proposals"]
        .as_array()
        .expect("proposals")
        .iter()
        .map(|p| p["report"]["report_id"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn proposals_are_listed_newest_first_and_filtered_by_campus() {
    let app = TestApp::spawn().await;
    let t = monday_morning();
    insert(&app.pool, "INC-1", "North", t).await;
    insert(&app.pool, "INC-2", "South", t + Duration::hours(1)).await;
    insert(&app.pool, "INC-3", "North", t + Duration::hours(2)).await;

    let all = app.get("/v1/group-debriefs").await;
    let north = app.get("/v1/group-debriefs?campus=North").await;
    let west = app.get("/v1/group-debriefs?campus=West").await;

    assert_eq!(all.status, StatusCode::OK, "{}", all.body);
    assert_eq!(report_ids(&all.body), ["INC-3", "INC-2", "INC-1"]);
    assert_eq!(report_ids(&north.body), ["INC-3", "INC-1"]);
    assert_eq!(west.body, json!({"proposals": []}));
    // Where, when and how many: never who.
    assert_eq!(
        all.body["proposals"][0],
        json!({
            "report": {"source": "/datix/north", "report_id": "INC-3"},
            "campus": "North",
            "unit": "ICU 4",
            "staff": 7,
            "departments": 3,
            "proposed_at": "2026-11-23T10:30:00Z"
        })
    );
}

#[tokio::test]
async fn the_list_shows_the_newest_two_hundred() {
    let app = TestApp::spawn().await;
    sqlx::query(
        "INSERT INTO group_debrief_proposals
             (report_source, report_id, campus, unit, staff, departments, proposed_at)
         SELECT '/datix/north', 'INC-' || n, 'North', 'ICU 4', 6, 1, $1 + n * interval '1 minute'
         FROM generate_series(1, 201) n",
    )
    .bind(monday_morning())
    .execute(&app.pool)
    .await
    .unwrap();

    let response = app.get("/v1/group-debriefs").await;

    assert_eq!(response.status, StatusCode::OK);
    let ids = report_ids(&response.body);
    assert_eq!(ids.len(), 200);
    assert_eq!(ids[0], "INC-201");
    assert!(!ids.contains(&"INC-1"), "the oldest is left out");
}

#[tokio::test]
async fn an_unreachable_database_is_a_500_problem() {
    let app = TestApp::without_database();

    app.get("/v1/group-debriefs")
        .await
        .assert_problem(StatusCode::INTERNAL_SERVER_ERROR, "internal");
}
