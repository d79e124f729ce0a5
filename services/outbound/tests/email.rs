//! The e-mail publisher against a real SMTP server (aiosmtpd, see `outreach_test_support::SmtpServer`).

mod common;

use std::time::Duration;

use common::TestDb;
use outreach_outbound::{EmailPublisher, OutboxPublisher, Round, SmtpSettings, SmtpTls};
use outreach_test_support::{free_port, SmtpServer};
use serde_json::json;

fn settings(port: u16) -> SmtpSettings {
    SmtpSettings {
        host: "127.0.0.1".into(),
        port,
        from: "Peer Support Program <peer-support@hospital.example>".into(),
        username: None,
        password: None,
        tls: SmtpTls::None,
    }
}

fn publisher(db: &TestDb, port: u16) -> EmailPublisher {
    EmailPublisher::new(db.pool.clone(), &settings(port), Duration::from_millis(100)).unwrap()
}

fn assignment_email(to: &str) -> serde_json::Value {
    json!({
        "to": to,
        "to_name": "Grace Hopper",
        "subject": "Peer support: a colleague for you to reach out to",
        "body": "Hello Grace,\n\nName: Ada Lovelace\nMobile: 555 0100\n",
    })
}

/// The value of a header in a stored message (headers end at the first empty line).
fn header<'a>(message: &'a str, name: &str) -> Option<&'a str> {
    message
        .lines()
        .take_while(|line| !line.is_empty())
        .find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name).then(|| value.trim())
        })
}

fn body(message: &str) -> String {
    let normalised = message.replace("\r\n", "\n");
    normalised
        .split_once("\n\n")
        .map(|(_, body)| body.to_string())
        .unwrap_or_default()
}

#[tokio::test]
async fn an_email_row_is_sent_through_smtp_and_marked_published_once() {
    let server = SmtpServer::start();
    let db = TestDb::new().await;
    let email = db
        .insert(
            "assignment-email",
            "email",
            assignment_email("grace@example.org"),
        )
        .await;
    let kafka = db
        .insert("assignment", "kafka", json!({"notice": "assignment"}))
        .await;
    let publisher = publisher(&db, server.port);

    let round = publisher.publish_round().await.unwrap();

    assert_eq!(
        round,
        Round {
            published: 1,
            failed: 0
        }
    );
    let messages = server.messages();
    assert_eq!(messages.len(), 1, "{messages:?}");
    let message = &messages[0];
    assert_eq!(
        header(message, "To"),
        Some("\"Grace Hopper\" <grace@example.org>")
    );
    // What the server was told in the envelope, as aiosmtpd's Mailbox handler records it.
    assert_eq!(header(message, "X-RcptTo"), Some("grace@example.org"));
    assert_eq!(
        header(message, "X-MailFrom"),
        Some("peer-support@hospital.example")
    );
    assert_eq!(
        header(message, "Subject"),
        Some("Peer support: a colleague for you to reach out to")
    );
    assert_eq!(
        header(message, "Message-ID"),
        Some(format!("<{email}@hospital.example>").as_str())
    );
    // The Maildir writer may add a final line break of its own.
    assert_eq!(
        body(message).trim_end(),
        "Hello Grace,\n\nName: Ada Lovelace\nMobile: 555 0100"
    );
    assert_eq!(db.state(email).await, (true, 0));
    // The Kafka row is not the e-mail publisher's.
    assert_eq!(db.state(kafka).await, (false, 0));

    // Published rows are not sent again.
    assert_eq!(publisher.publish_round().await.unwrap(), Round::default());
    assert_eq!(server.messages().len(), 1);
}

