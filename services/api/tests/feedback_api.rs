//! Anonymous feedback, end to end: a completed case invites its member by e-mail with a one-time
//! link, once, even when the invitations are replayed; the link takes one answer of two ratings,
//! and what is kept of the answer leads back to no case, member or link.

mod common;

use std::collections::HashMap;
use std::sync::Arc;

use axum::http::StatusCode;
use chrono::{Datelike, Utc};
use common::{open_command, TestApp};
use outreach_domain::CaseCommand;
use outreach_events::lifecycle::{CloseReason, ContactOutcome};
use outreach_events::Channel;
use outreach_projections::{
    FeedbackInvitations, ProjectionRunner, DEFAULT_FEEDBACK_LINK_BASE, FEEDBACK_INVITATION,
};
use serde_json::{json, Value};
use uuid::Uuid;

fn invitations() -> Arc<FeedbackInvitations> {
    Arc::new(FeedbackInvitations::new(DEFAULT_FEEDBACK_LINK_BASE))
}

async fn project(app: &TestApp) {
    app.project(invitations()).await;
}

/// Opens a case for `staff_id` (with an e-mail address, or a mobile number only); returns its id.
async fn open(app: &TestApp, staff_id: &str, email: bool) -> Uuid {
    let case_id = Uuid::new_v4();
    let mut command = open_command(case_id, staff_id);
    if let CaseCommand::Open { contact, .. } = &mut command {
        if !email {
            // Reachable by phone only.
            contact.email = None;
            contact.mobile = Some("+1 555 0100".into());
        }
    }
    app.commands
        .handle_case(case_id, command, &HashMap::new())
        .await
        .expect("open the case");
    case_id
}

async fn act(app: &TestApp, case_id: Uuid, command: CaseCommand) {
    app.commands
        .act_on_case(case_id, command, None, &HashMap::new())
        .await
        .expect("the case takes the command");
}

/// Assigns the case to `E20001`, who reaches the member.
async fn reach(app: &TestApp, case_id: Uuid) {
    let now = Utc::now();
    app.commands
        .assign(case_id, "E20001", None, now, &HashMap::new())
        .await
        .expect("assign");
    act(
        app,
        case_id,
        CaseCommand::RecordContactAttempt {
            channel: Channel::Email,
            outcome: ContactOutcome::Reached,
            at: now,
        },
    )
    .await;
}

/// A case for `staff_id` that ends as `completed`: reached, accepted, closed.
async fn completed_case(app: &TestApp, staff_id: &str, email: bool) -> Uuid {
    let case_id = open(app, staff_id, email).await;
    reach(app, case_id).await;
    act(
        app,
        case_id,
        CaseCommand::RecordAcceptance { at: Utc::now() },
    )
    .await;
    act(
        app,
        case_id,
        CaseCommand::Close {
            reason: CloseReason::Completed,
            at: Utc::now(),
        },
    )
    .await;
    case_id
}

/// The outbox's feedback invitations: `(topic_key, payload)`.
async fn invitation_emails(app: &TestApp) -> Vec<(String, Value)> {
    sqlx::query_as(
        "SELECT topic_key, payload FROM outbox WHERE kind = $1 AND channel = 'email'
          ORDER BY created_at",
    )
    .bind(FEEDBACK_INVITATION)
    .fetch_all(&app.pool)
    .await
    .unwrap()
}

async fn token_rows(app: &TestApp) -> Vec<(Vec<u8>, bool)> {
    sqlx::query_as("SELECT token_hash, used FROM feedback_tokens ORDER BY token_hash")
        .fetch_all(&app.pool)
        .await
        .unwrap()
}

