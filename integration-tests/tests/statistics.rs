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
