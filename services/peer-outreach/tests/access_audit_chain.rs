//! The access audit is tamper-evident: `peer-outreach access-audit verify` walks its hash chain
//! and exits non-zero naming the first entry that a superuser altered, removed, or put in with
//! a forged hash or out of place; an untouched chain verifies.

use std::process::{Command, Output};

use outreach_test_support::TestDatabase;
use sqlx::{Connection, PgConnection};

/// A database whose audit holds ten entries, written by the service's role as reads are.
async fn audited() -> TestDatabase {
    let db = TestDatabase::create("access_audit_chain").await;
    sqlx::query(
        "INSERT INTO access_audit (subject, reader_staff_id, reader_roles, endpoint, case_id)
         SELECT 'oidc|pm', 'E90002', '{program_manager}', 'GET /v1/cases/{case_id}',
                gen_random_uuid()
           FROM generate_series(1, 10)",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    db
}

fn verify(db: &TestDatabase) -> Output {
    Command::new(env!("CARGO_BIN_EXE_peer-outreach"))
        .args(["access-audit", "verify"])
        .env("PEER_OUTREACH__DATABASE__URL", &db.url)
        .output()
        .expect("the binary runs")
}

/// Runs `statements` as the server's superuser with the audit's triggers off, as someone
/// covering their tracks would.
async fn tamper(db: &TestDatabase, statements: &[&str]) {
    let mut superuser = PgConnection::connect(&db.owner_url).await.unwrap();
    sqlx::query("SET session_replication_role = replica")
        .execute(&mut superuser)
        .await
        .unwrap();
    for statement in statements {
        sqlx::query(statement)
            .execute(&mut superuser)
            .await
            .unwrap_or_else(|e| panic!("{statement}: {e}"));
    }
    superuser.close().await.ok();
}

/// `verify` fails, naming `entry` and saying `what`.
fn fails_naming(output: &Output, entry: i64, what: &str) {
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "verified anyway: {said}");
    assert!(said.contains(&format!("entry {entry}:")), "{said}");
    assert!(said.contains(what), "{said}");
}

#[tokio::test]
async fn an_untouched_chain_verifies() {
    let db = audited().await;

    let output = verify(&db);

    let said = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(said.contains("10 entries, chained intact"), "{said}");
    assert!(
        said.contains("the newest, entry 10, has the hash"),
        "{said}"
    );
}

#[tokio::test]
async fn a_removed_entry_is_found_where_the_chain_breaks() {
    let db = audited().await;
    tamper(&db, &["DELETE FROM access_audit WHERE entry_id = 5"]).await;

    fails_naming(&verify(&db), 6, "removed");
}

#[tokio::test]
async fn an_altered_entry_is_named() {
    let db = audited().await;
    tamper(
        &db,
        &["UPDATE access_audit SET subject = 'oidc|someone-else' WHERE entry_id = 4"],
    )
    .await;

    fails_naming(&verify(&db), 4, "altered");
}

#[tokio::test]
async fn an_entry_with_a_forged_hash_is_named() {
    let db = audited().await;
    tamper(
        &db,
        &["INSERT INTO access_audit
               (entry_id, subject, reader_roles, endpoint, case_id, previous_hash, entry_hash)
           SELECT 11, 'oidc|director', '{director}', 'GET /v1/cases', gen_random_uuid(),
                  entry_hash, sha256('forged')
             FROM access_audit WHERE entry_id = 10"],
    )
    .await;

    fails_naming(&verify(&db), 11, "forged");
}

#[tokio::test]
async fn an_entry_put_in_out_of_place_is_named_even_with_a_hash_of_its_own() {
    let db = audited().await;
    // Chained to entry 3, not to the last one, with its own hash computed as the trigger would.
    tamper(
        &db,
        &[
            "INSERT INTO access_audit
                 (entry_id, subject, reader_roles, endpoint, case_id, previous_hash, entry_hash)
             SELECT 11, 'oidc|director', '{director}', 'GET /v1/cases', gen_random_uuid(),
                    entry_hash, ''
               FROM access_audit WHERE entry_id = 3",
            "UPDATE access_audit
                SET entry_hash = sha256(previous_hash
                                        || convert_to(access_audit_entry_text(access_audit), 'UTF8'))
              WHERE entry_id = 11",
        ],
    )
    .await;

    fails_naming(&verify(&db), 11, "out of place");
}