async fn feedback_rows(app: &TestApp) -> Vec<(chrono::NaiveDate, i16, bool)> {
    sqlx::query_as(
        "SELECT month, helpfulness, would_recommend FROM feedback
          ORDER BY month, helpfulness, would_recommend",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap()
}

/// The token in an invitation's link.
fn token_in(email: &Value) -> String {
    let body = email["body"].as_str().expect("a body");
    let prefix = format!("{DEFAULT_FEEDBACK_LINK_BASE}/");
    body.lines()
        .find_map(|line| line.trim().strip_prefix(prefix.as_str()))
        .unwrap_or_else(|| panic!("no link in {body}"))
        .to_owned()
}

fn uri(token: &str) -> String {
    format!("/v1/feedback/{token}")
}

#[tokio::test]
async fn a_completed_case_invites_its_member_once_even_when_replayed() {
    let app = TestApp::spawn().await;
    let case_id = completed_case(&app, "E7", true).await;

    project(&app).await;

    let emails = invitation_emails(&app).await;
    assert_eq!(emails.len(), 1, "{emails:?}");
    let (key, email) = &emails[0];
    assert_eq!(key, &case_id.to_string());
    assert_eq!(email["to"], "ana.silva@hospital.example");
    assert_eq!(email["to_name"], "Ana");
    let token = token_in(email);
    assert_eq!(token.len(), 64);
    let body = email["body"].as_str().unwrap();
    assert!(
        body.contains("anonymous") && body.contains("optional"),
        "{body}"
    );
    // Nothing of the case goes along.
    for fact in ["ICU 4", "Critical care", "INC-", "North", "E20001"] {
        assert!(!email.to_string().contains(fact), "{fact}");
    }
    // Nothing is stored of the token when the link is sent: it is recognised by its MAC.
    assert!(token_rows(&app).await.is_empty());

    // Caught up again: nothing new.
    project(&app).await;
    // Rebuilt from the first event: the e-mail is found, no second one.
    let runner = ProjectionRunner::new(app.pool.clone(), invitations(), Default::default());
    runner.reset().await.unwrap();
    project(&app).await;

    assert_eq!(invitation_emails(&app).await, emails);
    assert!(token_rows(&app).await.is_empty());
}

#[tokio::test]
async fn feedback_through_the_link_is_kept_with_nothing_that_leads_back() {
    let app = TestApp::spawn().await;
    let case_id = completed_case(&app, "E7", true).await;
    project(&app).await;
    let token = token_in(&invitation_emails(&app).await[0].1);

    let response = app
        .post(
            &uri(&token),
            Some(json!({"helpfulness": 4, "would_recommend": true})),
            None,
        )
        .await;

    assert_eq!(response.status, StatusCode::CREATED, "{}", response.body);
    let zone = app.commands.policies().deadlines.calendar.time_zone;
    let month = Utc::now()
        .with_timezone(&zone)
        .date_naive()
        .with_day(1)
        .unwrap();
    assert_eq!(feedback_rows(&app).await, [(month, 4, true)]);
    let tokens = token_rows(&app).await;
    assert_eq!(tokens.len(), 1);
    assert!(tokens[0].1, "the token is used");

    // The table has the two ratings and the month, nothing else.
    let columns: Vec<(String, String)> = sqlx::query_as(
        "SELECT column_name::text, data_type::text FROM information_schema.columns
          WHERE table_name = 'feedback' ORDER BY ordinal_position",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        columns,
        [
            ("month".to_owned(), "date".to_owned()),
            ("helpfulness".to_owned(), "smallint".to_owned()),
            ("would_recommend".to_owned(), "boolean".to_owned()),
        ]
    );
    // No key either, nor a foreign key to anything.
    let constraints: Vec<String> = sqlx::query_scalar(
        "SELECT constraint_type::text FROM information_schema.table_constraints
          WHERE table_name = 'feedback' AND constraint_type IN ('PRIMARY KEY', 'FOREIGN KEY', 'UNIQUE')",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert!(constraints.is_empty(), "{constraints:?}");

    // And no value that names the case, the member, the supporter or the link.
    let data: String = sqlx::query_scalar("SELECT json_agg(f)::text FROM feedback f")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let hash: String = sqlx::query_scalar("SELECT encode(token_hash, 'hex') FROM feedback_tokens")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    for identifying in [
        case_id.to_string(),
        case_id.simple().to_string(),
        "E7".to_owned(),
        "E20001".to_owned(),
        "Ana".to_owned(),
        "Silva".to_owned(),
        "ana.silva@hospital.example".to_owned(),
        token.clone(),
        hash,
    ] {
        assert!(!data.contains(&identifying), "{identifying} in {data}");
    }
}

#[tokio::test]
async fn a_used_link_is_gone_and_changes_nothing() {
    let app = TestApp::spawn().await;
    completed_case(&app, "E7", true).await;
    project(&app).await;
    let token = token_in(&invitation_emails(&app).await[0].1);
    let first = app
        .post(
            &uri(&token),
            Some(json!({"helpfulness": 5, "would_recommend": true})),
            None,
        )
        .await;
    assert_eq!(first.status, StatusCode::CREATED);
    let (tokens, feedback) = (token_rows(&app).await, feedback_rows(&app).await);

    let again = app
        .post(
            &uri(&token),
            Some(json!({"helpfulness": 1, "would_recommend": false})),
            None,
        )
        .await;

    again.assert_problem(StatusCode::GONE, "feedback-token-used");
    assert_eq!(token_rows(&app).await, tokens);
    assert_eq!(feedback_rows(&app).await, feedback);
}

#[tokio::test]
async fn an_unknown_or_malformed_link_is_not_found_and_changes_nothing() {
    let app = TestApp::spawn().await;
    completed_case(&app, "E7", true).await;
    project(&app).await;
    let token = token_in(&invitation_emails(&app).await[0].1);
    let tokens = token_rows(&app).await;
    let unknown = format!("{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple());

    for bad in [
        unknown,
        token[..63].to_owned(),
        format!("{token}0"),
        token.to_uppercase(),
        "not-a-token".to_owned(),
    ] {
        let response = app
            .post(
                &uri(&bad),
                Some(json!({"helpfulness": 3, "would_recommend": true})),
                None,
            )
            .await;
        let detail = response.assert_problem(StatusCode::NOT_FOUND, "feedback-token-unknown");
        assert!(!detail.contains(&bad), "{detail}");
    }
    assert_eq!(token_rows(&app).await, tokens);
    assert!(feedback_rows(&app).await.is_empty());
}

#[tokio::test]
async fn a_rating_out_of_range_is_refused_by_name_and_the_link_still_works() {
    let app = TestApp::spawn().await;
    completed_case(&app, "E7", true).await;
    project(&app).await;
    let token = token_in(&invitation_emails(&app).await[0].1);

    for helpfulness in [0, 6, -1, 100] {
        let response = app
            .post(
                &uri(&token),
                Some(json!({"helpfulness": helpfulness, "would_recommend": true})),
                None,
            )
            .await;
        response.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "rating-out-of-range");
        assert_eq!(response.body["rule"], "rating-out-of-range");
        assert_eq!(response.body["field"], "helpfulness");
    }
    // A body that is not two ratings is refused too: no free text gets in.
    for body in [
        json!({"helpfulness": 3, "would_recommend": true, "comment": "thanks"}),
        json!({"helpfulness": 3}),
        json!({"helpfulness": "3", "would_recommend": true}),
        json!({"helpfulness": 2.5, "would_recommend": true}),
    ] {
        let response = app.post(&uri(&token), Some(body), None).await;
        response.assert_problem(StatusCode::BAD_REQUEST, "invalid-body");
    }
    assert!(feedback_rows(&app).await.is_empty());
    assert!(
        token_rows(&app).await.is_empty(),
        "nothing written, the link unused"
    );

    let response = app
        .post(
            &uri(&token),
            Some(json!({"helpfulness": 1, "would_recommend": false})),
            None,
        )
        .await;

    assert_eq!(response.status, StatusCode::CREATED, "{}", response.body);
    assert_eq!(feedback_rows(&app).await.len(), 1);
}

#[tokio::test]
async fn declined_merged_and_unaddressable_members_are_not_invited() {
    let app = TestApp::spawn().await;
    // Declined: reached, said no, closed.
    let declined = open(&app, "E7", true).await;
    reach(&app, declined).await;
    act(
        &app,
        declined,
        CaseCommand::RecordDecline { at: Utc::now() },
    )
    .await;
    act(
        &app,
        declined,
        CaseCommand::Close {
            reason: CloseReason::Declined,
            at: Utc::now(),
        },
    )
    .await;
    // Merged into another open case.
    let merged = open(&app, "E8", true).await;
    let other = open(&app, "E9", true).await;
    app.commands
        .merge_case(merged, other, None, &HashMap::new())
        .await
        .expect("merge");
    // Completed, but the member has no e-mail address.
    completed_case(&app, "E10", false).await;

    project(&app).await;

    assert!(invitation_emails(&app).await.is_empty());
    assert!(token_rows(&app).await.is_empty());
    let event_types: Vec<String> = sqlx::query_scalar(
        "SELECT event_type FROM events WHERE aggregate_type = 'OutreachCase'
            AND event_type = 'CaseClosed'",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(event_types.len(), 3, "all three cases closed");
}

/// PostgreSQL stamps each row with the transaction that wrote it (`xmin`). The answer and its
/// token's row are written together, so every used token is rewritten with them: no token row
/// shares its transaction with one answer only.
#[tokio::test]
async fn the_transaction_ids_of_answers_single_out_no_token() {
    let app = TestApp::spawn().await;
    for staff_id in ["E7", "E8", "E9"] {
        completed_case(&app, staff_id, true).await;
    }
    project(&app).await;
    let emails = invitation_emails(&app).await;
    assert_eq!(emails.len(), 3);
    for (email, helpfulness) in emails.iter().take(2).zip([5, 2]) {
        let response = app
            .post(
                &uri(&token_in(&email.1)),
                Some(json!({"helpfulness": helpfulness, "would_recommend": true})),
                None,
            )
            .await;
        assert_eq!(response.status, StatusCode::CREATED);
    }

    let used: Vec<String> =
        sqlx::query_scalar("SELECT DISTINCT xmin::text FROM feedback_tokens WHERE used")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    let answers: Vec<(String, i16)> =
        sqlx::query_as("SELECT xmin::text, helpfulness FROM feedback ORDER BY helpfulness")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    // Both used tokens carry the latest answer's transaction; the first answer's matches none.
    assert_eq!(used.len(), 1, "{used:?}");
    assert_eq!(answers.len(), 2);
    let (first, latest) = (&answers[1], &answers[0]);
    assert_eq!((latest.1, first.1), (2, 5));
    assert_eq!(used[0], latest.0);
    assert_ne!(used[0], first.0);
}

/// A link sent before tokens were MACed has its hash stored, unused: it still takes one answer.
#[tokio::test]
async fn a_link_sent_before_tokens_were_macs_still_takes_one_answer() {
    let app = TestApp::spawn().await;
    let old = format!("{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple());
    sqlx::query(
        "INSERT INTO feedback_tokens (token_hash, used) VALUES (sha256(convert_to($1, 'UTF8')), false)",
    )
    .bind(&old)
    .execute(&app.pool)
    .await
    .unwrap();
    let answer = json!({"helpfulness": 4, "would_recommend": false});
    let first = app.post(&uri(&old), Some(answer.clone()), None).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    app.post(&uri(&old), Some(answer), None)
        .await
        .assert_problem(StatusCode::GONE, "feedback-token-used");
    assert_eq!(feedback_rows(&app).await.len(), 1);
}

/// The migration that took the ids off the token rows, on a database as the previous code left
/// it: old links keep working (their hashes and flags move, in no order tied to the
/// invitations), sent invitations are emptied, unsent ones keep their link to be sent.
#[tokio::test]
async fn the_migration_moves_old_links_off_their_ids_and_empties_sent_invitations() {
    let app = TestApp::spawn().await;
    // Schema changes are the owner's (the service's own role may make none).
    let owner = app.owner_pool().await;
    // Back to the previous schema: token rows under the invitation's id, no link key.
    sqlx::raw_sql(
        "DROP TABLE feedback_tokens;
         CREATE TABLE feedback_tokens (
             id uuid PRIMARY KEY,
             token_hash bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32),
             used boolean NOT NULL DEFAULT false);",
    )
    .execute(&owner)
    .await
    .unwrap();
    let (sent, unsent) = (Uuid::new_v4(), Uuid::new_v4());
    let (a, b) = (format!("{:064x}", 0xa), format!("{:064x}", 0xb));
    for (id, token, used, published) in [(sent, &a, true, true), (unsent, &b, false, false)] {
        sqlx::query(
            "INSERT INTO feedback_tokens (id, token_hash, used)
             VALUES ($1, sha256(convert_to($2, 'UTF8')), $3)",
        )
        .bind(id)
        .bind(token)
        .bind(used)
        .execute(&owner)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO outbox (id, kind, channel, topic_key, payload, created_at, published_at)
             VALUES ($1, 'feedback-invitation', 'email', $2, $3, now(),
                     CASE WHEN $4 THEN now() END)",
        )
        .bind(id)
        .bind(Uuid::new_v4().to_string())
        .bind(json!({"to": "ana.silva@hospital.example", "body": format!("link/{token}")}))
        .bind(published)
        .execute(&owner)
        .await
        .unwrap();
    }

    sqlx::raw_sql(include_str!(
        "../../../migrations/20261206271002_feedback_links_unlinked.sql"
    ))
    .execute(&owner)
    .await
    .unwrap();
    // As `peer-outreach migrate` does after the migrations.
    outreach_test_support::grant_runtime_role(&owner).await;

    let expected_hash = |token: &str| {
        let pool = owner.clone();
        let token = token.to_owned();
        async move {
            sqlx::query_scalar::<_, Vec<u8>>("SELECT sha256(convert_to($1, 'UTF8'))")
                .bind(token)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    let mut expected = vec![
        (expected_hash(&a).await, true),
        (expected_hash(&b).await, false),
    ];
    expected.sort();
    assert_eq!(token_rows(&app).await, expected);
    let payloads: Vec<(Uuid, Value)> =
        sqlx::query_as("SELECT id, payload FROM outbox WHERE kind = 'feedback-invitation'")
            .fetch_all(&owner)
            .await
            .unwrap();
    for (id, payload) in payloads {
        if id == sent {
            assert_eq!(payload, json!({"sent": true}));
        } else {
            assert_eq!(
                payload["body"],
                format!("link/{b}"),
                "an unsent invitation keeps its link"
            );
        }
    }
    // The link key that migration made is gone with the next one (its own test is below).
    sqlx::raw_sql(include_str!(
        "../../../migrations/20261211273001_feedback_link_key_from_kek.sql"
    ))
    .execute(&owner)
    .await
    .unwrap();
    outreach_test_support::grant_runtime_role(&owner).await;
    // The old unused link still takes its one answer; the old used one takes none.
    let answer = json!({"helpfulness": 3, "would_recommend": true});
    let response = app.post(&uri(&b), Some(answer.clone()), None).await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.body);
    app.post(&uri(&a), Some(answer), None)
        .await
        .assert_problem(StatusCode::GONE, "feedback-token-used");
}

/// Whether the database has a table of this name.
async fn has_table(pool: &sqlx::PgPool, name: &str) -> bool {
    sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
        .bind(name)
        .fetch_one(pool)
        .await
        .unwrap()
}

/// The migration that takes the link key out of the database, on a database as the previous
/// code left it (the key a row, links MACed under it): the row and its privileges go; an
/// invitation not sent yet keeps a link that takes one answer; a link already sent is refused,
/// and the member is told plainly that links from before the keys changed no longer work.
#[tokio::test]
async fn the_link_key_leaves_the_database_and_links_of_the_old_key_are_refused_plainly() {
    let app = TestApp::spawn().await;
    let owner = app.owner_pool().await;
    assert!(!has_table(&owner, "feedback_link_key").await);
    // Back to the previous schema: the key a row the runtime role reads.
    let old_key = [9u8; 32];
    sqlx::raw_sql(
        "CREATE TABLE feedback_link_key (
             only_one boolean PRIMARY KEY DEFAULT true CHECK (only_one),
             key bytea NOT NULL CHECK (length(key) = 32));
         INSERT INTO runtime_privileges (table_name, privileges)
         VALUES ('feedback_link_key', 'SELECT');",
    )
    .execute(&owner)
    .await
    .unwrap();
    sqlx::query("INSERT INTO feedback_link_key (key) VALUES ($1)")
        .bind(&old_key[..])
        .execute(&owner)
        .await
        .unwrap();
    outreach_test_support::grant_runtime_role(&owner).await;
    let old = outreach_projections::feedback_links::LinkKey::new(&old_key);
    let (sent, unsent) = (old.issue(), old.issue());
    for (token, published) in [(&sent, true), (&unsent, false)] {
        sqlx::query(
            "INSERT INTO outbox (id, kind, channel, topic_key, payload, created_at, published_at)
             VALUES ($1, 'feedback-invitation', 'email', $2, $3, now(),
                     CASE WHEN $4 THEN now() END)",
        )
        .bind(Uuid::new_v4())
        .bind(Uuid::new_v4().to_string())
        .bind(if published {
            json!({"sent": true})
        } else {
            json!({"to": "ana.silva@hospital.example",
                   "body": format!("Tell us:\n{DEFAULT_FEEDBACK_LINK_BASE}/{token}\nThanks")})
        })
        .bind(published)
        .execute(&owner)
        .await
        .unwrap();
    }

    sqlx::raw_sql(include_str!(
        "../../../migrations/20261211273001_feedback_link_key_from_kek.sql"
    ))
    .execute(&owner)
    .await
    .unwrap();
    outreach_test_support::grant_runtime_role(&owner).await;

    assert!(!has_table(&owner, "feedback_link_key").await);
    let privileges: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM runtime_privileges WHERE table_name = 'feedback_link_key'",
    )
    .fetch_one(&owner)
    .await
    .unwrap();
    assert_eq!(privileges, 0);
    // Only the unsent link's hash is stored, unused.
    assert_eq!(
        token_rows(&app)
            .await
            .iter()
            .filter(|(_, used)| !used)
            .count(),
        1
    );

    let answer = json!({"helpfulness": 4, "would_recommend": true});
    let response = app.post(&uri(&unsent), Some(answer.clone()), None).await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.body);
    app.post(&uri(&unsent), Some(answer.clone()), None)
        .await
        .assert_problem(StatusCode::GONE, "feedback-token-used");
    let detail = app
        .post(&uri(&sent), Some(answer.clone()), None)
        .await
        .assert_problem(StatusCode::NOT_FOUND, "feedback-token-unknown");
    assert!(detail.contains("no longer work"), "{detail}");
    let (status, page) = page(&app, &sent, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        page.contains("changed its security keys no longer works"),
        "{page}"
    );
    assert_eq!(feedback_rows(&app).await.len(), 1);

    // Links sent from now on are MACed under the key of the KEK, and taken.
    completed_case(&app, "E7", true).await;
    project(&app).await;
    let token = token_in(&invitation_emails(&app).await.last().unwrap().1);
    assert!(!old.verify(&token));
    let response = app.post(&uri(&token), Some(answer), None).await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.body);
}

