//! Statistics for the safety office, as the safety office reads them: counts of the quarter by
//! campus and discipline, small cells suppressed, no identifier anywhere in the read model, and
//! counts that agree with the event store.

mod common;

use std::collections::HashMap;
use std::sync::Arc;

use axum::http::StatusCode;
use chrono::{Duration, Utc};
use common::{open_command, TestApp};
use outreach_domain::period::Period;
use outreach_domain::CaseCommand;
use outreach_events::lifecycle::{ContactOutcome, EscalationCategory};
use outreach_events::Channel;
use outreach_projections::StatisticsProjection;
use serde_json::Value;
use uuid::Uuid;

fn this_quarter() -> String {
    Period::quarter_of(Utc::now().date_naive()).to_string()
}

async fn project(app: &TestApp) {
    app.project(Arc::new(StatisticsProjection::new(
        app.commands.policies().deadlines.calendar.clone(),
    )))
    .await;
}

/// Opens a case for a member at `campus`; returns its id.
async fn open_at(app: &TestApp, campus: &str, staff_id: &str) -> Uuid {
    open_on(app, campus, staff_id, Utc::now()).await
}

/// Opens a case for a member at `campus`, as if at `opened_at`; returns its id.
async fn open_on(
    app: &TestApp,
    campus: &str,
    staff_id: &str,
    opened_at: chrono::DateTime<Utc>,
) -> Uuid {
    let case_id = Uuid::new_v4();
    let CaseCommand::Open {
        case_id,
        report,
        trigger,
        unit,
        member,
        contact,
        ..
    } = open_command(case_id, staff_id)
    else {
        unreachable!()
    };
    let command = CaseCommand::Open {
        case_id,
        report,
        trigger,
        campus: campus.into(),
        unit,
        member,
        contact,
        opened_at,
        urgent: false,
        contact_to_confirm: false,
    };
    app.commands
        .handle_case(case_id, command, &HashMap::new())
        .await
        .expect("open the case");
    case_id
}

async fn act(app: &TestApp, case_id: Uuid, command: CaseCommand) {
    app.commands
        .act_on_case(case_id, command, None, &HashMap::new())
        .await
        .expect("the case takes the command");
}

/// Every published value of every table, as numbers (suppressed cells left out).
fn published_numbers(statistics: &Value) -> Vec<u64> {
    let mut numbers = Vec::new();
    for table in statistics["tables"].as_array().unwrap() {
        let t = &table["table"];
        let mut cells: Vec<&Value> = t["cells"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|row| row.as_array().unwrap())
            .collect();
        cells.extend(t["row_totals"].as_array().unwrap());
        cells.extend(t["column_totals"].as_array().unwrap());
        cells.push(&t["total"]);
        numbers.extend(cells.into_iter().filter_map(Value::as_u64));
    }
    numbers
}

fn table<'a>(statistics: &'a Value, measure: &str, by: &str) -> &'a Value {
    statistics["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["measure"] == measure && t["by"] == by)
        .map(|t| &t["table"])
        .unwrap_or_else(|| panic!("no {measure} by {by} table"))
}

fn cell<'a>(table: &'a Value, row: &str, column: &str) -> &'a Value {
    let r = table["rows"]
        .as_array()
        .unwrap()
        .iter()
        .position(|r| r == row)
        .unwrap_or_else(|| panic!("no row {row} in {table}"));
    let c = table["columns"]
        .as_array()
        .unwrap()
        .iter()
        .position(|c| c == column)
        .unwrap();
    &table["cells"][r][c]
}

