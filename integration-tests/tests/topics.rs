//! Topics forget: the service creates each with `cleanup.policy=delete` and a retention of its
//! own (the assignments topic's never longer than the retention purge's period), and says at
//! start which settings of a topic that existed before differ. Read back from the broker with
//! DescribeConfigs, as an auditor would.

use std::time::Duration;

use integration_tests::logs::CapturedLogs;
use integration_tests::{eventually, TestBed};
use outreach_intake::admin::{
    check_topics, ensure_topics, topic_configs, SettingDiffers, TopicSpec,
};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;

const HOUR_MS: u64 = 3_600_000;

async fn retention_of(bed: &TestBed, topic: &str) -> (Option<String>, Option<String>) {
    let configs = topic_configs(&bed.settings.kafka.connection(), topic)
        .await
        .unwrap_or_else(|e| panic!("the broker describes {topic}: {e}"));
    (
        configs.get("cleanup.policy").cloned(),
        configs.get("retention.ms").cloned(),
    )
}

#[tokio::test]
async fn every_topic_forgets_and_the_assignments_topic_within_the_purge_period() {
    let bed = TestBed::with(|s| s.privacy.retention_days = 2).await;
    let service = bed.start().await;
    let settings = &bed.settings;
    let hours = &settings.kafka.retention_hours;
    for (topic, expected_hours) in [
        (&settings.kafka.incidents_topic, hours.incidents),
        (&settings.kafka.dead_letter_topic, hours.dead_letter),
        (&settings.notifications.topic, hours.director_notices),
        // 168 hours configured, but the purge comes after 48.
        (&settings.notifications.assignments_topic, 48),
        (&settings.notifications.statistics_topic, hours.statistics),
    ] {
        assert_eq!(
            retention_of(&bed, topic).await,
            (
                Some("delete".to_owned()),
                Some((expected_hours * HOUR_MS).to_string())
            ),
            "{topic}"
        );
    }
    assert_eq!(
        hours.assignments, 168,
        "the default is longer than the purge"
    );
    // Every topic was created as the service wants it: nothing to warn about.
    assert_eq!(
        check_topics(&settings.kafka.connection(), &settings.topics()).await,
        []
    );
    service.stop().await;
}

#[tokio::test]
async fn a_purge_period_of_zero_days_leaves_the_assignments_topic_nothing() {
    let bed = TestBed::with(|s| s.privacy.retention_days = 0).await;
    let topic = &bed.settings.notifications.assignments_topic;
    assert_eq!(retention_of(&bed, topic).await.1.as_deref(), Some("0"));
}

#[tokio::test]
async fn a_topic_that_existed_with_other_settings_is_named_at_start_and_left_alone() {
    let logs = CapturedLogs::install();
    let mut bed = TestBed::new().await;
    let connection = bed.settings.kafka.connection();
    // The director's notices on a topic made earlier with an hour's retention; the statistics
    // on one made without any settings (tansu then deletes nothing).
    let notices = format!("old-notices-{}", bed.id);
    ensure_topics(
        &connection,
        &[TopicSpec::new(&notices, 1, Duration::from_secs(3600))],
    )
    .await
    .expect("a topic can be created");
    let statistics = format!("old-statistics-{}", bed.id);
    let admin: AdminClient<DefaultClientContext> = connection
        .client_config("test-admin")
        .create()
        .expect("an admin client");
    let made = admin
        .create_topics(
            &[NewTopic::new(&statistics, 1, TopicReplication::Fixed(1))],
            &AdminOptions::new(),
        )
        .await
        .expect("the broker answers");
    assert!(made.iter().all(Result::is_ok), "{made:?}");
    bed.settings.notifications.topic = notices.clone();
    bed.settings.notifications.statistics_topic = statistics.clone();

    let service = bed.start().await;
    let warned = |needle: &str| {
        let text = logs.text();
        text.lines()
            .any(|line| line.contains("WARN") && line.contains(needle))
    };
    eventually(
        "the start to warn about both topics",
        || async { logs.text().len() },
        |_| {
            warned(&format!(
                "topic {notices} has retention.ms = 3600000, not 2592000000"
            )) && warned(&format!(
                "topic {statistics} has cleanup.policy = not set, not delete"
            )) && warned(&format!("topic {statistics} has retention.ms = not set"))
        },
    )
    .await;
    service.stop().await;

    // Left as they were: the service never changes a topic's settings.
    assert_eq!(
        retention_of(&bed, &notices).await.1.as_deref(),
        Some("3600000")
    );
    let differs = check_topics(&connection, &bed.settings.topics()).await;
    assert_eq!(
        differs,
        [
            SettingDiffers {
                topic: notices.clone(),
                setting: "retention.ms",
                wanted: (720 * HOUR_MS).to_string(),
                found: Some("3600000".into()),
            },
            SettingDiffers {
                topic: statistics.clone(),
                setting: "cleanup.policy",
                wanted: "delete".into(),
                found: None,
            },
            SettingDiffers {
                topic: statistics.clone(),
                setting: "retention.ms",
                wanted: (9504 * HOUR_MS).to_string(),
                found: None,
            },
        ]
    );
}
