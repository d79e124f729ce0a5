//! The key store: one live AES-256 data key per member, in `member_data_keys`.

use std::collections::HashMap;

use aes_gcm::aead::OsRng;
use aes_gcm::{Aes256Gcm, Key, KeyInit};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::PrivacyError;

/// A member's data key. Its bytes never leave this crate, and `Debug` does not show them.
#[derive(Clone)]
pub struct DataKey {
    pub(crate) key_id: Uuid,
    key: Key<Aes256Gcm>,
}

impl DataKey {
    /// A fresh key from the operating system's generator.
    pub fn generate() -> Self {
        Self {
            key_id: Uuid::new_v4(),
            key: Aes256Gcm::generate_key(OsRng),
        }
    }

    pub fn key_id(&self) -> Uuid {
        self.key_id
    }

    pub(crate) fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(&self.key)
    }

    fn from_row(key_id: Uuid, bytes: &[u8]) -> Result<Self, PrivacyError> {
        if bytes.len() != 32 {
            return Err(PrivacyError::BadKey(key_id));
        }
        Ok(Self {
            key_id,
            key: *Key::<Aes256Gcm>::from_slice(bytes),
        })
    }

    /// An identifier only this key can derive: HMAC-SHA256 of `purpose` and `input` under a
    /// subkey HKDF draws from the key (never the sealing key itself), cut to a UUID. Whoever
    /// knows the staff id and the report, but not the key, cannot recompute it; once the key
    /// is destroyed nobody can, so the ids of a member's aggregates die with their data.
    pub fn derive_id(&self, purpose: &str, input: &str) -> Uuid {
        use hmac::Mac;
        let mut subkey = [0u8; 32];
        hkdf::Hkdf::<sha2::Sha256>::new(None, self.key.as_slice())
            .expand(b"peer-outreach/aggregate-ids/v1", &mut subkey)
            .expect("32 bytes is a valid HKDF-SHA256 output length");
        let mut mac = <hmac::Hmac<sha2::Sha256> as Mac>::new_from_slice(&subkey)
            .expect("HMAC takes a key of any length");
        // Lengths first, so ("ab", "c") and ("a", "bc") never meet.
        mac.update(&(purpose.len() as u64).to_be_bytes());
        mac.update(purpose.as_bytes());
        mac.update(input.as_bytes());
        let tag = mac.finalize().into_bytes();
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&tag[..16]);
        uuid::Builder::from_random_bytes(bytes).into_uuid()
    }
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataKey")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

/// The keys a batch of sealed values needs, looked up at once. A key absent from the ring has
/// been destroyed: what it sealed is gone.
#[derive(Debug, Default, Clone)]
pub struct KeyRing(HashMap<Uuid, DataKey>);

impl KeyRing {
    pub fn get(&self, key_id: Uuid) -> Option<&DataKey> {
        self.0.get(&key_id)
    }

    pub fn insert(&mut self, key: DataKey) {
        self.0.insert(key.key_id, key);
    }
}

/// The key store, on a connection (or a transaction) of the caller's.
pub struct DataKeys<'c> {
    db: &'c mut PgConnection,
}

impl<'c> DataKeys<'c> {
    pub fn on(db: &'c mut PgConnection) -> Self {
        Self { db }
    }

    /// The member's live key, created if they have none. Safe under concurrency: two callers
    /// creating at once both end up with the one key that won the insert.
    pub async fn live_key(&mut self, staff_id: &str) -> Result<DataKey, PrivacyError> {
        if let Some(key) = self.find_live(staff_id).await? {
            return Ok(key);
        }
        let fresh = DataKey::generate();
        sqlx::query(
            "INSERT INTO member_data_keys (key_id, staff_id, key) VALUES ($1, $2, $3)
             ON CONFLICT (staff_id) DO NOTHING",
        )
        .bind(fresh.key_id)
        .bind(staff_id)
        .bind(fresh.key.as_slice())
        .execute(&mut *self.db)
        .await?;
        self.find_live(staff_id)
            .await?
            .ok_or(PrivacyError::Malformed(
                "the member's key vanished as it was created",
            ))
    }

