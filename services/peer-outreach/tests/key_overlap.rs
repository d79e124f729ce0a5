//! A key-encryption key overlap: with the new KEK configured and the old one as
//! `privacy.previous_key_encryption_key`, the service reads keys under either and wraps new
//! ones under the new one only, so it keeps running while `keys rewrap` (run with the same
//! configuration) moves the keys; once that is done, the new KEK alone reads everything. The
//! feedback link key follows: links made under the old KEK are taken during the overlap only.

use std::process::Command;

use outreach_privacy::{check_store, DataKeys, KeyEncryptionKey, PrivacyError};
use outreach_projections::feedback_links::LinkKey;
use outreach_test_support::{test_key_encryption_key, TestDatabase, TEST_KEY_ENCRYPTION_KEY};

mod operator;
use operator::operator;

/// `peer-outreach keys rewrap --to env:NEW_KEK` configured for the overlap: the new KEK as
/// the KEK, the test KEK as the previous one.
fn rewrap_in_overlap(db: &TestDatabase, new: &KeyEncryptionKey) -> Command {
    let mut command = operator(db);
    command
        .args(["keys", "rewrap", "--to", "env:NEW_KEK"])
        .env("NEW_KEK", new.to_base64())
        .env(
            "PEER_OUTREACH__PRIVACY__KEY_ENCRYPTION_KEY",
            new.to_base64(),
        )
        .env(
            "PEER_OUTREACH__PRIVACY__PREVIOUS_KEY_ENCRYPTION_KEY",
            TEST_KEY_ENCRYPTION_KEY,
        );
    command
}

async fn kek_of(db: &TestDatabase, key_id: uuid::Uuid) -> String {
    sqlx::query_scalar("SELECT kek_id FROM member_data_keys WHERE key_id = $1")
        .bind(key_id)
        .fetch_one(&db.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn during_an_overlap_keys_under_either_kek_open_new_ones_go_under_the_new_and_rewrap_ends_it()
{
    let db = TestDatabase::create("kek_overlap").await;
    let old = test_key_encryption_key();
    let mut conn = db.pool.acquire().await.unwrap();
    let before = DataKeys::on(&mut conn).live_key("E7350001").await.unwrap();
    let old_link = LinkKey::of(&old).issue();

    // The overlap, as the service installs it at start.
    let new = KeyEncryptionKey::generate();
    KeyEncryptionKey::install(Some(new.clone()));
    // Without the previous KEK the store is refused, naming the KEK it is under.
    let refused = check_store(&mut conn, &new).await.unwrap_err();
    assert!(refused.to_string().contains(old.id()), "{refused}");
    KeyEncryptionKey::install_previous(Some(old.clone()));
    check_store(&mut conn, &new).await.unwrap();

    // A key under the old KEK opens: the same key, the member keeps their ids.
    let again = DataKeys::on(&mut conn).live_key("E7350001").await.unwrap();
    assert_eq!(again.key_id(), before.key_id());
    assert_eq!(kek_of(&db, before.key_id()).await, old.id());
    // A new member's key goes under the new KEK.
    let fresh = DataKeys::on(&mut conn).live_key("E7350002").await.unwrap();
    assert_eq!(kek_of(&db, fresh.key_id()).await, new.id());
    // Links: made under the new KEK's key, taken under either.
    let links = LinkKey::installed().unwrap();
    let new_link = links.issue();
    assert!(LinkKey::of(&new).verify(&new_link));
    assert!(!LinkKey::of(&old).verify(&new_link));
    assert!(links.verify(&old_link) && links.verify(&new_link));

    // The rewrap, run with the overlap's own configuration, moves what is under the old KEK.
    let output = rewrap_in_overlap(&db, &new).output().unwrap();
    let said = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // The old member's key and the index key; the new member's key was under it already.
    assert!(said.contains("rewrapping 2 keys"), "{said}");
    assert_eq!(kek_of(&db, before.key_id()).await, new.id());

    // The overlap ends: the new KEK alone reads everything, and the old one's links go.
    KeyEncryptionKey::install_previous(None);
    check_store(&mut conn, &new).await.unwrap();
    let after = DataKeys::on(&mut conn).live_key("E7350001").await.unwrap();
    assert_eq!(after.key_id(), before.key_id());
    let links = LinkKey::installed().unwrap();
    assert!(!links.verify(&old_link) && links.verify(&new_link));
    // And the old KEK alone reads nothing any more.
    KeyEncryptionKey::install(Some(old.clone()));
    assert!(matches!(
        DataKeys::on(&mut conn).live_key("E7350001").await,
        Err(PrivacyError::UnknownKeyEncryptionKey { .. })
    ));
}

/// Without an overlap, rewrapping to the KEK already configured is refused, as before.
#[tokio::test]
async fn a_rewrap_to_the_configured_kek_without_a_previous_one_is_refused() {
    let db = TestDatabase::create("kek_overlap_refused").await;
    let new = KeyEncryptionKey::generate();
    let output = rewrap_in_overlap(&db, &new)
        .env_remove("PEER_OUTREACH__PRIVACY__PREVIOUS_KEY_ENCRYPTION_KEY")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(said.contains("nothing to move"), "{said}");
}