#[tokio::test]
async fn with_the_smtp_server_down_the_row_stays_queued_with_an_attempt_counted() {
    let db = TestDb::new().await;
    let first = db
        .insert(
            "assignment-email",
            "email",
            assignment_email("grace@example.org"),
        )
        .await;
    let second = db
        .insert(
            "assignment-email",
            "email",
            assignment_email("alan@example.org"),
        )
        .await;
    // A port nothing listens on: connection refused.
    let round = publisher(&db, free_port()).publish_round().await.unwrap();

    // A server that cannot be reached ends the round: the second row is not even tried.
    assert_eq!(
        round,
        Round {
            published: 0,
            failed: 1
        }
    );
    assert_eq!(db.state(first).await, (false, 1));
    assert_eq!(db.state(second).await, (false, 0));

    // Once the server is up, the next round sends both.
    let server = SmtpServer::start();
    assert_eq!(
        publisher(&db, server.port).publish_round().await.unwrap(),
        Round {
            published: 2,
            failed: 0
        }
    );
    assert_eq!(server.messages().len(), 2);
    assert_eq!(db.state(first).await, (true, 1));
    assert_eq!(db.state(second).await, (true, 0));
}

#[tokio::test]
async fn a_row_that_is_not_an_email_costs_an_attempt_and_the_round_goes_on() {
    let server = SmtpServer::start();
    let db = TestDb::new().await;
    let broken = db
        .insert("assignment-email", "email", json!({"to": "not an address"}))
        .await;
    let good = db
        .insert(
            "assignment-email",
            "email",
            assignment_email("grace@example.org"),
        )
        .await;

    let round = publisher(&db, server.port).publish_round().await.unwrap();

    assert_eq!(
        round,
        Round {
            published: 1,
            failed: 1
        }
    );
    assert_eq!(db.state(broken).await, (false, 1));
    assert_eq!(db.state(good).await, (true, 0));
    assert_eq!(server.messages().len(), 1);
}

#[tokio::test]
async fn the_kafka_publisher_leaves_email_rows_alone() {
    let db = TestDb::new().await;
    let email = db
        .insert(
            "assignment-email",
            "email",
            assignment_email("grace@example.org"),
        )
        .await;
    // No broker is needed: with no Kafka row to send, the producer is never used.
    let kafka = OutboxPublisher::new(
        db.pool.clone(),
        &outreach_kafka::KafkaConnection::plaintext("127.0.0.1:1"),
        "peer-outreach.director-notices",
        Duration::from_millis(100),
    )
    .unwrap();

    assert_eq!(kafka.publish_round().await.unwrap(), Round::default());
    assert_eq!(db.state(email).await, (false, 0));
}

#[tokio::test]
async fn required_starttls_never_falls_back_to_plain_text() {
    // aiosmtpd without a certificate offers no STARTTLS.
    let server = SmtpServer::start();
    let db = TestDb::new().await;
    let row = db
        .insert(
            "assignment-email",
            "email",
            assignment_email("grace@example.org"),
        )
        .await;
    let starttls = SmtpSettings {
        tls: SmtpTls::Starttls,
        ..settings(server.port)
    };
    let publisher =
        EmailPublisher::new(db.pool.clone(), &starttls, Duration::from_millis(100)).unwrap();

    let round = publisher.publish_round().await.unwrap();

    assert_eq!(
        round,
        Round {
            published: 0,
            failed: 1
        }
    );
    assert!(server.messages().is_empty());
    assert_eq!(db.state(row).await, (false, 1));
}

#[tokio::test]
async fn a_server_that_refuses_leaves_the_row_queued_until_it_takes_messages_again() {
    let server = SmtpServer::start();
    server.refuse();
    let db = TestDb::new().await;
    let row = db
        .insert(
            "resource-sheet",
            "email",
            assignment_email("ada@example.org"),
        )
        .await;
    let publisher = publisher(&db, server.port);

    // 451: refused for now, which ends the round.
    assert_eq!(
        publisher.publish_round().await.unwrap(),
        Round {
            published: 0,
            failed: 1
        }
    );
    assert_eq!(db.state(row).await, (false, 1));
    assert!(server.messages().is_empty());

    server.accept();
    assert_eq!(
        publisher.publish_round().await.unwrap(),
        Round {
            published: 1,
            failed: 0
        }
    );
    assert_eq!(db.state(row).await, (true, 1));
    assert_eq!(server.messages().len(), 1);
}