/// The link key is derived from the key-encryption key: once the service runs under a new KEK
/// (after `keys rewrap`), links sent under the old one are refused as links from before the
/// keys changed, and links sent under the new one are taken.
#[tokio::test]
async fn links_sent_under_a_retired_key_encryption_key_are_refused_plainly() {
    use outreach_privacy::KeyEncryptionKey;
    use outreach_projections::feedback_links::LinkKey;

    let app = TestApp::spawn().await;
    let old_kek = outreach_test_support::test_key_encryption_key();
    let before = LinkKey::of(&old_kek).issue();
    // The process's KEK is replaced, as a restart after `keys rewrap` does.
    let new_kek = KeyEncryptionKey::generate();
    KeyEncryptionKey::install(Some(new_kek.clone()));
    let after = LinkKey::of(&new_kek).issue();

    let answer = json!({"helpfulness": 2, "would_recommend": false});
    let detail = app
        .post(&uri(&before), Some(answer.clone()), None)
        .await
        .assert_problem(StatusCode::NOT_FOUND, "feedback-token-unknown");
    assert!(detail.contains("no longer work"), "{detail}");
    let response = app.post(&uri(&after), Some(answer), None).await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.body);
    assert_eq!(feedback_rows(&app).await.len(), 1);
}

// ---------------------------------------------------------------------------------------------
// The feedback page the link leads to: `/feedback/{token}`, no sign-in.