    /// The live keys of many members at once, created for those who have none, in one
    /// statement: a fresh key is offered for each member and taken only where none is live,
    /// and the keys that already were are read beside the ones taken. That statement cannot
    /// see a key another transaction committed while it waited (its offer then yields to that
    /// key): such a member is looked up once more.
    pub async fn live_keys(
        &mut self,
        staff_ids: &[String],
    ) -> Result<HashMap<String, DataKey>, PrivacyError> {
        if staff_ids.is_empty() {
            return Ok(HashMap::new());
        }
        let offered: Vec<DataKey> = staff_ids.iter().map(|_| DataKey::generate()).collect();
        let rows: Vec<(String, Uuid, Vec<u8>)> = sqlx::query_as(
            "WITH taken AS (
                 INSERT INTO member_data_keys (key_id, staff_id, key)
                 SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::bytea[])
                 ON CONFLICT (staff_id) DO NOTHING
                 RETURNING staff_id, key_id, key)
             SELECT staff_id, key_id, key FROM taken
             UNION ALL
             SELECT staff_id, key_id, key FROM member_data_keys WHERE staff_id = ANY($2)",
        )
        .bind(offered.iter().map(|k| k.key_id).collect::<Vec<_>>())
        .bind(staff_ids)
        .bind(offered.iter().map(|k| k.key.to_vec()).collect::<Vec<_>>())
        .fetch_all(&mut *self.db)
        .await?;
        let mut keys = rows
            .into_iter()
            .map(|(staff_id, id, bytes)| Ok((staff_id, DataKey::from_row(id, &bytes)?)))
            .collect::<Result<HashMap<_, _>, PrivacyError>>()?;
        let missing: Vec<String> = staff_ids
            .iter()
            .filter(|id| !keys.contains_key(*id))
            .cloned()
            .collect();
        if missing.is_empty() {
            return Ok(keys);
        }
        keys.extend(self.find_live_many(&missing).await?);
        match missing.iter().find(|id| !keys.contains_key(*id)) {
            Some(_) => Err(PrivacyError::Malformed(
                "a member's key vanished as it was created",
            )),
            None => Ok(keys),
        }
    }

    async fn find_live_many(
        &mut self,
        staff_ids: &[String],
    ) -> Result<HashMap<String, DataKey>, PrivacyError> {
        let rows: Vec<(String, Uuid, Vec<u8>)> = sqlx::query_as(
            "SELECT staff_id, key_id, key FROM member_data_keys WHERE staff_id = ANY($1)",
        )
        .bind(staff_ids)
        .fetch_all(&mut *self.db)
        .await?;
        rows.into_iter()
            .map(|(staff_id, id, bytes)| Ok((staff_id, DataKey::from_row(id, &bytes)?)))
            .collect()
    }

    /// The id of the member's live key, if they have one.
    pub async fn live_key_id(&mut self, staff_id: &str) -> Result<Option<Uuid>, PrivacyError> {
        Ok(self.find_live(staff_id).await?.map(|k| k.key_id))
    }

    async fn find_live(&mut self, staff_id: &str) -> Result<Option<DataKey>, PrivacyError> {
        let row: Option<(Uuid, Vec<u8>)> =
            sqlx::query_as("SELECT key_id, key FROM member_data_keys WHERE staff_id = $1")
                .bind(staff_id)
                .fetch_optional(&mut *self.db)
                .await?;
        row.map(|(id, bytes)| DataKey::from_row(id, &bytes))
            .transpose()
    }

    /// The keys with these ids that still exist, in one query.
    pub async fn ring(&mut self, key_ids: &[Uuid]) -> Result<KeyRing, PrivacyError> {
        let mut ring = KeyRing::default();
        if key_ids.is_empty() {
            return Ok(ring);
        }
        let rows: Vec<(Uuid, Vec<u8>)> =
            sqlx::query_as("SELECT key_id, key FROM member_data_keys WHERE key_id = ANY($1)")
                .bind(key_ids)
                .fetch_all(&mut *self.db)
                .await?;
        for (id, bytes) in rows {
            ring.insert(DataKey::from_row(id, &bytes)?);
        }
        Ok(ring)
    }

    /// Destroys a key: whatever it sealed is gone for good. Returns whether it existed.
    pub async fn destroy(&mut self, key_id: Uuid) -> Result<bool, PrivacyError> {
        let deleted = sqlx::query("DELETE FROM member_data_keys WHERE key_id = $1")
            .bind(key_id)
            .execute(&mut *self.db)
            .await?;
        Ok(deleted.rows_affected() == 1)
    }

    /// Held (shared) by a transaction that seals with the member's key until it commits, so a
    /// purge cannot destroy the key between sealing and storing: see [`Self::hold_for_purge`].
    pub async fn hold_for_sealing(&mut self, staff_id: &str) -> Result<(), PrivacyError> {
        sqlx::query("SELECT pg_advisory_xact_lock_shared(hashtextextended($1, 0))")
            .bind(lock_name(staff_id))
            .execute(&mut *self.db)
            .await?;
        Ok(())
    }

    /// [`Self::hold_for_sealing`] for many members in one statement. The locks are taken in
    /// staff id order: shared locks never wait on each other, and a purge holds one lock only,
    /// so no order of batches can deadlock.
    pub async fn hold_all_for_sealing(&mut self, staff_ids: &[String]) -> Result<(), PrivacyError> {
        let mut names: Vec<String> = staff_ids.iter().map(|id| lock_name(id)).collect();
        names.sort_unstable();
        names.dedup();
        sqlx::query(
            "SELECT pg_advisory_xact_lock_shared(hashtextextended(name, 0))
               FROM UNNEST($1::text[]) WITH ORDINALITY AS held(name, n) ORDER BY n",
        )
        .bind(&names)
        .execute(&mut *self.db)
        .await?;
        Ok(())
    }

    /// Held (exclusive) by the transaction that destroys the member's key: it waits for every
    /// sealing transaction in flight to commit, and sealing after it gets a new key.
    pub async fn hold_for_purge(&mut self, staff_id: &str) -> Result<(), PrivacyError> {
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
            .bind(lock_name(staff_id))
            .execute(&mut *self.db)
            .await?;
        Ok(())
    }
}

fn lock_name(staff_id: &str) -> String {
    format!("member-data-key/{staff_id}")
}
