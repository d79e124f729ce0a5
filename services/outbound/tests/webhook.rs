//! The paging webhook publisher against a small HTTP receiver in the test process (see
//! `outreach_test_support::HttpReceiver`), standing in for the paging service's endpoint.

mod common;

use std::time::Duration;

use common::TestDb;
use outreach_outbound::{Round, WebhookPublisher, WebhookSettings};
use outreach_test_support::{free_port, HttpReceiver};
use serde_json::json;
use uuid::Uuid;

fn publisher(db: &TestDb, url: &str) -> WebhookPublisher {
    let settings = WebhookSettings {
        url: url.into(),
        routing_key: "test-routing-key".into(),
        timeout_ms: 2000,
    };
    let mut publisher =
        WebhookPublisher::new(db.pool.clone(), &settings, Duration::from_millis(100)).unwrap();
    publisher.retry_after = Duration::from_millis(10);
    publisher
}

fn page(case: Uuid) -> serde_json::Value {
    json!({
        "event_action": "trigger",
        "dedup_key": case,
        "payload": {"summary": "urgent peer support case at Parnassus, first contact due by Tue 1 Dec 2026, 10:42 PST",
                    "source": "peer-outreach", "severity": "critical"},
        "links": [{"href": format!("https://peer.example/dashboard/cases/{case}"), "text": "The case"}],
    })
}

#[tokio::test]
async fn a_page_is_posted_with_the_routing_key_and_its_idempotency_key_and_marked_published() {
    let receiver = HttpReceiver::start().await;
    let db = TestDb::new().await;
    let case = Uuid::new_v4();
    let row = db.insert("page", "webhook", page(case)).await;
    let email = db
        .insert(
            "page-sms",
            "email",
            json!({"to": "1@sms.example", "subject": "s", "body": "b"}),
        )
        .await;
    let publisher = publisher(&db, &receiver.url());

    assert_eq!(
        publisher.publish_round().await.unwrap(),
        Round {
            published: 1,
            failed: 0
        }
    );

    let received = receiver.received();
    assert_eq!(received.len(), 1);
    let mut expected = page(case);
    expected["routing_key"] = json!("test-routing-key");
    assert_eq!(received[0].body, expected);
    assert_eq!(received[0].idempotency_key, Some(row.to_string()));
    assert_eq!(db.state(row).await, (true, 0));
    // E-mail rows are not the webhook's.
    assert_eq!(db.state(email).await, (false, 0));
    assert_eq!(publisher.publish_round().await.unwrap(), Round::default());
    assert_eq!(receiver.received().len(), 1);
}

#[tokio::test]
async fn a_busy_endpoint_is_tried_again_within_the_round_and_a_refusal_costs_an_attempt() {
    let receiver = HttpReceiver::start().await;
    let db = TestDb::new().await;
    let busy = db.insert("page", "webhook", page(Uuid::new_v4())).await;
    let publisher = publisher(&db, &receiver.url());

    // Two 503s, then 202: delivered in the round, on the third try.
    receiver.answer_next(&[503, 503]);
    assert_eq!(
        publisher.publish_round().await.unwrap(),
        Round {
            published: 1,
            failed: 0
        }
    );
    assert_eq!(receiver.received().len(), 3);
    assert_eq!(db.state(busy).await, (true, 0));

    // A 400 is this event refused: an attempt counted, the round goes on to the next row.
    let refused = db.insert("page", "webhook", page(Uuid::new_v4())).await;
    let next = db
        .insert(
            "page-resolve",
            "webhook",
            json!({"event_action": "resolve", "dedup_key": Uuid::new_v4()}),
        )
        .await;
    receiver.answer_next(&[400]);
    assert_eq!(
        publisher.publish_round().await.unwrap(),
        Round {
            published: 1,
            failed: 1
        }
    );
    assert_eq!(db.state(refused).await, (false, 1));
    assert_eq!(db.state(next).await, (true, 0));

    // Still busy after three tries: the round ends, the row waits for the next one.
    receiver.answer_next(&[500, 500, 500]);
    assert_eq!(
        publisher.publish_round().await.unwrap(),
        Round {
            published: 0,
            failed: 1
        }
    );
    assert_eq!(db.state(refused).await, (false, 2));
    assert_eq!(
        publisher.publish_round().await.unwrap(),
        Round {
            published: 1,
            failed: 0
        }
    );
    assert_eq!(db.state(refused).await, (true, 2));
}

#[tokio::test]
async fn an_endpoint_nobody_listens_on_ends_the_round_and_leaves_the_rest_untried() {
    let db = TestDb::new().await;
    let first = db.insert("page", "webhook", page(Uuid::new_v4())).await;
    let second = db.insert("page", "webhook", page(Uuid::new_v4())).await;
    let publisher = publisher(&db, &format!("http://127.0.0.1:{}/v2/enqueue", free_port()));

    assert_eq!(
        publisher.publish_round().await.unwrap(),
        Round {
            published: 0,
            failed: 1
        }
    );
    let states = [db.state(first).await, db.state(second).await];
    assert!(
        states.contains(&(false, 1)) && states.contains(&(false, 0)),
        "{states:?}"
    );
}
