//! The privacy auditor's test, the part outside the database (issue 27): a stream naming
//! several members (one escalated under every category, so the director's notices carry them;
//! one who answers the feedback link; one assigned; two named in messages that are
//! dead-lettered), every case closed, a retention period of zero days, the purge. Then every
//! topic the service writes is read from the beginning, and everything the service logged (at
//! debug level) is searched, for what would tell of each member: their staff id, names, e-mail
//! and phone, the case and member ids computable before issue 27 from the staff id and the
//! report, and the SHA-256 and HMAC-SHA256 of the staff id under every key the configuration
//! holds (the key-encryption key and the feedback link key derived from it), in hex and base64.
//! None may be found.
//!
//! Two topics are not read, and their retention is checked instead: the assignments topic,
//! whose notices carry names and contact details until the broker deletes them (the issue asks
//! that it keep them no longer than the purge period), and the incidents topic, which the
//! hospital's reporting system writes (the source messages themselves; the service cannot take
//! anything out of them, only create the topic with a retention of its own).
//!
//! The database is the other part of the auditor's test (`process-managers/tests/
//! retention_purge.rs`).

use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use integration_tests::logs::CapturedLogs;
use integration_tests::reports::{incident, staff, SOURCE};
use integration_tests::{case_id_of, eventually, TestBed, TopicRecord};
use outreach_domain::ids::derivable_before_27;
use outreach_events::ReportRef;
use outreach_intake::admin::topic_configs;
use outreach_intake::sample::Mode;
use outreach_projections::feedback_links::LinkKey;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use ring::{digest, hmac};
use serde_json::{json, Value};

/// The members whose cases open, and the report that names them.
const REPORT: &str = "INC-AUDIT-1";
const ESCALATED: &str = "AUD90101";
const ANSWERED: &str = "AUD90102";
const ASSIGNED: &str = "AUD90103";
/// Named in a report that breaks the schema (an involvement no source may send).
const SCHEMA_REFUSED: &str = "AUD90104";
const SCHEMA_REPORT: &str = "INC-AUDIT-2";
/// Named in a report the domain refuses (no way to reach them), after they were keyed.
const DOMAIN_REFUSED: &str = "AUD90105";
const DOMAIN_REPORT: &str = "INC-AUDIT-3";

const CATEGORIES: [&str; 4] = [
    "danger_to_self_or_others",
    "impairment_putting_patients_at_risk",
    "abuse_or_neglect",
    "discrimination_harassment_or_retaliation",
];

/// A member as the report names them, with a mobile number of their own.
fn member(staff_id: &str, discipline: &str) -> Value {
    let mut member = staff(staff_id, discipline);
    member["contact"]["mobile"] = json!(phone(staff_id));
    member
}

fn phone(staff_id: &str) -> String {
    format!("+1 415 555 {}", &staff_id[staff_id.len() - 4..])
}

/// Every way the text of a purged member could appear.
fn traces_of(staff_id: &str, report_id: &str, keys: &[(&str, Vec<u8>)]) -> Vec<(String, String)> {
    let mut traces = vec![
        ("staff id".to_owned(), staff_id.to_owned()),
        ("given name".to_owned(), format!("Given{staff_id}")),
        ("family name".to_owned(), format!("Family{staff_id}")),
        (
            "e-mail".to_owned(),
            format!("{}@example.org", staff_id.to_lowercase()),
        ),
        ("mobile".to_owned(), phone(staff_id)),
        // The number as a pager or SMS gateway would write it.
        (
            "mobile digits".to_owned(),
            phone(staff_id)
                .chars()
                .filter(char::is_ascii_digit)
                .collect(),
        ),
    ];
    let report = ReportRef {
        source: SOURCE.into(),
        report_id: report_id.into(),
    };
    let old_case = derivable_before_27::case_id(&report, staff_id);
    let old_member = derivable_before_27::member_id(staff_id);
    for (what, id) in [("old case id", old_case), ("old member id", old_member)] {
        traces.push((what.to_owned(), id.to_string()));
        traces.push((format!("{what}, simple"), id.simple().to_string()));
    }
    let mut digests = vec![(
        "SHA-256".to_owned(),
        digest::digest(&digest::SHA256, staff_id.as_bytes())
            .as_ref()
            .to_vec(),
    )];
    for (name, key) in keys {
        let key = hmac::Key::new(hmac::HMAC_SHA256, key);
        digests.push((
            format!("HMAC-SHA256 under {name}"),
            hmac::sign(&key, staff_id.as_bytes()).as_ref().to_vec(),
        ));
    }
    for (what, bytes) in digests {
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        traces.push((format!("{what}, hex"), hex.clone()));
        traces.push((format!("{what}, HEX"), hex.to_uppercase()));
        traces.push((format!("{what}, base64"), B64.encode(&bytes)));
    }
    traces
}

