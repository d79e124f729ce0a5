//! An escalation notifies the program director (promise 5): recorded in the outbox with the
//! projection's checkpoint, published once with an idempotency key, facts only; a rebuild of the
//! reaction sends nothing again.

use std::time::Duration;

use integration_tests::reports::{incident, staff};
use integration_tests::{eventually, metric_value, TestBed};
use outreach_intake::sample::Mode;
use outreach_projections::{ProjectionRunner, RunnerSettings};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use serde_json::json;
use uuid::Uuid;

/// How many records `topic` holds, from the partitions' watermarks.
async fn records_on(bed: &TestBed, topic: &str) -> i64 {
    let (brokers, topic) = (bed.settings.kafka.brokers.clone(), topic.to_string());
    let partitions = bed.settings.kafka.partitions;
    tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &brokers)
            .create()
            .expect("a consumer can be created");
        (0..partitions)
            .map(|partition| {
                let (low, high) = consumer
                    .fetch_watermarks(&topic, partition, Duration::from_secs(10))
                    .expect("the watermarks can be read");
                high - low
            })
            .sum()
    })
    .await
    .unwrap()
}

async fn outbox(bed: &TestBed) -> Vec<(Uuid, String, String, bool, i32)> {
    sqlx::query_as(
        "SELECT id, kind, topic_key, published_at IS NOT NULL, attempts FROM outbox
         WHERE kind = 'escalation' ORDER BY id",
    )
    .fetch_all(&bed.db().await)
    .await
    .unwrap()
}

#[tokio::test]
async fn an_escalation_goes_to_director_notices_once_with_its_category_and_nothing_personal() {
    let bed = TestBed::new().await;
    let service = bed.start().await;
    bed.put_on_roster(&service, "S1").await;
    bed.publish(
        &incident("INC-700", vec![staff("E1", "nurse")]),
        Mode::Structured,
    )
    .await;
    let cases = bed
        .wait_for_cases(&service, "the case", |cases| cases.len() == 1)
        .await;
    let id = cases[0]["case_id"].as_str().unwrap().to_string();
    for (what, body) in [
        ("assignment", json!({"supporter_id": "S1"})),
        (
            "contact-attempts",
            json!({"channel": "email", "outcome": "reached"}),
        ),
        (
            "escalations",
            json!({"category": "danger_to_self_or_others"}),
        ),
    ] {
        let (status, answer) = bed
            .post(&service, &format!("/v1/cases/{id}/{what}"), body, None)
            .await;
        assert_eq!(status, 200, "{what}: {answer}");
    }

    let topic = bed.settings.notifications.topic.clone();
    let notice = bed.read_topic(&topic, 1).await.remove(0);
    assert_eq!(notice.key.as_deref(), Some(id.as_str()));
    assert_eq!(notice.header("notice-kind"), "escalation");
    let key: Uuid = notice
        .header("idempotency-key")
        .parse()
        .expect("the idempotency key is a UUID");
    let payload = notice.json();
    assert_eq!(payload["notice"], "escalation");
    assert_eq!(payload["case_id"], id.as_str());
    assert_eq!(payload["category"], "danger_to_self_or_others");
    assert!(payload["recorded_at"].is_string(), "{payload}");
    assert_eq!(
        payload.as_object().unwrap().len(),
        4,
        "facts only: {payload}"
    );
    // Who the member is never leaves: not in the payload, not in a header.
    let everything = format!(
        "{} {:?}",
        String::from_utf8_lossy(&notice.payload),
        notice.headers
    );
    for personal in ["GivenE1", "FamilyE1", "e1@example.org", "555 0100"] {
        assert!(
            !everything.contains(personal),
            "{personal} left: {everything}"
        );
    }

    // Recorded once, marked published once the broker acknowledged it.
    let rows = eventually(
        "the notice to be marked published",
        || outbox(&bed),
        |rows| rows.len() == 1 && rows[0].3,
    )
    .await;
    assert_eq!(rows[0], (key, "escalation".into(), id.clone(), true, 0));
    assert_eq!(records_on(&bed, &topic).await, 1);

    // A rebuild replays every event onto the outbox as it stands: nothing is recorded again, and
    // the service, started afresh, finds nothing to send.
    service.stop().await;
    let db = bed.db().await;
    let runner = ProjectionRunner::new(
        db.clone(),
        outreach_projections::by_name("director-notices", &bed.settings.projection_setup())
            .unwrap(),
        RunnerSettings::default(),
    );
    let replayed = runner.rebuild(|_, _| {}).await.unwrap();
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(replayed as i64, events);
    assert_eq!(outbox(&bed).await, rows);
    let service = bed.start().await;
    // Several publishing intervals: time enough to send anything there were to send.
    tokio::time::sleep(Duration::from_millis(
        4 * bed.settings.notifications.publish_interval_ms,
    ))
    .await;
    assert_eq!(records_on(&bed, &topic).await, 1);
    assert_eq!(outbox(&bed).await, rows);

    eventually(
        "the outbox backlog metric to read 0",
        || bed.metrics(&service),
        |text| metric_value(text, "peer_outreach_outbox_backlog", &[]) == Some(0.0),
    )
    .await;
    service.stop().await;
}
