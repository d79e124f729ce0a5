//! The key store's upkeep: the check at start, moving keys to a new key-encryption key, and
//! wrapping the keys stored before keys were wrapped. Rewrapping and wrapping change rows the
//! runtime role may not change: their callers run them as the owner.

use uuid::Uuid;

use sqlx::PgConnection;

use crate::keys::{index_key, IndexKey, INDEX_KEY_LABEL};
use crate::{DataKey, KeyEncryptionKey, PrivacyError};

/// Refuses a store that `kek` cannot read whole: a key (or the index key) wrapped under
/// another KEK (other than the previous KEK of an overlap, [`KeyEncryptionKey::previous`]),
/// or a key stored before wrapping was. Run at start, before anything is served.
pub async fn check_store(
    db: &mut PgConnection,
    kek: &KeyEncryptionKey,
) -> Result<(), PrivacyError> {
    let mut readable = vec![kek.id().to_owned()];
    readable.extend(KeyEncryptionKey::previous().map(|p| p.id().to_owned()));
    let unwrapped: i64 = sqlx::query_scalar("SELECT count(*) FROM member_data_keys_unwrapped")
        .fetch_one(&mut *db)
        .await?;
    if unwrapped > 0 {
        return Err(PrivacyError::UnwrappedKeysRemain(unwrapped));
    }
    let other: Option<String> = sqlx::query_scalar(
        "SELECT kek_id FROM member_index_key WHERE kek_id <> ALL($1)
         UNION ALL
         (SELECT kek_id FROM member_data_keys WHERE kek_id <> ALL($1) LIMIT 1)
         LIMIT 1",
    )
    .bind(&readable)
    .fetch_optional(&mut *db)
    .await?;
    match other {
        Some(stored) => Err(PrivacyError::UnknownKeyEncryptionKey {
            stored,
            configured: kek.id().to_owned(),
        }),
        // The index key too must open: a KEK of the same id that is not the same key is
        // refused here rather than at the first member.
        None => index_key(db, kek).await.map(drop),
    }
}

/// How many keys (the index key included) are not yet under `kek`.
pub async fn under_other_keks(
    db: &mut PgConnection,
    kek: &KeyEncryptionKey,
) -> Result<i64, PrivacyError> {
    Ok(sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM member_data_keys WHERE kek_id <> $1)
              + (SELECT count(*) FROM member_index_key WHERE kek_id <> $1)",
    )
    .bind(kek.id())
    .fetch_one(db)
    .await?)
}

/// Moves up to `batch` keys from `from` to `to`, in the caller's transaction, and the index
/// key with the first batch; returns how many moved (0: none is left under `from`). A key
/// already under `to` is not touched, so a rewrap killed half-way resumes where it stopped.
/// A key under a third KEK is refused: it cannot be read with `from`.
pub async fn rewrap_batch(
    tx: &mut PgConnection,
    from: &KeyEncryptionKey,
    to: &KeyEncryptionKey,
    batch: i64,
) -> Result<u64, PrivacyError> {
    let mut moved = 0;
    let index: Option<(String, Vec<u8>)> = sqlx::query_as(
        "SELECT kek_id, wrapped FROM member_index_key WHERE kek_id <> $1 FOR UPDATE",
    )
    .bind(to.id())
    .fetch_optional(&mut *tx)
    .await?;
    if let Some((kek_id, wrapped)) = index {
        let key = IndexKey::from_bytes(&from.unwrap(&kek_id, INDEX_KEY_LABEL, &wrapped)?)?;
        sqlx::query("UPDATE member_index_key SET kek_id = $1, wrapped = $2")
            .bind(to.id())
            .bind(to.wrap(INDEX_KEY_LABEL, key.bytes())?)
            .execute(&mut *tx)
            .await?;
        moved += 1;
    }
    let rows: Vec<(Uuid, String, Vec<u8>)> = sqlx::query_as(
        "SELECT key_id, kek_id, wrapped FROM member_data_keys
          WHERE kek_id <> $1 ORDER BY key_id LIMIT $2 FOR UPDATE",
    )
    .bind(to.id())
    .bind(batch)
    .fetch_all(&mut *tx)
    .await?;
    if rows.is_empty() {
        return Ok(moved);
    }
    let mut ids = Vec::with_capacity(rows.len());
    let mut rewrapped = Vec::with_capacity(rows.len());
    for (id, kek_id, wrapped) in rows {
        let key = DataKey::unwrapped(from, id, &kek_id, &wrapped)?;
        ids.push(id);
        rewrapped.push(key.wrapped(to)?);
    }
    let updated = sqlx::query(
        "UPDATE member_data_keys SET kek_id = $1, wrapped = moved.wrapped
           FROM UNNEST($2::uuid[], $3::bytea[]) AS moved(key_id, wrapped)
          WHERE member_data_keys.key_id = moved.key_id",
    )
    .bind(to.id())
    .bind(&ids)
    .bind(&rewrapped)
    .execute(&mut *tx)
    .await?;
    Ok(moved + updated.rows_affected())
}

/// Wraps up to `batch` of the keys stored before keys were wrapped (kept aside, plain, in
/// `member_data_keys_unwrapped` by the migration that brought wrapping) under `kek`, moving
/// them into `member_data_keys` with a blind index in place of the staff id, in the caller's
/// transaction; returns how many moved (0: none is left).
pub async fn wrap_unwrapped_batch(
    tx: &mut PgConnection,
    kek: &KeyEncryptionKey,
    batch: i64,
) -> Result<u64, PrivacyError> {
    #[allow(clippy::type_complexity)]
    let rows: Vec<(Uuid, String, Vec<u8>, chrono::DateTime<chrono::Utc>)> = sqlx::query_as(
        "SELECT key_id, staff_id, key, created_at FROM member_data_keys_unwrapped
          ORDER BY key_id LIMIT $1 FOR UPDATE",
    )
    .bind(batch)
    .fetch_all(&mut *tx)
    .await?;
    if rows.is_empty() {
        return Ok(0);
    }
    let index = index_key(tx, kek).await?;
    let (mut ids, mut indexes, mut wrapped, mut sealed, mut made) =
        (vec![], vec![], vec![], vec![], vec![]);
    for (id, staff_id, bytes, created_at) in rows {
        let key = DataKey::from_row(id, &bytes)?;
        ids.push(id);
        indexes.push(index.blind(&staff_id));
        wrapped.push(key.wrapped(kek)?);
        sealed.push(key.sealed_staff_id(&staff_id)?);
        made.push(created_at);
    }
    sqlx::query(
        "INSERT INTO member_data_keys
                (key_id, staff_index, kek_id, wrapped, staff_id_sealed, created_at)
         SELECT key_id, staff_index, $3, wrapped, sealed, created_at
           FROM UNNEST($1::uuid[], $2::bytea[], $4::bytea[], $5::bytea[], $6::timestamptz[])
                AS plain(key_id, staff_index, wrapped, sealed, created_at)",
    )
    .bind(&ids)
    .bind(&indexes)
    .bind(kek.id())
    .bind(&wrapped)
    .bind(&sealed)
    .bind(&made)
    .execute(&mut *tx)
    .await?;
    let deleted = sqlx::query("DELETE FROM member_data_keys_unwrapped WHERE key_id = ANY($1)")
        .bind(&ids)
        .execute(&mut *tx)
        .await?;
    Ok(deleted.rows_affected())
}
