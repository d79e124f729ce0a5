//! What the publishers' tests share: a fresh database with every migration applied, dropped
//! with the value, and the outbox rows they put in and read back.

use outreach_test_support::TestDatabase;
use uuid::Uuid;

/// A fresh database with every migration applied, dropped with the value; with the outbox
/// helpers these tests share.
pub struct TestDb(TestDatabase);

impl std::ops::Deref for TestDb {
    type Target = TestDatabase;

    fn deref(&self) -> &TestDatabase {
        &self.0
    }
}

impl TestDb {
    pub async fn new() -> Self {
        TestDb(TestDatabase::create("outbound_test").await)
    }

    pub async fn insert(&self, kind: &str, channel: &str, payload: serde_json::Value) -> Uuid {
        let id = Uuid::new_v4();
        sqlx::query(
            "INSERT INTO outbox (id, kind, channel, topic_key, payload, created_at)
             VALUES ($1, $2, $3, $4, $5, clock_timestamp())",
        )
        .bind(id)
        .bind(kind)
        .bind(channel)
        .bind(Uuid::new_v4().to_string())
        .bind(payload)
        .execute(&self.pool)
        .await
        .unwrap();
        id
    }

    /// (published, attempts) of a row.
    pub async fn state(&self, id: Uuid) -> (bool, i32) {
        sqlx::query_as("SELECT published_at IS NOT NULL, attempts FROM outbox WHERE id = $1")
            .bind(id)
            .fetch_one(&self.pool)
            .await
            .unwrap()
    }
}
