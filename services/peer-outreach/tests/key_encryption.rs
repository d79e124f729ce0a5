//! Data keys are stored wrapped under the key-encryption key (KEK) from configuration: a dump of
//! the database alone decrypts nothing, `peer-outreach keys rewrap` moves every key to a new KEK
//! (also after being killed half-way), and the key table holds no staff id.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;

use outreach_privacy::{check_store, open_all, seal, DataKeys, KeyEncryptionKey, PrivacyError};
use outreach_test_support::{
    drop_database, owner_url, test_key_encryption_key, TestDatabase, TEST_KEY_ENCRYPTION_KEY,
};
use serde_json::{json, Value};
use sqlx::{Connection, PgConnection};

mod operator;
use operator::{binary, operator, succeeded};

const NAME: &str = "Augusta Ada Lovelace";
const EMAIL: &str = "augusta.lovelace@hospital.example";

/// Seals a member's contact details under their key and stores them in a table of the test's
/// own, as the event store keeps sealed personal parts.
async fn store_contact(db: &TestDatabase, staff_id: &str) {
    let owner = db.owner_pool().await;
    sqlx::query("CREATE TABLE IF NOT EXISTS sealed_contacts (staff_id text, contact json)")
        .execute(&owner)
        .await
        .unwrap();
    let mut conn = owner.acquire().await.unwrap();
    let key = DataKeys::on(&mut conn).live_key(staff_id).await.unwrap();
    let sealed = seal(&key, &json!({"name": NAME, "email": EMAIL})).unwrap();
    sqlx::query("INSERT INTO sealed_contacts VALUES ($1, $2)")
        .bind(staff_id)
        .bind(sealed)
        .execute(&mut *conn)
        .await
        .unwrap();
}

/// The stored contacts, opened with the process's KEK.
async fn read_contacts(url: &str) -> Result<Vec<Value>, PrivacyError> {
    let mut conn = PgConnection::connect(url).await.unwrap();
    let mut contacts: Vec<Value> = sqlx::query_scalar("SELECT contact FROM sealed_contacts")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    open_all(&mut conn, contacts.iter_mut().collect()).await?;
    Ok(contacts)
}

/// `peer-outreach keys rewrap --to env:NEW_KEK`, configured with the test KEK.
fn rewrap(db: &TestDatabase, to: &KeyEncryptionKey, batch: u32) -> Command {
    let mut command = operator(db);
    command
        .args(["keys", "rewrap", "--to", "env:NEW_KEK", "--batch"])
        .arg(batch.to_string())
        .env("NEW_KEK", to.to_base64());
    command
}