#[tokio::test]
async fn a_quarter_shows_large_counts_and_suppresses_small_ones_and_what_would_reveal_them() {
    let app = TestApp::spawn().await;
    // Twelve cases at North and fourteen at West: published. Three at South: suppressed, and
    // so is enough else that the three cannot be worked out from a total.
    for n in 0..12 {
        open_at(&app, "North", &format!("N{n}")).await;
    }
    for n in 0..14 {
        open_at(&app, "West", &format!("W{n}")).await;
    }
    for n in 0..3 {
        open_at(&app, "South", &format!("S{n}")).await;
    }
    project(&app).await;

    let response = app
        .get(&format!("/v1/statistics?period={}", this_quarter()))
        .await;

    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    let statistics = &response.body;
    assert_eq!(statistics["smallest_published_count"], 11);
    for value in published_numbers(statistics) {
        assert!(value == 0 || value >= 11, "{value} was published");
    }
    let opened = table(statistics, "cases_opened", "campus");
    assert_eq!(cell(opened, "South", "incident"), "suppressed");
    assert_eq!(cell(opened, "West", "self_referral"), 0);
    let by_discipline = table(statistics, "cases_opened", "discipline");
    assert_eq!(cell(by_discipline, "nurse", "incident"), 29);
}

#[tokio::test]
async fn outcomes_encounters_escalations_and_time_to_first_contact_are_counted() {
    let app = TestApp::spawn().await;
    let mut cases = Vec::new();
    for n in 0..12 {
        cases.push(open_at(&app, "North", &format!("N{n}")).await);
    }
    let now = Utc::now();
    for case_id in &cases {
        act(
            &app,
            *case_id,
            CaseCommand::Assign {
                supporter_id: "E20001".into(),
                named_in_report: false,
                at: now,
            },
        )
        .await;
        for outcome in [ContactOutcome::NoAnswer, ContactOutcome::Reached] {
            act(
                &app,
                *case_id,
                CaseCommand::RecordContactAttempt {
                    channel: Channel::Phone,
                    outcome,
                    at: now,
                },
            )
            .await;
        }
        act(&app, *case_id, CaseCommand::RecordAcceptance { at: now }).await;
        act(
            &app,
            *case_id,
            CaseCommand::RecordEscalation {
                category: EscalationCategory::DangerToSelfOrOthers,
                at: now,
            },
        )
        .await;
    }
    project(&app).await;

    let response = app
        .get(&format!("/v1/statistics?period={}", this_quarter()))
        .await;

    let statistics = &response.body;
    let reached = table(statistics, "members_reached", "campus");
    assert_eq!(cell(reached, "North", "members_reached"), 12, "{reached}");
    let accepted = table(statistics, "accepted", "discipline");
    assert_eq!(cell(accepted, "nurse", "accepted"), 12);
    let escalations = table(statistics, "escalations", "campus");
    assert_eq!(cell(escalations, "North", "danger_to_self_or_others"), 12);
    let all = statistics["first_contact"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["by"] == "all")
        .unwrap();
    // Only the first of each case's two attempts counts.
    assert_eq!(all["cases"], 12, "{all}");
    assert!(all["median_working_hours"]
        .as_f64()
        .is_some_and(|h| h >= 0.0));
    assert_eq!(all["share_within_deadline"], 1.0);
}

