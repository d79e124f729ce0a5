//! The safety office's statistics leave the service once per period, as a CloudEvent on the
//! statistics topic: counts only, small cells suppressed.

use chrono::Utc;
use integration_tests::reports::{incident_with_clinical_detail, staff};
use integration_tests::TestBed;
use outreach_domain::period::Period;
use outreach_intake::sample::Mode;
use serde_json::json;

const CANARY: &str = "Canary-Pangolin-8080";

#[tokio::test]
async fn the_director_publishes_last_quarter_once_as_a_cloudevent_with_counts_only() {
    let bed = TestBed::new().await;
    let service = bed.start().await;
    bed.publish(
        &incident_with_clinical_detail("INC-900", vec![staff("N1", "nurse")], CANARY),
        Mode::Structured,
    )
    .await;
    bed.wait_for_cases(&service, "the case", |cases| cases.len() == 1)
        .await;
    let quarter = Period::quarter_of(Utc::now().date_naive())
        .previous_quarter()
        .to_string();

    let (status, first) = bed
        .post(
            &service,
            "/v1/statistics/publications",
            json!({"period": quarter}),
            None,
        )
        .await;
    assert_eq!(status, 201, "{first}");
    let (status, again) = bed
        .post(
            &service,
            "/v1/statistics/publications",
            json!({"period": quarter}),
            None,
        )
        .await;
    assert_eq!((status, &again["published_now"]), (200, &json!(false)));
    let queued: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox WHERE kind = 'statistics'")
        .fetch_one(&bed.db().await)
        .await
        .unwrap();
    assert_eq!(queued, 1, "asking again queued nothing new");

    let topic = bed.settings.notifications.statistics_topic.clone();
    let records = bed.read_topic(&topic, 1).await;
    let record = &records[0];
    assert_eq!(
        record.header("content-type"),
        "application/cloudevents+json; charset=UTF-8"
    );
    assert_eq!(record.header("idempotency-key"), first["event_id"]);
    let event = record.json();
    assert_eq!(event["type"], "health.peer-support.statistics.published.v1");
    assert_eq!(event["subject"], quarter);
    assert_eq!(event["data"]["period"], quarter);
    let text = String::from_utf8_lossy(&record.payload);
    for absent in [CANARY, "N1", "GivenN1", "FamilyN1", "n1@example.org"] {
        assert!(!text.contains(absent), "{absent} in {text}");
    }
    service.stop().await;
}

/// The safety office's token of the test bed's issuer.
fn safety_office(bed: &TestBed) -> String {
    bed.token(outreach_auth::Role::SafetyOffice, None)
}

#[tokio::test]
async fn where_months_are_served_a_quarter_and_its_months_hide_together_and_are_published_so() {
    let bed = TestBed::with(|s| s.statistics.safety_office_months = true).await;
    let service = bed.start().await;
    let quarter = Period::quarter_of(Utc::now().date_naive()).previous_quarter();
    let first = quarter.first_month();
    let months: Vec<String> = (0..3)
        .map(|m| (first + chrono::Months::new(m)).format("%Y-%m").to_string())
        .collect();
    // Cases opened at three campuses, month by month, as the statistics projection counts them.
    // North's 4 in the first month is hidden; suppressed on its own, that month would be the
    // quarter's 34 less the other months' 15 and 15.
    let db = bed.db().await;
    for (m, counts) in [[4, 20, 30], [15, 15, 40], [15, 12, 50]].iter().enumerate() {
        for (campus, count) in ["North", "South", "West"].iter().zip(counts) {
            sqlx::query(
                "INSERT INTO statistics_counts (month, measure, campus, discipline, count)
                 VALUES ($1, 'opened:incident', $2, 'nurse', $3)",
            )
            .bind(first + chrono::Months::new(m as u32))
            .bind(campus)
            .bind(*count as i64)
            .execute(&db)
            .await
            .unwrap();
        }
    }
    let north = |statistics: &serde_json::Value| {
        let table = statistics["tables"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["measure"] == "cases_opened" && t["by"] == "campus")
            .expect("cases opened by campus")["table"]
            .clone();
        let row = table["rows"]
            .as_array()
            .unwrap()
            .iter()
            .position(|r| r == "North")
            .unwrap();
        table["cells"][row][0].clone()
    };

    // The program's staff read each period on its own, and can difference them.
    let staff: Vec<serde_json::Value> =
        statistics_of(&bed, &service, &quarter, &months, None).await;
    assert_eq!(
        staff.iter().map(north).collect::<Vec<_>>(),
        [json!(34), json!("suppressed"), json!(15), json!(15)]
    );
    // The safety office reads them linked: North is hidden in the quarter and every month.
    let token = safety_office(&bed);
    let linked = statistics_of(&bed, &service, &quarter, &months, Some(&token)).await;
    assert_eq!(
        linked.iter().map(north).collect::<Vec<_>>(),
        vec![json!("suppressed"); 4]
    );
    // A month of the running quarter is not over, whatever the month.
    let running = Period::quarter_of(Utc::now().date_naive()).first_month();
    let (status, refused) = bed
        .get_as(
            &service,
            &token,
            &format!("/v1/statistics?period={}", running.format("%Y-%m")),
        )
        .await;
    assert_eq!((status, &refused["rule"]), (422, &json!("period-not-over")));

    // A month published is the month the safety office reads.
    let (status, published) = bed
        .post(
            &service,
            "/v1/statistics/publications",
            json!({"period": months[0]}),
            None,
        )
        .await;
    assert_eq!(status, 201, "{published}");
    let topic = bed.settings.notifications.statistics_topic.clone();
    let event = bed.read_topic(&topic, 1).await[0].json();
    assert_eq!(event["data"], linked[1]);
    service.stop().await;
}

/// The quarter's and its months' statistics, as the caller with `token` reads them (the
/// director when `None`).
async fn statistics_of(
    bed: &TestBed,
    service: &peer_outreach::Service,
    quarter: &Period,
    months: &[String],
    token: Option<&str>,
) -> Vec<serde_json::Value> {
    let mut read = Vec::new();
    for period in std::iter::once(quarter.to_string()).chain(months.iter().cloned()) {
        let path = format!("/v1/statistics?period={period}");
        let (status, body) = match token {
            Some(token) => bed.get_as(service, token, &path).await,
            None => bed.get(service, &path).await,
        };
        assert_eq!(status, 200, "{period}: {body}");
        read.push(body);
    }
    read
}