/// How many records `topic` holds, from its partitions' watermarks.
async fn records_on(bed: &TestBed, topic: &str) -> usize {
    let (brokers, topic) = (bed.settings.kafka.brokers.clone(), topic.to_owned());
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
                (high - low) as usize
            })
            .sum()
    })
    .await
    .unwrap()
}

/// Everything a record holds, as text: key, header names and values, payload.
fn text_of(record: &TopicRecord) -> String {
    format!(
        "{} {:?} {}",
        record.key.as_deref().unwrap_or_default(),
        record.headers,
        String::from_utf8_lossy(&record.payload)
    )
}

async fn post_ok(bed: &TestBed, service: &peer_outreach::Service, path: &str, body: Value) {
    let (status, answer) = bed.post(service, path, body, None).await;
    assert!((200..300).contains(&status), "{path}: {status} {answer}");
}

#[tokio::test]
async fn after_the_purge_no_topic_and_no_log_line_tells_of_a_purged_member() {
    let logs = CapturedLogs::install();
    let bed = TestBed::with(|settings| {
        settings.privacy.retention_days = 0;
        // The first service sweeps once an hour: the test reads the feedback link before any
        // purge; the second, started after everything is closed, every 100 ms.
        settings.privacy.purge_interval_ms = 3_600_000;
    })
    .await;
    let service = bed.start().await;
    bed.put_on_roster(&service, "S1").await;

    bed.publish(
        &incident(
            REPORT,
            vec![
                member(ESCALATED, "nurse"),
                member(ANSWERED, "physician"),
                member(ASSIGNED, "pharmacist"),
            ],
        ),
        Mode::Structured,
    )
    .await;
    let mut schema_refused = member(SCHEMA_REFUSED, "nurse");
    schema_refused["involvement"] = json!("no-such-involvement");
    bed.publish(
        &incident(SCHEMA_REPORT, vec![schema_refused]),
        Mode::Structured,
    )
    .await;
    let mut domain_refused = member(DOMAIN_REFUSED, "nurse");
    // Valid in shape (one property), but no way the program can use.
    domain_refused["contact"] = json!({"pager": "4471"});
    domain_refused["name"]["given"] = json!(format!("Given{DOMAIN_REFUSED}"));
    bed.publish(
        &incident(DOMAIN_REPORT, vec![domain_refused]),
        Mode::Structured,
    )
    .await;

    let cases = bed
        .wait_for_cases(&service, "three cases", |cases| cases.len() == 3)
        .await;
    let letters = bed.dead_letters(2).await;
    let ids: Vec<String> = [ESCALATED, ANSWERED, ASSIGNED]
        .iter()
        .map(|staff_id| case_id_of(&cases, staff_id))
        .collect();
    for id in &ids {
        post_ok(
            &bed,
            &service,
            &format!("/v1/cases/{id}/assignment"),
            json!({"supporter_id": "S1"}),
        )
        .await;
        post_ok(
            &bed,
            &service,
            &format!("/v1/cases/{id}/contact-attempts"),
            json!({"channel": "email", "outcome": "reached"}),
        )
        .await;
    }
    for category in CATEGORIES {
        post_ok(
            &bed,
            &service,
            &format!("/v1/cases/{}/escalations", ids[0]),
            json!({"category": category}),
        )
        .await;
    }
    for id in &ids {
        post_ok(
            &bed,
            &service,
            &format!("/v1/cases/{id}/acceptance"),
            json!({}),
        )
        .await;
        post_ok(
            &bed,
            &service,
            &format!("/v1/cases/{id}/closure"),
            json!({"reason": "completed"}),
        )
        .await;
    }

    // The answered member's link, from their invitation (no SMTP here: it waits in the outbox).
    let db = bed.db().await;
    let body: String = eventually(
        "the feedback invitation",
        || async {
            sqlx::query_scalar::<_, String>(
                "SELECT payload ->> 'body' FROM outbox
                  WHERE kind = 'feedback-invitation' AND topic_key = $1",
            )
            .bind(&ids[1])
            .fetch_optional(&db)
            .await
            .unwrap()
            .unwrap_or_default()
        },
        |body| body.contains("/feedback/"),
    )
    .await;
    let at = body.find("/feedback/").unwrap() + "/feedback/".len();
    let token = body[at..at + 64].to_owned();
    post_ok(
        &bed,
        &service,
        &format!("/v1/feedback/{token}"),
        json!({"helpfulness": 5, "would_recommend": true}),
    )
    .await;
    // Every escalation's notice is out before the purge.
    let notices_topic = bed.settings.notifications.topic.clone();
    eventually(
        "the director's notices",
        || records_on(&bed, &notices_topic),
        |n| *n >= CATEGORIES.len(),
    )
    .await;
    service.stop().await;

    // Now the purge, retention 0: every member whose cases are closed.
    let mut purging = bed.settings.clone();
    purging.privacy.purge_interval_ms = 100;
    let service = peer_outreach::Service::start(&purging)
        .await
        .expect("the service starts");
    eventually(
        "the three members purged",
        || bed.events_of_type("PersonalDataPurged"),
        |n| *n == 3,
    )
    .await;
    service.stop().await;

    // What an auditor holds: every key in the configuration.
    let kek = outreach_privacy::KeyEncryptionKey::parse(
        bed.settings
            .privacy
            .key_encryption_key
            .as_deref()
            .expect("the test bed's KEK"),
    )
    .unwrap();
    let kek_bytes = B64.decode(kek.to_base64()).unwrap();
    let link_key = kek.derive(b"peer-outreach feedback link key v1").to_vec();
    assert!(
        LinkKey::new(&link_key).verify(&token),
        "the derived key is the service's link key"
    );
    let keys = [("the KEK", kek_bytes), ("the feedback link key", link_key)];

    // Every topic the service writes, read from the beginning.
    let mut read = Vec::new();
    let (assignments, incidents) = (
        bed.settings.notifications.assignments_topic.clone(),
        bed.settings.kafka.incidents_topic.clone(),
    );
    for spec in bed.settings.topics() {
        if spec.name == assignments || spec.name == incidents {
            continue;
        }
        let count = records_on(&bed, &spec.name).await;
        let records = if count == 0 {
            Vec::new()
        } else {
            bed.read_topic(&spec.name, count).await
        };
        read.push((spec.name.clone(), records));
    }
    let notices = &read
        .iter()
        .find(|(name, _)| *name == notices_topic)
        .expect("the notices topic is read")
        .1;
    for category in CATEGORIES {
        assert!(
            notices.iter().any(|n| n.json()["category"] == category),
            "a notice of {category}: {notices:#?}"
        );
    }
    assert_eq!(letters.len(), 2);
    let mut reasons: Vec<&str> = letters
        .iter()
        .map(|l| l.header("dlq-reason-code"))
        .collect();
    reasons.sort_unstable();
    assert_eq!(reasons, ["refused", "schema-violation"]);
    // Refused by the domain, after intake had keyed the member.
    assert!(letters.iter().any(|l| l
        .header("dlq-reason")
        .contains("case-needs-a-contact-route")));
    // The search finds what is there: the reporting system's own messages, on the incidents
    // topic, name every member (so the topic is left to its retention, below).
    let count = records_on(&bed, &incidents).await;
    let sources: String = bed
        .read_topic(&incidents, count)
        .await
        .iter()
        .map(text_of)
        .collect();
    for staff_id in [
        ESCALATED,
        ANSWERED,
        ASSIGNED,
        SCHEMA_REFUSED,
        DOMAIN_REFUSED,
    ] {
        assert!(
            sources.contains(staff_id),
            "{staff_id} on the incidents topic"
        );
    }
    let log = logs.text();
    assert!(!log.is_empty());

    let mut found = Vec::new();
    for (staff_id, report_id) in [
        (ESCALATED, REPORT),
        (ANSWERED, REPORT),
        (ASSIGNED, REPORT),
        (SCHEMA_REFUSED, SCHEMA_REPORT),
        (DOMAIN_REFUSED, DOMAIN_REPORT),
    ] {
        for (what, trace) in traces_of(staff_id, report_id, &keys) {
            for (topic, records) in &read {
                if let Some(record) = records.iter().find(|r| text_of(r).contains(&trace)) {
                    found.push(format!(
                        "{staff_id}'s {what} on {topic}: {}",
                        text_of(record)
                    ));
                }
            }
            if let Some(line) = log.lines().find(|line| line.contains(&trace)) {
                found.push(format!("{staff_id}'s {what} in the log: {line}"));
            }
        }
    }
    assert!(found.is_empty(), "found:\n{}", found.join("\n"));

    // The topics not read keep their records no longer than the service created them to.
    let purge_ms = u64::from(bed.settings.privacy.retention_days) * 24 * 3_600_000;
    let retention_ms = |topic: String| {
        let connection = bed.settings.kafka.connection();
        async move {
            topic_configs(&connection, &topic)
                .await
                .unwrap_or_else(|e| panic!("the broker describes {topic}: {e}"))
                .get("retention.ms")
                .and_then(|ms| ms.parse::<u64>().ok())
                .unwrap_or_else(|| panic!("{topic} has a retention"))
        }
    };
    assert!(
        retention_ms(assignments).await <= purge_ms,
        "the assignments topic keeps its notices no longer than the purge period"
    );
    let incidents_ms = bed.settings.kafka.retention_hours.incidents * 3_600_000;
    assert_eq!(retention_ms(incidents).await, incidents_ms);
}
