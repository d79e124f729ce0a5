//! Bad input goes to the dead-letter topic with its reason, its origin and what identifies it
//! (never the message itself), and the stream goes on. Originals are kept, on a topic of their
//! own, only where a program asks for them.

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
    assert!(
        letter.payload.is_empty() && letter.key.is_none(),
        "the dead letter keeps nothing of the message: {letter:?}"
    );
    for (header, _) in &bad.headers {
        assert!(
            !letter.headers.contains_key(header),
            "the source's {header} header is not copied: {letter:?}"
        );
    }
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
    // Nothing identifies a message that is not JSON but where it was.
    assert!(!letter.headers.contains_key("dlq-event-id"), "{letter:?}");
    assert!(!letter.headers.contains_key("dlq-report-id"), "{letter:?}");
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
    assert_eq!(letter.header("dlq-event-id"), event["id"].as_str().unwrap());
    assert_eq!(
        letter.header("dlq-event-source"),
        event["source"].as_str().unwrap()
    );
    assert_eq!(
        letter.header("dlq-event-type"),
        event["type"].as_str().unwrap()
    );
    assert_eq!(letter.header("dlq-report-id"), "INC-BAD");
    let everything = format!("{letter:?}");
    for personal in ["B1", "astronaut"] {
        assert!(!everything.contains(personal), "{personal} in {letter:?}");
    }
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
    // Binary mode: the attributes come from the ce_ headers, which are not copied.
    assert_eq!(letter.header("dlq-event-id"), event["id"].as_str().unwrap());
    assert_eq!(
        letter.header("dlq-event-type"),
        "health.safety.parking.violation.v1"
    );
    assert_eq!(letter.header("dlq-report-id"), "INC-X");
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

#[tokio::test]
async fn where_originals_are_kept_they_go_to_their_own_topic_with_its_own_retention() {
    let bed = TestBed::with(|s| {
        s.kafka.partitions = 1;
        s.kafka.dead_letter_originals_topic =
            Some(format!("{}.originals", s.kafka.dead_letter_topic));
        s.kafka.retention_hours.dead_letter_originals = 24;
    })
    .await;
    let mut event = incident("INC-ORIG", vec![staff("O1", "nurse")]);
    event["data"]["involved_staff"][0]["discipline"] = json!("astronaut");
    let bad = encode(&event, Mode::Binary).unwrap();
    let letter = dead_letter_for(&bed, bad.clone()).await;
    assert_eq!(letter.header("dlq-report-id"), "INC-ORIG");

    let originals = bed
        .settings
        .kafka
        .dead_letter_originals_topic
        .clone()
        .unwrap();
    let original = bed.read_topic(&originals, 1).await.remove(0);
    assert_eq!(original.payload, bad.payload, "the original, for replay");
    assert_eq!(original.key.as_deref(), Some("bad"));
    assert_eq!(original.header("ce_id"), event["id"].as_str().unwrap());
    assert_eq!(original.header("dlq-reason-code"), "schema-violation");
    assert_eq!(original.header("dlq-source-offset"), "0");

    let settings =
        outreach_intake::admin::topic_configs(&bed.settings.kafka.connection(), &originals)
            .await
            .expect("the broker describes the topic");
    assert_eq!(
        settings.get("retention.ms").map(String::as_str),
        Some("86400000")
    );
    assert_eq!(
        settings.get("cleanup.policy").map(String::as_str),
        Some("delete")
    );
}