fn page_uri(token: &str) -> String {
    format!("/feedback/{token}")
}

/// GETs the page with the browser's `Accept-Language` (none when `None`): status, HTML.
async fn page(app: &TestApp, token: &str, language: Option<&str>) -> (StatusCode, String) {
    let mut request = axum::http::Request::get(page_uri(token));
    if let Some(language) = language {
        request = request.header("accept-language", language);
    }
    let response = app
        .send(request.body(axum::body::Body::empty()).unwrap())
        .await;
    (response.status, html(&response.body))
}

/// POSTs the page's form as written (`a=1&b=2`).
async fn answer_page(
    app: &TestApp,
    token: &str,
    form: &str,
    language: Option<&str>,
) -> (StatusCode, String) {
    let mut request = axum::http::Request::post(page_uri(token))
        .header("content-type", "application/x-www-form-urlencoded");
    if let Some(language) = language {
        request = request.header("accept-language", language);
    }
    let response = app
        .send(
            request
                .body(axum::body::Body::from(form.to_owned()))
                .unwrap(),
        )
        .await;
    (response.status, html(&response.body))
}

fn html(body: &Value) -> String {
    body.as_str().expect("an HTML page").to_owned()
}

#[tokio::test]
async fn the_feedback_page_asks_the_two_questions_and_records_the_answer_once() {
    let app = TestApp::spawn().await;
    completed_case(&app, "E7", true).await;
    project(&app).await;
    let token = token_in(&invitation_emails(&app).await[0].1);

    let (status, form) = page(&app, &token, None).await;

    assert_eq!(status, StatusCode::OK, "{form}");
    assert!(form.contains(r#"<html lang="en">"#), "{form}");
    assert!(form.contains("How helpful was the peer support?"), "{form}");
    assert!(form.contains(&format!(r#"action="/feedback/{token}""#)));
    for value in ["1", "2", "3", "4", "5"] {
        assert!(form.contains(&format!(r#"name="helpfulness" value="{value}""#)));
    }
    assert!(form.contains(r#"name="would_recommend" value="yes""#));
    // Showing the form records nothing and uses nothing up.
    assert!(token_rows(&app).await.is_empty());

    let (status, thanks) =
        answer_page(&app, &token, "helpfulness=4&would_recommend=yes", None).await;

    assert_eq!(status, StatusCode::CREATED, "{thanks}");
    assert!(thanks.contains("Thank you"), "{thanks}");
    assert_eq!(feedback_rows(&app).await.len(), 1);
    assert_eq!(feedback_rows(&app).await[0].1, 4);
    assert!(feedback_rows(&app).await[0].2);

    // The link is used: the page says so, and a second answer changes nothing.
    let (status, used) = page(&app, &token, None).await;
    assert_eq!(status, StatusCode::GONE);
    assert!(used.contains("This link has been used"), "{used}");
    assert!(!used.contains("<form class=\"step"), "{used}");
    let (status, _) = answer_page(&app, &token, "helpfulness=1&would_recommend=no", None).await;
    assert_eq!(status, StatusCode::GONE);
    assert_eq!(feedback_rows(&app).await.len(), 1);
}

#[tokio::test]
async fn the_feedback_page_speaks_the_browsers_language() {
    let app = TestApp::spawn().await;
    completed_case(&app, "E7", true).await;
    project(&app).await;
    let token = token_in(&invitation_emails(&app).await[0].1);

    let (status, form) = page(&app, &token, Some("es-MX,es;q=0.9,en;q=0.5")).await;

    assert_eq!(status, StatusCode::OK);
    assert!(form.contains(r#"<html lang="es">"#), "{form}");
    assert!(
        form.contains("¿Cuánto le ayudó el apoyo entre pares?"),
        "{form}"
    );
    assert!(form.contains("Enviar mi opinión"), "{form}");
    // A language the program does not speak: its default, English.
    let (_, form) = page(&app, &token, Some("fr-FR, de;q=0.5")).await;
    assert!(form.contains(r#"<html lang="en">"#), "{form}");

    let (status, thanks) =
        answer_page(&app, &token, "helpfulness=5&would_recommend=no", Some("es")).await;
    assert_eq!(status, StatusCode::CREATED);
    assert!(thanks.contains("Gracias"), "{thanks}");
    let (_, used) = page(&app, &token, Some("es")).await;
    assert!(used.contains("Este enlace ya se usó"), "{used}");
}

#[tokio::test]
async fn an_unanswered_or_wrong_question_is_marked_and_the_link_still_works() {
    let app = TestApp::spawn().await;
    completed_case(&app, "E7", true).await;
    project(&app).await;
    let token = token_in(&invitation_emails(&app).await[0].1);

    for (form, rating_marked, recommend_marked) in [
        ("helpfulness=4", false, true),
        ("would_recommend=yes", true, false),
        ("", true, true),
        ("helpfulness=9&would_recommend=yes", true, false),
        ("helpfulness=0&would_recommend=no", true, false),
        ("helpfulness=four&would_recommend=yes", true, false),
        ("helpfulness=3&would_recommend=maybe", false, true),
        // Free text has no place: a field the form does not have refuses the whole form.
        (
            "helpfulness=3&would_recommend=yes&comment=thanks",
            true,
            true,
        ),
        // One answer sent twice is refused too.
        (
            "helpfulness=3&helpfulness=5&would_recommend=yes",
            true,
            false,
        ),
    ] {
        let (status, page) = answer_page(&app, &token, form, None).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{form}: {page}");
        assert!(page.contains(r#"role="alert""#), "{form}: {page}");
        assert_eq!(
            page.contains("Choose how helpful it was"),
            rating_marked,
            "{form}: {page}"
        );
        assert_eq!(
            page.contains("Choose yes or no."),
            recommend_marked,
            "{form}: {page}"
        );
    }
    // What was answered is kept checked.
    let (_, page) = answer_page(&app, &token, "helpfulness=4", None).await;
    assert!(page.contains(r#"value="4" checked"#), "{page}");
    assert!(feedback_rows(&app).await.is_empty());
    assert!(token_rows(&app).await.is_empty());

    let (status, _) = answer_page(&app, &token, "helpfulness=2&would_recommend=no", None).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(feedback_rows(&app).await.len(), 1);
}

#[tokio::test]
async fn an_unknown_link_gets_a_plain_page_and_guesses_never_hold_up_a_real_answer() {
    let app = TestApp::spawn_with_rate_limits(outreach_api::RateLimitSettings {
        referrals_per_minute: 10,
        feedback_per_link_per_minute: 5,
        feedback_per_minute: 3,
    })
    .await;
    app.put_on_roster("E20001").await;
    completed_case(&app, "E7", true).await;
    project(&app).await;
    let token = token_in(&invitation_emails(&app).await[0].1);
    let unknown = format!("{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple());

    // A link of another shape: not found, and not counted.
    for _ in 0..5 {
        let (status, page) = page(&app, "not-a-token", None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(page.contains("This link does not work"), "{page}");
    }
    // Links of the right shape that the program never sent: counted together, then slowed.
    for _ in 0..3 {
        let (status, page) = page(&app, &unknown, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{page}");
        assert!(!page.contains(&unknown));
    }
    let (status, wait) = answer_page(
        &app,
        &unknown,
        "helpfulness=5&would_recommend=yes",
        Some("es"),
    )
    .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{wait}");
    assert!(wait.contains("Espere un momento"), "{wait}");

    // The real link is not held up by them: it shows its form and takes its answer.
    let (status, _) = page(&app, &token, None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = answer_page(&app, &token, "helpfulness=3&would_recommend=yes", None).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(feedback_rows(&app).await.len(), 1);
}

#[tokio::test]
async fn the_feedback_page_is_served_without_a_session_and_never_framed_or_cached() {
    let app = TestApp::spawn().await;
    completed_case(&app, "E7", true).await;
    project(&app).await;
    let token = token_in(&invitation_emails(&app).await[0].1);
    // No Authorization header at all: the link is the credential.
    let response = app
        .exchange_public(
            axum::http::Request::get(page_uri(&token))
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(response.status, StatusCode::OK);
    let header = |name: &str| {
        response
            .headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    assert!(header("content-security-policy").contains("frame-ancestors 'none'"));
    assert_eq!(header("cache-control"), "no-store");
    assert_eq!(header("referrer-policy"), "same-origin");
}