#[tokio::test]
async fn the_counts_agree_with_the_event_store_and_survive_a_rebuild() {
    let app = TestApp::spawn().await;
    for n in 0..13 {
        open_at(
            &app,
            if n % 2 == 0 { "North" } else { "South" },
            &format!("M{n}"),
        )
        .await;
    }
    project(&app).await;
    let counted: Vec<(String, i64)> = sqlx::query_as(
        "SELECT campus, sum(count)::bigint FROM statistics_counts
          WHERE measure = 'opened:incident' GROUP BY campus ORDER BY campus",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    let in_event_store: Vec<(String, i64)> = sqlx::query_as(
        "SELECT payload -> 'CaseOpened' -> 'facts' ->> 'campus', count(*)
           FROM events WHERE event_type = 'CaseOpened'
             AND payload -> 'CaseOpened' -> 'facts' ->> 'trigger' = 'incident'
          GROUP BY 1 ORDER BY 1",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(counted, in_event_store);
    assert_eq!(counted, [("North".to_owned(), 7), ("South".to_owned(), 6)]);

    let runner = outreach_projections::ProjectionRunner::new(
        app.pool.clone(),
        Arc::new(StatisticsProjection::new(
            app.commands.policies().deadlines.calendar.clone(),
        )),
        Default::default(),
    );
    runner.reset().await.unwrap();
    project(&app).await;
    let rebuilt: Vec<(String, i64)> = sqlx::query_as(
        "SELECT campus, sum(count)::bigint FROM statistics_counts
          WHERE measure = 'opened:incident' GROUP BY campus ORDER BY campus",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(rebuilt, in_event_store);
}

#[tokio::test]
async fn the_statistics_tables_hold_no_identifier_of_anyone_or_any_case() {
    let app = TestApp::spawn().await;
    let mut cases = Vec::new();
    for n in 0..3 {
        cases.push(open_at(&app, "North", &format!("E{n}")).await);
    }
    for case_id in &cases {
        act(
            &app,
            *case_id,
            CaseCommand::Assign {
                supporter_id: "E20001".into(),
                named_in_report: false,
                at: Utc::now(),
            },
        )
        .await;
        act(
            &app,
            *case_id,
            CaseCommand::RecordContactAttempt {
                channel: Channel::Email,
                outcome: ContactOutcome::Reached,
                at: Utc::now() + Duration::minutes(5),
            },
        )
        .await;
    }
    project(&app).await;

    let columns: Vec<(String, String)> = sqlx::query_as(
        "SELECT table_name::text, column_name::text FROM information_schema.columns
          WHERE table_name IN ('statistics_counts', 'statistics_first_contact')
          ORDER BY 1, 2",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    let allowed = [
        "month",
        "measure",
        "campus",
        "discipline",
        "count",
        "working_seconds",
        "within_deadline",
    ];
    assert!(!columns.is_empty());
    for (table, column) in &columns {
        assert!(allowed.contains(&column.as_str()), "{table}.{column}");
    }
    let data: String = sqlx::query_scalar(
        "SELECT coalesce(string_agg(t::text, ' '), '') FROM (
             SELECT row_to_json(c)::text AS t FROM statistics_counts c
             UNION ALL SELECT row_to_json(f)::text FROM statistics_first_contact f) rows",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert!(!data.is_empty());
    for identifier in cases
        .iter()
        .map(Uuid::to_string)
        .chain(["E0", "E1", "E2", "E20001", "Ana", "Silva", "ana.silva"].map(String::from))
    {
        assert!(!data.contains(&identifier), "{identifier} in {data}");
    }
}

#[tokio::test]
async fn the_quarter_downloads_as_csv() {
    let app = TestApp::spawn().await;
    for n in 0..11 {
        open_last_quarter(&app, "North", &format!("N{n}")).await;
    }
    project(&app).await;

    // As the safety office would download it: a quarter that is over.
    let request = axum::http::Request::get(format!(
        "/v1/statistics?period={}&format=csv",
        last_quarter()
    ))
    .header(
        "authorization",
        format!(
            "Bearer {}",
            app.token(outreach_auth::Role::SafetyOffice, None)
        ),
    )
    .body(axum::body::Body::empty())
    .unwrap();
    let response = app.router.clone();
    let response = tower::ServiceExt::oneshot(response, request).await.unwrap();

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"],
        "text/csv; charset=utf-8"
    );
    let body = http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap()
        .to_bytes();
    let text = String::from_utf8(body.to_vec()).unwrap();
    assert!(
        text.starts_with("period,table,by,row,column,value\n"),
        "{text}"
    );
    let quarter = last_quarter();
    assert!(
        text.contains(&format!(
            "{quarter},cases_opened,campus,North,incident,11\n"
        )),
        "{text}"
    );
}

#[tokio::test]
async fn a_period_that_is_not_a_quarter_or_month_is_a_400_naming_it() {
    let app = TestApp::spawn().await;
    for bad in ["2026-Q5", "2026", "last-quarter"] {
        let response = app.get(&format!("/v1/statistics?period={bad}")).await;
        let detail = response.assert_problem(StatusCode::BAD_REQUEST, "invalid-parameter");
        assert!(detail.contains("period"), "{detail}");
    }
    let missing = app.get("/v1/statistics").await;
    missing.assert_problem(StatusCode::BAD_REQUEST, "invalid-parameter");
}

fn last_quarter() -> String {
    Period::quarter_of(Utc::now().date_naive())
        .previous_quarter()
        .to_string()
}

async fn statistics_outbox(app: &TestApp) -> Vec<(Uuid, Value)> {
    sqlx::query_as("SELECT id, payload FROM outbox WHERE kind = 'statistics' ORDER BY created_at")
        .fetch_all(&app.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn the_director_publishes_a_quarter_once_and_asking_again_sends_nothing() {
    let app = TestApp::spawn().await;
    let quarter = last_quarter();

    let first = app
        .post(
            "/v1/statistics/publications",
            Some(serde_json::json!({"period": quarter})),
            None,
        )
        .await;
    let again = app
        .post(
            "/v1/statistics/publications",
            Some(serde_json::json!({"period": quarter})),
            None,
        )
        .await;

    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    assert_eq!(first.body["published_now"], true);
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    assert_eq!(again.body["published_now"], false);
    assert_eq!(again.body["event_id"], first.body["event_id"]);
    let published = statistics_outbox(&app).await;
    assert_eq!(published.len(), 1);
    let (id, event) = &published[0];
    assert_eq!(event["id"], id.to_string());
    assert_eq!(event["specversion"], "1.0");
    assert_eq!(event["type"], "health.peer-support.statistics.published.v1");
    assert_eq!(event["subject"], quarter);
    assert_eq!(event["data"]["period"], quarter);
    assert_eq!(event["data"]["smallest_published_count"], 11);
    // Who asked is on record, by name.
    let requested: (String, Option<String>, Option<String>) = sqlx::query_as(
        "SELECT requested_by, requested_by_subject, requested_by_staff_id
           FROM statistics_publications",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        requested,
        (
            "director".to_owned(),
            Some("oidc|director".to_owned()),
            Some("E90001".to_owned())
        )
    );
}

#[tokio::test]
async fn a_service_client_asking_for_a_publication_is_recorded_as_one() {
    let app = TestApp::spawn().await;
    let scheduler = app.token(outreach_auth::Role::Service, None);

    let published = app
        .post_as(
            &scheduler,
            "/v1/statistics/publications",
            Some(serde_json::json!({"period": last_quarter()})),
        )
        .await;

    assert_eq!(published.status, StatusCode::CREATED, "{}", published.body);
    let requested: (String, Option<String>) =
        sqlx::query_as("SELECT requested_by, requested_by_subject FROM statistics_publications")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(
        requested,
        ("service".to_owned(), Some("oidc|service".to_owned()))
    );
}

#[tokio::test]
async fn a_period_that_is_not_over_is_not_published() {
    let app = TestApp::spawn().await;
    let response = app
        .post(
            "/v1/statistics/publications",
            Some(serde_json::json!({"period": this_quarter()})),
            None,
        )
        .await;
    response.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "period-not-over");
    assert!(statistics_outbox(&app).await.is_empty());
}

#[tokio::test]
async fn the_schedule_publishes_the_last_quarter_once_but_not_for_a_new_installation() {
    let app = TestApp::spawn().await;
    let schedule = outreach_process_managers::StatisticsSchedule {
        pool: app.pool.clone(),
        commands: app.commands.clone(),
        interval: std::time::Duration::from_secs(600),
        periods: Default::default(),
    };
    let shutdown = tokio_util::sync::CancellationToken::new();
    let tick = || async {
        outreach_process_managers::sweep::tick(&schedule, &app.pool, &mut None, &shutdown).await
    };

    // Everything this installation recorded is from today: last quarter was not its to count.
    assert_eq!(tick().await.unwrap(), Some(0));
    assert!(statistics_outbox(&app).await.is_empty());

    // It has been running since before last quarter ended (the past rewritten by the owner:
    // the service's role may not).
    sqlx::query(
        "UPDATE events SET recorded_at = now() - interval '200 days'
          WHERE global_position = (SELECT min(global_position) FROM events)",
    )
    .execute(&app.owner_pool().await)
    .await
    .unwrap();
    assert_eq!(tick().await.unwrap(), Some(1));
    assert_eq!(tick().await.unwrap(), Some(0));
    let published = statistics_outbox(&app).await;
    assert_eq!(published.len(), 1);
    assert_eq!(published[0].1["subject"], last_quarter());
}

#[tokio::test]
async fn the_safety_office_reads_only_quarters_that_are_over_and_no_months() {
    let app = TestApp::spawn().await;
    let safety = app.token(outreach_auth::Role::SafetyOffice, None);
    // The running quarter, polled, would show single cases arriving.
    let running = app
        .get_as(
            &safety,
            &format!("/v1/statistics?period={}", this_quarter()),
        )
        .await;
    let detail = running.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "period-not-over");
    assert!(detail.contains(&this_quarter()), "{detail}");
    // A month is the difference of its quarter and the other two: quarters only by default.
    let month = Period::quarter_of(Utc::now().date_naive())
        .previous_quarter()
        .first_month()
        .format("%Y-%m")
        .to_string();
    app.get_as(&safety, &format!("/v1/statistics?period={month}"))
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "months-not-served");
    // Nor is a month published on the topic.
    let published = app
        .post(
            "/v1/statistics/publications",
            Some(serde_json::json!({"period": month})),
            None,
        )
        .await;
    published.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "months-not-served");
    // The last quarter, over, is served.
    let over = app
        .get_as(
            &safety,
            &format!("/v1/statistics?period={}", last_quarter()),
        )
        .await;
    assert_eq!(over.status, StatusCode::OK, "{}", over.body);
    assert_eq!(over.body["period"], last_quarter());
    // The program's staff read any period, the running one too.
    assert_eq!(
        app.get(&format!("/v1/statistics?period={}", this_quarter()))
            .await
            .status,
        StatusCode::OK
    );
}

