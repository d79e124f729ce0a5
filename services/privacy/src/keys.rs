//! The key store: one live AES-256 data key per member, in `member_data_keys`.
//!
//! A row holds the data key wrapped under the key-encryption key ([`KeyEncryptionKey`]) and
//! the id of that KEK; the member is found by a blind index of their staff id (HMAC-SHA256
//! under the index key), never by the staff id itself. The staff id is kept only sealed under
//! the member's own data key, for the retention purge to know whom an aged key belongs to.
//! When a purge deletes the row, nothing about the member is left in the table.
//!
//! The index key is one random key, stored in `member_index_key` wrapped under the KEK like
//! the data keys, and rewrapped with them. Stored rather than derived from a second
//! configured secret: a KEK rotation then changes no index (the key under it is the same),
//! there is one secret for an operator to keep and retire, and a backup's blind indexes are
//! as unreadable as its data keys once the KEK of its time is destroyed.

use std::collections::HashMap;
use std::sync::Arc;

use aes_gcm::aead::{Aead, AeadCore, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Key, KeyInit, Nonce};
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{KeyEncryptionKey, PrivacyError};

/// What the index key is wrapped with as associated data.
pub(crate) const INDEX_KEY_LABEL: &[u8] = b"member-index-key";

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

    /// Unwraps a stored row's key: the key id is the wrapping's associated data.
    pub(crate) fn unwrapped(
        kek: &KeyEncryptionKey,
        key_id: Uuid,
        kek_id: &str,
        wrapped: &[u8],
    ) -> Result<Self, PrivacyError> {
        Self::from_row(key_id, &kek.unwrap(kek_id, key_id.as_bytes(), wrapped)?)
    }

    pub(crate) fn wrapped(&self, kek: &KeyEncryptionKey) -> Result<Vec<u8>, PrivacyError> {
        kek.wrap(self.key_id.as_bytes(), self.key.as_slice())
    }

    /// The staff id, sealed under this key (nonce, then ciphertext), for the key's own row.
    pub(crate) fn sealed_staff_id(&self, staff_id: &str) -> Result<Vec<u8>, PrivacyError> {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let sealed = self
            .cipher()
            .encrypt(
                &nonce,
                Payload {
                    msg: staff_id.as_bytes(),
                    aad: self.key_id.as_bytes(),
                },
            )
            .map_err(|_| PrivacyError::Sealing)?;
        let mut out = nonce.to_vec();
        out.extend(sealed);
        Ok(out)
    }

    fn open_staff_id(&self, sealed: &[u8]) -> Result<String, PrivacyError> {
        if sealed.len() < 12 {
            return Err(PrivacyError::Malformed("a sealed staff id is too short"));
        }
        let (nonce, ciphertext) = sealed.split_at(12);
        let plain = self
            .cipher()
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: self.key_id.as_bytes(),
                },
            )
            .map_err(|_| PrivacyError::Tampered)?;
        String::from_utf8(plain).map_err(|_| PrivacyError::Malformed("a staff id is not UTF-8"))
    }

    pub(crate) fn from_row(key_id: Uuid, bytes: &[u8]) -> Result<Self, PrivacyError> {
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

/// The index key: the blind index of a staff id is HMAC-SHA256 of it under this key.
#[derive(Clone)]
pub(crate) struct IndexKey([u8; 32]);

impl IndexKey {
    pub(crate) fn generate() -> Self {
        Self(Aes256Gcm::generate_key(OsRng).into())
    }

    pub(crate) fn from_bytes(bytes: &[u8]) -> Result<Self, PrivacyError> {
        bytes
            .try_into()
            .map(Self)
            .map_err(|_| PrivacyError::Malformed("the index key is not 32 bytes"))
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        &self.0
    }

    pub(crate) fn blind(&self, staff_id: &str) -> Vec<u8> {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(&self.0).expect("HMAC takes a key of any length");
        mac.update(staff_id.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }
}

/// The index key under `kek`, made (and stored wrapped) on first use.
pub(crate) async fn index_key(
    db: &mut PgConnection,
    kek: &KeyEncryptionKey,
) -> Result<IndexKey, PrivacyError> {
    let stored: Option<(String, Vec<u8>)> =
        sqlx::query_as("SELECT kek_id, wrapped FROM member_index_key")
            .fetch_optional(&mut *db)
            .await?;
    let (kek_id, wrapped) = match stored {
        Some(row) => row,
        None => {
            let fresh = IndexKey::generate();
            sqlx::query(
                "INSERT INTO member_index_key (kek_id, wrapped) VALUES ($1, $2)
                 ON CONFLICT DO NOTHING",
            )
            .bind(kek.id())
            .bind(kek.wrap(INDEX_KEY_LABEL, fresh.bytes())?)
            .execute(&mut *db)
            .await?;
            sqlx::query_as("SELECT kek_id, wrapped FROM member_index_key")
                .fetch_one(&mut *db)
                .await?
        }
    };
    IndexKey::from_bytes(&kek.unwrap(&kek_id, INDEX_KEY_LABEL, &wrapped)?)
}

/// A stored row: the key's id, the id of the KEK it is wrapped under, the wrapped key.
type Row = (Uuid, String, Vec<u8>);

/// The key store, on a connection (or a transaction) of the caller's, under the process's
/// key-encryption key (or one given).
pub struct DataKeys<'c> {
    db: &'c mut PgConnection,
    kek: Option<Arc<KeyEncryptionKey>>,
    index: Option<IndexKey>,
}

impl<'c> DataKeys<'c> {
    /// The key store under the process's KEK ([`KeyEncryptionKey::install`]). Without one,
    /// every call that reads or makes a key fails with [`PrivacyError::NoKeyEncryptionKey`].
    pub fn on(db: &'c mut PgConnection) -> Self {
        Self {
            db,
            kek: KeyEncryptionKey::installed().ok(),
            index: None,
        }
    }

    /// The key store under `kek` (the rewrap, and tests reading a backup).
    pub fn under(db: &'c mut PgConnection, kek: Arc<KeyEncryptionKey>) -> Self {
        Self {
            db,
            kek: Some(kek),
            index: None,
        }
    }

    fn kek(&self) -> Result<Arc<KeyEncryptionKey>, PrivacyError> {
        self.kek.clone().ok_or(PrivacyError::NoKeyEncryptionKey)
    }

    async fn blind(&mut self, staff_id: &str) -> Result<Vec<u8>, PrivacyError> {
        if self.index.is_none() {
            let kek = self.kek()?;
            self.index = Some(index_key(self.db, &kek).await?);
        }
        Ok(self.index.as_ref().expect("just set").blind(staff_id))
    }

    /// The member's live key, created if they have none. Safe under concurrency: two callers
    /// creating at once both end up with the one key that won the insert.
    pub async fn live_key(&mut self, staff_id: &str) -> Result<DataKey, PrivacyError> {
        if let Some(key) = self.find_live(staff_id).await? {
            return Ok(key);
        }
        let kek = self.kek()?;
        let index = self.blind(staff_id).await?;
        let fresh = DataKey::generate();
        sqlx::query(
            "INSERT INTO member_data_keys (key_id, staff_index, kek_id, wrapped, staff_id_sealed)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (staff_index) DO NOTHING",
        )
        .bind(fresh.key_id)
        .bind(index)
        .bind(kek.id())
        .bind(fresh.wrapped(&kek)?)
        .bind(fresh.sealed_staff_id(staff_id)?)
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
        let kek = self.kek()?;
        let mut indexes = Vec::with_capacity(staff_ids.len());
        for staff_id in staff_ids {
            indexes.push(self.blind(staff_id).await?);
        }
        let offered: Vec<DataKey> = staff_ids.iter().map(|_| DataKey::generate()).collect();
        let wrapped = offered
            .iter()
            .map(|k| k.wrapped(&kek))
            .collect::<Result<Vec<_>, _>>()?;
        let sealed_ids = offered
            .iter()
            .zip(staff_ids)
            .map(|(k, id)| k.sealed_staff_id(id))
            .collect::<Result<Vec<_>, _>>()?;
        let rows: Vec<(Vec<u8>, Uuid, String, Vec<u8>)> = sqlx::query_as(
            "WITH taken AS (
                 INSERT INTO member_data_keys (key_id, staff_index, kek_id, wrapped, staff_id_sealed)
                 SELECT key_id, staff_index, $3, wrapped, sealed
                   FROM UNNEST($1::uuid[], $2::bytea[], $4::bytea[], $5::bytea[])
                        AS offer(key_id, staff_index, wrapped, sealed)
                 ON CONFLICT (staff_index) DO NOTHING
                 RETURNING staff_index, key_id, kek_id, wrapped)
             SELECT staff_index, key_id, kek_id, wrapped FROM taken
             UNION ALL
             SELECT staff_index, key_id, kek_id, wrapped FROM member_data_keys
              WHERE staff_index = ANY($2)",
        )
        .bind(offered.iter().map(|k| k.key_id).collect::<Vec<_>>())
        .bind(&indexes)
        .bind(kek.id())
        .bind(wrapped)
        .bind(sealed_ids)
        .fetch_all(&mut *self.db)
        .await?;
        let by_index: HashMap<&[u8], &String> =
            indexes.iter().map(Vec::as_slice).zip(staff_ids).collect();
        let mut keys = HashMap::new();
        for (index, id, kek_id, wrapped) in rows {
            let staff_id = by_index
                .get(index.as_slice())
                .ok_or(PrivacyError::Malformed("a key came back for nobody asked"))?;
            keys.insert(
                (*staff_id).clone(),
                DataKey::unwrapped(&kek, id, &kek_id, &wrapped)?,
            );
        }
        let missing: Vec<String> = staff_ids
            .iter()
            .filter(|id| !keys.contains_key(*id))
            .cloned()
            .collect();
        if missing.is_empty() {
            return Ok(keys);
        }
        for staff_id in &missing {
            if let Some(key) = self.find_live(staff_id).await? {
                keys.insert(staff_id.clone(), key);
            }
        }
        match missing.iter().find(|id| !keys.contains_key(*id)) {
            Some(_) => Err(PrivacyError::Malformed(
                "a member's key vanished as it was created",
            )),
            None => Ok(keys),
        }
    }

    /// The id of the member's live key, if they have one.
    pub async fn live_key_id(&mut self, staff_id: &str) -> Result<Option<Uuid>, PrivacyError> {
        Ok(self.find_live(staff_id).await?.map(|k| k.key_id))
    }

    async fn find_live(&mut self, staff_id: &str) -> Result<Option<DataKey>, PrivacyError> {
        let kek = self.kek()?;
        let index = self.blind(staff_id).await?;
        let row: Option<Row> = sqlx::query_as(
            "SELECT key_id, kek_id, wrapped FROM member_data_keys WHERE staff_index = $1",
        )
        .bind(index)
        .fetch_optional(&mut *self.db)
        .await?;
        row.map(|(id, kek_id, wrapped)| DataKey::unwrapped(&kek, id, &kek_id, &wrapped))
            .transpose()
    }

    /// The keys with these ids that still exist, in one query.
    pub async fn ring(&mut self, key_ids: &[Uuid]) -> Result<KeyRing, PrivacyError> {
        let mut ring = KeyRing::default();
        if key_ids.is_empty() {
            return Ok(ring);
        }
        let kek = self.kek()?;
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT key_id, kek_id, wrapped FROM member_data_keys WHERE key_id = ANY($1)",
        )
        .bind(key_ids)
        .fetch_all(&mut *self.db)
        .await?;
        for (id, kek_id, wrapped) in rows {
            ring.insert(DataKey::unwrapped(&kek, id, &kek_id, &wrapped)?);
        }
        Ok(ring)
    }

    /// The staff ids of members whose key was made at or before `made_by`, oldest first: the
    /// retention purge's candidates (a key is made before anything personal of the member is
    /// recorded). Only the service, holding the KEK, can tell whose keys these are.
    pub async fn members_with_keys_made_by(
        &mut self,
        made_by: DateTime<Utc>,
    ) -> Result<Vec<String>, PrivacyError> {
        let kek = self.kek()?;
        let rows: Vec<(Uuid, String, Vec<u8>, Vec<u8>)> = sqlx::query_as(
            "SELECT key_id, kek_id, wrapped, staff_id_sealed FROM member_data_keys
              WHERE created_at <= $1 ORDER BY created_at, key_id",
        )
        .bind(made_by)
        .fetch_all(&mut *self.db)
        .await?;
        rows.into_iter()
            .map(|(id, kek_id, wrapped, sealed)| {
                DataKey::unwrapped(&kek, id, &kek_id, &wrapped)?.open_staff_id(&sealed)
            })
            .collect()
    }

    /// Records that these keys seal something in the caller's transaction (so it counts only
    /// if that commits). Moved at most once a day: the purge allows the day. Rows are taken
    /// in key id order, so two transactions sealing for the same members cannot deadlock.
    pub async fn record_sealing(&mut self, key_ids: &[Uuid]) -> Result<(), PrivacyError> {
        let mut ids = key_ids.to_vec();
        ids.sort_unstable();
        ids.dedup();
        if ids.is_empty() {
            return Ok(());
        }
        sqlx::query(
            "INSERT INTO member_key_sealings (key_id, last_sealed_at)
             SELECT key_id, now() FROM UNNEST($1::uuid[]) WITH ORDINALITY AS s(key_id, n)
              ORDER BY n
                 ON CONFLICT (key_id) DO UPDATE SET last_sealed_at = excluded.last_sealed_at
              WHERE member_key_sealings.last_sealed_at < excluded.last_sealed_at - interval '1 day'",
        )
        .bind(&ids)
        .execute(&mut *self.db)
        .await?;
        Ok(())
    }

    /// When the key last sealed something, to the day (its making, if it never did); `None`
    /// for a key that does not exist.
    pub async fn last_sealed(
        &mut self,
        key_id: Uuid,
    ) -> Result<Option<DateTime<Utc>>, PrivacyError> {
        Ok(sqlx::query_scalar(
            "SELECT coalesce(s.last_sealed_at, k.created_at)
               FROM member_data_keys k LEFT JOIN member_key_sealings s USING (key_id)
              WHERE k.key_id = $1",
        )
        .bind(key_id)
        .fetch_optional(&mut *self.db)
        .await?)
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
