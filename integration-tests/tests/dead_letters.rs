//! Bad input goes to the dead-letter topic with its reason and origin, and the stream goes on.

use integration_tests::reports::{incident, staff};
use integration_tests::{staff_ids, DeadLetter, TestBed};
use outreach_intake::sample::{encode, Encoded, Mode};
use serde_json::json;

/// Publishes `bad`, then a good report, on one partition: the good one's case proves the
/// consumer went on past the bad one. Returns the single dead letter.
async fn dead_letter_for(bed: &TestBed, bad: Encoded) -> DeadLetter {
    let service = bed.start().await;
    bed.publish_raw(Some("bad"), &bad).await;
    bed.publish(
        &incident("INC-GOOD", vec![staff("G1", "nurse")]),
        Mode::Structured,
    )
    .await;
    let cases = bed
        .wait_for_cases(&service, "the good report's case", |c| !c.is_empty())
        .await;
    assert_eq!(staff_ids(&cases), ["G1"]);
    let mut letters = bed.dead_letters(1).await;
    service.stop().await;
    let letter = letters.remove(0);
    assert_eq!(
        letter.header("dlq-source-topic"),
        bed.settings.kafka.incidents_topic
    );
    assert_eq!(letter.header("dlq-source-partition"), "0");
    assert_eq!(letter.header("dlq-source-offset"), "0");
    assert_eq!(
        letter.payload, bad.payload,
        "the original message is kept for replay"
    );
    letter
}

async fn one_partition() -> TestBed {
    TestBed::with(|s| s.kafka.partitions = 1).await
}

#[tokio::test]
async fn a_message_that_is_not_json_is_dead_lettered() {
    let bed = one_partition().await;
    let bad = Encoded {
        headers: vec![],
        payload: b"INC-1, Parnassus, <not json>".to_vec(),
    };
    let letter = dead_letter_for(&bed, bad).await;
    assert_eq!(letter.header("dlq-reason-code"), "not-json");
    assert!(letter.header("dlq-reason").contains("not JSON"));
}

#[tokio::test]
async fn a_report_that_breaks_its_schema_is_dead_lettered_with_the_failing_field() {
    let bed = one_partition().await;
    let mut event = incident("INC-BAD", vec![staff("B1", "nurse")]);
    event["data"]["involved_staff"][0]["discipline"] = json!("astronaut");
    let letter = dead_letter_for(&bed, encode(&event, Mode::Structured).unwrap()).await;
    assert_eq!(letter.header("dlq-reason-code"), "schema-violation");
    let reason = letter.header("dlq-reason");
    assert!(reason.contains("/involved_staff/0/discipline"), "{reason}");
    assert!(
        !reason.contains("astronaut"),
        "the reason never quotes the message: {reason}"
    );
}

#[tokio::test]
async fn an_event_of_an_unknown_type_is_dead_lettered() {
    let bed = one_partition().await;
    let mut event = incident("INC-X", vec![staff("X1", "nurse")]);
    event["type"] = json!("health.safety.parking.violation.v1");
    let letter = dead_letter_for(&bed, encode(&event, Mode::Binary).unwrap()).await;
    assert_eq!(letter.header("dlq-reason-code"), "unknown-type");
    assert!(letter
        .header("dlq-reason")
        .contains("health.safety.parking.violation.v1"));
}

#[tokio::test]
async fn a_message_over_the_size_limit_is_dead_lettered_unread() {
    let bed = TestBed::with(|s| {
        s.kafka.partitions = 1;
        s.kafka.max_message_bytes = 4096;
    })
    .await;
    let crowd = (0..40).map(|n| staff(&format!("C{n}"), "nurse")).collect();
    let bad = encode(&incident("INC-BIG", crowd), Mode::Structured).unwrap();
    assert!(bad.payload.len() > 4096);
    let letter = dead_letter_for(&bed, bad).await;
    assert_eq!(letter.header("dlq-reason-code"), "too-large");
    assert!(letter.header("dlq-reason").contains("4096-byte limit"));
}