/// How many keys (and the index key) are under each KEK id.
async fn keys_by_kek(db: &TestDatabase) -> Vec<(String, i64)> {
    sqlx::query_as(
        "SELECT kek_id, count(*) FROM
           (SELECT kek_id FROM member_data_keys UNION ALL SELECT kek_id FROM member_index_key) k
          GROUP BY kek_id ORDER BY kek_id",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn a_dump_taken_before_a_purge_reads_only_with_the_kek_of_its_time() {
    let db = TestDatabase::create("kek_dump").await;
    store_contact(&db, "E7310001").await;
    let dump = std::env::temp_dir().join(format!("{}.sql", db.name));
    let dumped = Command::new("pg_dump")
        .args(["--no-owner", "--file"])
        .arg(&dump)
        .arg(&db.owner_url)
        .output()
        .expect("pg_dump runs");
    assert!(dumped.status.success(), "{dumped:?}");
    // The purge: the member's key goes.
    let mut conn = db.pool.acquire().await.unwrap();
    let key_id = DataKeys::on(&mut conn)
        .live_key_id("E7310001")
        .await
        .unwrap()
        .unwrap();
    assert!(DataKeys::on(&mut conn).destroy(key_id).await.unwrap());
    drop(conn);
    assert_eq!(
        read_contacts(&db.owner_url).await.unwrap(),
        vec![Value::Null]
    );

    // The dump, restored into a scratch database.
    let text = std::fs::read_to_string(&dump).unwrap();
    assert!(!text.contains("Lovelace") && !text.contains(EMAIL));
    let scratch = format!("{}_restored", db.name);
    let admin_url = owner_url("postgres");
    let mut admin = PgConnection::connect(&admin_url).await.unwrap();
    sqlx::query(&format!(r#"CREATE DATABASE "{scratch}""#))
        .execute(&mut admin)
        .await
        .unwrap();
    let restored_url = owner_url(&scratch);
    let restored = Command::new("psql")
        .args(["-q", "-v", "ON_ERROR_STOP=1", "-f"])
        .arg(&dump)
        .arg(&restored_url)
        .output()
        .expect("psql runs");
    std::fs::remove_file(&dump).ok();
    assert!(restored.status.success(), "{restored:?}");

    // No KEK: nothing opens, and the error says why.
    KeyEncryptionKey::install(None);
    let none = read_contacts(&restored_url).await.unwrap_err();
    assert!(matches!(none, PrivacyError::NoKeyEncryptionKey), "{none}");
    assert!(none.to_string().contains("privacy.key_encryption_key"));
    // Another KEK: refused, naming the KEK the keys are under.
    KeyEncryptionKey::install(Some(KeyEncryptionKey::generate()));
    let other = read_contacts(&restored_url).await.unwrap_err();
    assert!(
        other.to_string().contains(test_key_encryption_key().id()),
        "{other}"
    );
    // The KEK of its time: the member is back. The KEK is what protects a backup.
    KeyEncryptionKey::install(Some(test_key_encryption_key()));
    let opened = read_contacts(&restored_url).await.unwrap();
    assert_eq!(opened, vec![json!({"name": NAME, "email": EMAIL})]);
    drop_database(&scratch);
}

#[tokio::test]
async fn rewrap_moves_every_key_and_the_old_kek_is_refused_after() {
    let db = TestDatabase::create("kek_rewrap").await;
    for staff_id in ["E7320001", "E7320002", "E7320003"] {
        store_contact(&db, staff_id).await;
    }
    let old = test_key_encryption_key();
    let new = KeyEncryptionKey::generate();

    let said = succeeded(&rewrap(&db, &new, 2).output().unwrap());

    assert!(said.contains("rewrapping 4 keys"), "{said}");
    assert!(said.contains("rewrapped 4 of 4 keys"), "{said}");
    assert_eq!(keys_by_kek(&db).await, vec![(new.id().to_owned(), 4)]);
    // With the new KEK the service reads everything, and its check at start passes.
    KeyEncryptionKey::install(Some(new.clone()));
    assert_eq!(read_contacts(&db.owner_url).await.unwrap().len(), 3);
    let mut conn = db.pool.acquire().await.unwrap();
    check_store(&mut conn, &new).await.unwrap();
    // The lookup by staff id survived the rotation: no second key for the member.
    let before: i64 = sqlx::query_scalar("SELECT count(*) FROM member_data_keys")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    DataKeys::on(&mut conn).live_key("E7320001").await.unwrap();
    let after: i64 = sqlx::query_scalar("SELECT count(*) FROM member_data_keys")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(before, after);
    // The old one is refused at start and at every read.
    let refused = check_store(&mut conn, &old).await.unwrap_err();
    assert!(refused.to_string().contains(new.id()), "{refused}");
    KeyEncryptionKey::install(Some(old.clone()));
    assert!(matches!(
        read_contacts(&db.owner_url).await,
        Err(PrivacyError::UnknownKeyEncryptionKey { .. })
    ));
    // Run again (as after a kill at the very end): nothing is left to move.
    let again = succeeded(&rewrap(&db, &new, 2).output().unwrap());
    assert!(again.contains("rewrapping 0 keys"), "{again}");
}

#[tokio::test]
async fn a_rewrap_killed_half_way_completes_when_run_again() {
    let db = TestDatabase::create("kek_rewrap_kill").await;
    let staff_ids: Vec<String> = (0..1500).map(|n| format!("E74{n:05}")).collect();
    let mut conn = db.pool.acquire().await.unwrap();
    DataKeys::on(&mut conn).live_keys(&staff_ids).await.unwrap();
    drop(conn);
    let new = KeyEncryptionKey::generate();

    // One key a transaction, killed once a hundred have moved.
    let mut child = rewrap(&db, &new, 1).stdout(Stdio::piped()).spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    loop {
        let line = lines.next().expect("killed before it finished").unwrap();
        if line.starts_with("rewrapped 100 of") {
            break;
        }
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    let half: Vec<(String, i64)> = keys_by_kek(&db).await;
    let moved = half
        .iter()
        .find(|(id, _)| id == new.id())
        .map_or(0, |(_, n)| *n);
    assert!(
        (100..1501).contains(&moved),
        "killed half-way, yet {half:?}"
    );

    let said = succeeded(&rewrap(&db, &new, 200).output().unwrap());

    assert!(
        said.contains(&format!("rewrapping {} keys", 1501 - moved)),
        "{said}"
    );
    assert_eq!(keys_by_kek(&db).await, vec![(new.id().to_owned(), 1501)]);
    // Every key unwraps under the new KEK.
    let ids: Vec<uuid::Uuid> = sqlx::query_scalar("SELECT key_id FROM member_data_keys")
        .fetch_all(&db.pool)
        .await
        .unwrap();
    let mut conn = db.pool.acquire().await.unwrap();
    let ring = DataKeys::under(&mut conn, Arc::new(new.clone()))
        .ring(&ids)
        .await
        .unwrap();
    assert!(ids.iter().all(|id| ring.get(*id).is_some()));
    check_store(&mut conn, &new).await.unwrap();
}

#[tokio::test]
async fn the_key_table_holds_no_staff_id_and_nothing_once_the_member_is_purged() {
    let db = TestDatabase::create("kek_no_staff_id").await;
    let staff_id = "E7330001";
    store_contact(&db, staff_id).await;
    let hex: String = staff_id.bytes().map(|b| format!("{b:02x}")).collect();

    let everything: String =
        sqlx::query_scalar("SELECT string_agg(k::text, ' ') FROM member_data_keys k")
            .fetch_one(&db.pool)
            .await
            .unwrap();

    assert!(!everything.contains(staff_id), "{everything}");
    assert!(!everything.contains(&hex), "{everything}");
    let columns: Vec<String> = sqlx::query_scalar(
        "SELECT column_name::text FROM information_schema.columns
          WHERE table_name = 'member_data_keys'",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert!(
        !columns.iter().any(|c| c == "staff_id" || c == "key"),
        "{columns:?}"
    );
    // The retention purge can still tell whose key it is, through the KEK.
    let mut conn = db.pool.acquire().await.unwrap();
    let aged = DataKeys::on(&mut conn)
        .members_with_keys_made_by(chrono::Utc::now())
        .await
        .unwrap();
    assert_eq!(aged, vec![staff_id.to_owned()]);

    let key_id = DataKeys::on(&mut conn)
        .live_key_id(staff_id)
        .await
        .unwrap()
        .unwrap();
    DataKeys::on(&mut conn).destroy(key_id).await.unwrap();
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM member_data_keys")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(left, 0);
}

#[tokio::test]
async fn keys_stored_before_wrapping_are_wrapped_by_migrate_and_refused_until_then() {
    let db = TestDatabase::create("kek_unwrapped").await;
    let owner = db.owner_pool().await;
    let key_id = uuid::Uuid::new_v4();
    sqlx::query(
        "INSERT INTO member_data_keys_unwrapped (key_id, staff_id, key)
         VALUES ($1, 'E7340001', decode(repeat('ab', 32), 'hex'))",
    )
    .bind(key_id)
    .execute(&owner)
    .await
    .unwrap();
    let mut conn = db.pool.acquire().await.unwrap();
    let refused = check_store(&mut conn, &test_key_encryption_key())
        .await
        .unwrap_err();
    assert!(
        refused.to_string().contains("peer-outreach migrate"),
        "{refused}"
    );

    // Without a KEK, migrate refuses rather than leave a plain key.
    let without = binary()
        .arg("migrate")
        .env("PEER_OUTREACH__DATABASE__URL", &db.url)
        .env("PEER_OUTREACH__DATABASE__MIGRATION_URL", &db.owner_url)
        .output()
        .unwrap();
    assert!(!without.status.success());
    let said = String::from_utf8_lossy(&without.stderr);
    assert!(said.contains("1 data keys are stored unwrapped"), "{said}");

    succeeded(
        &binary()
            .arg("migrate")
            .env("PEER_OUTREACH__DATABASE__URL", &db.url)
            .env("PEER_OUTREACH__DATABASE__MIGRATION_URL", &db.owner_url)
            .env(
                "PEER_OUTREACH__PRIVACY__KEY_ENCRYPTION_KEY",
                TEST_KEY_ENCRYPTION_KEY,
            )
            .output()
            .unwrap(),
    );

    check_store(&mut conn, &test_key_encryption_key())
        .await
        .unwrap();
    assert_eq!(
        DataKeys::on(&mut conn)
            .live_key_id("E7340001")
            .await
            .unwrap(),
        Some(key_id)
    );
    let plain: i64 = sqlx::query_scalar("SELECT count(*) FROM member_data_keys_unwrapped")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(plain, 0);
}
