//! Feedback cannot be joined: once the invitations are sent (through a real SMTP server) and
//! answered, nothing in the database leads from an answer or a token row to the case or the
//! invitation: no shared id or value, no shared transaction, and the invitation's outbox row
//! keeps neither the address nor the link.

use std::collections::BTreeSet;

use integration_tests::reports::{incident, staff};
use integration_tests::{eventually, TestBed};
use outreach_intake::sample::Mode;
use outreach_test_support::SmtpServer;
use serde_json::{json, Value};

/// Links lead to the service's own feedback page.
const LINK: &str = "/feedback/";

/// The token of each feedback link among the messages the SMTP server accepted.
fn tokens_in(messages: &[String]) -> Vec<String> {
    messages
        .iter()
        // Undo quoted-printable's soft line breaks, should a line have been folded.
        .map(|m| m.replace("=\r\n", "").replace("=\n", ""))
        .filter_map(|m| {
            let at = m.find(LINK)? + LINK.len();
            Some(m[at..at + 64].to_owned())
        })
        .collect()
}

#[tokio::test]
async fn after_sending_and_answering_no_answer_or_token_row_joins_a_case_or_an_invitation() {
    let smtp = SmtpServer::start();
    let bed = TestBed::with(|settings| {
        settings.notifications.smtp = Some(integration_tests::mail::smtp(smtp.port));
        settings.notifications.publish_interval_ms = 100;
    })
    .await;
    let service = bed.start().await;
    bed.put_on_roster(&service, "S9").await;
    bed.publish(
        &incident(
            "INC-FB",
            vec![
                staff("F1", "nurse"),
                staff("F2", "physician"),
                staff("F3", "pharmacist"),
            ],
        ),
        Mode::Structured,
    )
    .await;
    let cases = bed
        .wait_for_cases(&service, "three cases", |cases| cases.len() == 3)
        .await;
    let case_ids: Vec<String> = cases
        .iter()
        .map(|c| c["case_id"].as_str().unwrap().to_owned())
        .collect();
    for id in &case_ids {
        for (what, body) in [
            ("assignment", json!({"supporter_id": "S9"})),
            (
                "contact-attempts",
                json!({"channel": "phone", "outcome": "reached"}),
            ),
            ("acceptance", json!({})),
            ("closure", json!({"reason": "completed"})),
        ] {
            let (status, answer) = bed
                .post(&service, &format!("/v1/cases/{id}/{what}"), body, None)
                .await;
            assert_eq!(status, 200, "{what}: {answer}");
        }
    }
    // Three invitations sent (with the three assignment e-mails to the supporter).
    let tokens = eventually(
        "the three invitations to arrive",
        || async { tokens_in(&smtp.messages()) },
        |tokens| tokens.len() == 3,
    )
    .await;
    let db = bed.db().await;
    eventually(
        "the invitations' outbox rows to be marked sent",
        || async {
            sqlx::query_scalar::<_, i64>(
                "SELECT count(*) FROM outbox
                  WHERE kind = 'feedback-invitation' AND published_at IS NOT NULL",
            )
            .fetch_one(&db)
            .await
            .unwrap()
        },
        |sent| *sent == 3,
    )
    .await;
    // Two of the three answer, the last invited first.
    for (token, rating) in tokens.iter().rev().take(2).zip([5, 2]) {
        let (status, answer) = bed
            .post(
                &service,
                &format!("/v1/feedback/{token}"),
                json!({"helpfulness": rating, "would_recommend": true}),
                None,
            )
            .await;
        assert_eq!(status, 201, "{answer}");
    }
    service.stop().await;

    // The invitations' rows, sent: emptied of the address and the link.
    let invitations: Vec<(String, String, Value, String)> = sqlx::query_as(
        "SELECT id::text, topic_key, payload, xmin::text FROM outbox
          WHERE kind = 'feedback-invitation'",
    )
    .fetch_all(&db)
    .await
    .unwrap();
    assert_eq!(invitations.len(), 3);
    for (_, _, payload, _) in &invitations {
        assert_eq!(payload, &json!({"sent": true}));
    }
    // The token rows: a hash and a flag, nothing else, not even an id.
    let columns: Vec<String> = sqlx::query_scalar(
        "SELECT column_name::text FROM information_schema.columns
          WHERE table_name = 'feedback_tokens' ORDER BY ordinal_position",
    )
    .fetch_all(&db)
    .await
    .unwrap();
    assert_eq!(columns, ["token_hash", "used"]);
    let token_rows: Vec<(String, String)> =
        sqlx::query_as("SELECT encode(token_hash, 'hex'), xmin::text FROM feedback_tokens")
            .fetch_all(&db)
            .await
            .unwrap();
    assert_eq!(
        token_rows.len(),
        2,
        "a row for each answer, none for a link sent"
    );
    let answers: Vec<(String, String)> =
        sqlx::query_as("SELECT row_to_json(f)::text, xmin::text FROM feedback f")
            .fetch_all(&db)
            .await
            .unwrap();
    assert_eq!(answers.len(), 2);

    // No value of an answer or a token row is, or contains, an invitation's or a case's id, a
    // token, or anything of the members.
    let identifying: BTreeSet<String> = invitations
        .iter()
        .flat_map(|(id, key, _, _)| [id.clone(), key.clone()])
        .chain(case_ids.iter().cloned())
        .chain(tokens.iter().cloned())
        .chain(["F1", "F2", "F3", "f1@example.org", "INC-FB"].map(str::to_owned))
        .collect();
    for value in token_rows
        .iter()
        .map(|(hash, _)| hash)
        .chain(answers.iter().map(|(row, _)| row))
    {
        for id in &identifying {
            assert!(!value.contains(id.as_str()), "{id} in {value}");
        }
    }
    // No transaction in common with an invitation.
    let invitation_xids: BTreeSet<&String> = invitations.iter().map(|i| &i.3).collect();
    for (_, xid) in token_rows.iter().chain(&answers) {
        assert!(
            !invitation_xids.contains(xid),
            "transaction {xid} is shared"
        );
    }
    // And the used token rows single out no answer: they all carry the latest one's transaction.
    let token_xids: BTreeSet<&String> = token_rows.iter().map(|(_, x)| x).collect();
    assert_eq!(token_xids.len(), 1, "{token_rows:?}");

    // Nothing in the database holds a token, so nothing can be hashed to find its row.
    let everywhere: String =
        sqlx::query_scalar("SELECT coalesce(string_agg(payload::text, ' '), '') FROM outbox")
            .fetch_one(&db)
            .await
            .unwrap();
    for token in &tokens {
        assert!(!everywhere.contains(token.as_str()));
    }
}
