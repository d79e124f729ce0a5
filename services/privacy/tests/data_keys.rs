//! The key store against a real PostgreSQL database.

use outreach_privacy::{open_all, seal, DataKeys};
use outreach_test_support::TestDatabase;
use serde_json::{json, Value};

#[tokio::test]
async fn a_member_has_one_live_key_even_when_asked_for_it_at_once() {
    let db = TestDatabase::create("privacy_keys").await;
    let mut handles = Vec::new();
    for _ in 0..4 {
        let pool = db.pool.clone();
        handles.push(tokio::spawn(async move {
            let mut conn = pool.acquire().await.unwrap();
            DataKeys::on(&mut conn)
                .live_key("E1")
                .await
                .unwrap()
                .key_id()
        }));
    }
    let mut ids = Vec::new();
    for handle in handles {
        ids.push(handle.await.unwrap());
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "one key for the member: {ids:?}");
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM member_data_keys")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(rows, 1);
}

/// Two intake batches naming the same new member at once: the second waits for the first
/// one's key, and both seal with it.
#[tokio::test]
async fn batches_creating_a_members_key_at_once_end_up_with_the_same_key() {
    let db = TestDatabase::create("privacy_keys_batch").await;
    let staff = |ids: &[&str]| ids.iter().map(|id| id.to_string()).collect::<Vec<_>>();
    let mut conn = db.pool.acquire().await.unwrap();
    let known = DataKeys::on(&mut conn).live_key("E0").await.unwrap();

    let mut first = db.pool.begin().await.unwrap();
    let first_keys = DataKeys::on(&mut first)
        .live_keys(&staff(&["E1", "E2"]))
        .await
        .unwrap();
    let pool = db.pool.clone();
    let second = tokio::spawn(async move {
        let mut tx = pool.begin().await.unwrap();
        let keys = DataKeys::on(&mut tx)
            .live_keys(&staff(&["E0", "E2", "E3"]))
            .await
            .unwrap();
        tx.commit().await.unwrap();
        keys
    });
    // The second batch's offer for E2 waits on the first one's uncommitted key.
    let waiting = "SELECT count(*) FROM pg_stat_activity
                    WHERE datname = current_database() AND wait_event_type = 'Lock'";
    while sqlx::query_scalar::<_, i64>(waiting)
        .fetch_one(&db.pool)
        .await
        .unwrap()
        == 0
    {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    first.commit().await.unwrap();
    let second_keys = second.await.unwrap();

    assert_eq!(second_keys["E2"].key_id(), first_keys["E2"].key_id());
    assert_eq!(second_keys["E0"].key_id(), known.key_id());
    assert_eq!(second_keys.len(), 3);
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM member_data_keys")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(rows, 4, "E0, E1, E2 and E3, one key each");
}

#[tokio::test]
async fn destroying_a_key_makes_what_it_sealed_gone_and_leaves_others_readable() {
    let db = TestDatabase::create("privacy_keys").await;
    let mut conn = db.pool.acquire().await.unwrap();
    let ada = DataKeys::on(&mut conn).live_key("E1").await.unwrap();
    let grace = DataKeys::on(&mut conn).live_key("E2").await.unwrap();
    let mut payloads = vec![
        json!({"CaseOpened": {"personal": seal(&ada, &json!({"given_name": "Ada"})).unwrap()}}),
        json!({"members": [{"contact": seal(&grace, &json!({"given_name": "Grace"})).unwrap()}]}),
    ];
    let sealed = payloads.clone();
    open_all(&mut conn, payloads.iter_mut().collect())
        .await
        .unwrap();
    assert_eq!(payloads[0]["CaseOpened"]["personal"]["given_name"], "Ada");
    assert_eq!(payloads[1]["members"][0]["contact"]["given_name"], "Grace");

    assert!(DataKeys::on(&mut conn).destroy(ada.key_id()).await.unwrap());
    assert!(!DataKeys::on(&mut conn).destroy(ada.key_id()).await.unwrap());
    let mut payloads = sealed;
    open_all(&mut conn, payloads.iter_mut().collect())
        .await
        .unwrap();
    assert_eq!(payloads[0]["CaseOpened"]["personal"], Value::Null);
    assert_eq!(payloads[1]["members"][0]["contact"]["given_name"], "Grace");

    // Personal data recorded after the purge gets a key of its own.
    let next = DataKeys::on(&mut conn).live_key("E1").await.unwrap();
    assert_ne!(next.key_id(), ada.key_id());
    assert_eq!(
        DataKeys::on(&mut conn).live_key_id("E1").await.unwrap(),
        Some(next.key_id())
    );
}
