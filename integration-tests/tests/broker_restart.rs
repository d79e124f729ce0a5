//! The broker killed in the middle of a stream and started again: nothing is lost, nothing is
//! applied twice, and the service's consumer resumes by itself. The broker is a tansu of the
//! test's own (on a free port, SQLite storage in a temporary folder), so the restart disturbs
//! no other test.

use std::time::Duration;

use integration_tests::reports::incidents;
use integration_tests::TestBed;
use outreach_intake::sample::Mode;
use outreach_test_support::free_port;
use outreach_test_support::tansu::Tansu;

#[tokio::test]
async fn a_broker_restart_mid_stream_loses_nothing_and_the_consumer_resumes_by_itself() {
    let dir = std::env::temp_dir().join(format!("peer-outreach-broker-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let port = free_port();
    let broker = Tansu::start(&dir, port).expect("start tansu");
    let bed = TestBed::with(|settings| {
        settings.kafka.brokers = broker.brokers();
        settings.kafka.partitions = 2;
    })
    .await;
    let (before, first) = incidents("B", 0..30);
    let (after, second) = incidents("B", 30..60);
    let expected = first + second;
    for report in &before {
        bed.publish(report, Mode::Structured).await;
    }
    let service = bed.start().await;
    bed.wait_for_case_count(5).await;

    let broker = broker
        .restart_after(Duration::from_secs(2))
        .expect("restart tansu");
    for report in &after {
        bed.publish(report, Mode::Binary).await;
    }

    // The consumer rejoins its group once the broker is back; on tansu, whose group state
    // restarts with it, that took from 10 s to over 90 s on a loaded 2-core machine.
    bed.expect_every_case_once(expected, "the broker restarted", Duration::from_secs(240))
        .await;
    service.stop().await;
    drop(broker);
    let _ = std::fs::remove_dir_all(&dir);
}