/// Opens a case at `campus` as if it had been opened on a day of last quarter.
async fn open_last_quarter(app: &TestApp, campus: &str, staff_id: &str) {
    let day = Period::quarter_of(Utc::now().date_naive())
        .previous_quarter()
        .first_month()
        + Duration::days(20);
    let opened_at = day.and_hms_opt(18, 0, 0).unwrap().and_utc();
    open_on(app, campus, staff_id, opened_at).await;
}

#[tokio::test]
async fn what_the_safety_office_read_of_a_quarter_stays_as_it_was_and_is_what_is_published() {
    let app = TestApp::spawn().await;
    let safety = app.token(outreach_auth::Role::SafetyOffice, None);
    for n in 0..12 {
        open_last_quarter(&app, "North", &format!("N{n}")).await;
    }
    project(&app).await;
    let uri = format!("/v1/statistics?period={}", last_quarter());
    let opened = |statistics: &Value| table(statistics, "cases_opened", "campus")["total"].clone();
    let first = app.get_as(&safety, &uri).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    assert_eq!(opened(&first.body), 12);

    // A case recorded late for a day of the quarter: the program's staff see it, the safety
    // office goes on reading what it read, or the difference would be that one case.
    open_last_quarter(&app, "North", "N-late").await;
    project(&app).await;
    assert_eq!(opened(&app.get(&uri).await.body), 13);
    let again = app.get_as(&safety, &uri).await;
    assert_eq!(again.body, first.body);

    // What is published is what the safety office reads.
    let published = app
        .post(
            "/v1/statistics/publications",
            Some(serde_json::json!({"period": last_quarter()})),
            None,
        )
        .await;
    assert_eq!(published.status, StatusCode::CREATED, "{}", published.body);
    let outbox = statistics_outbox(&app).await;
    assert_eq!(outbox[0].1["data"], first.body);
}
