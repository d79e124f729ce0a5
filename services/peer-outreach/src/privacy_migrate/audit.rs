//! The access audit's entries name cases and members by id, and are hash-chained: rewriting an
//! id breaks the chain at that entry. So the rewrite is itself put on the record:
//!
//! 1. [`begin`]: before anything is renamed, the whole chain is verified; a broken chain is
//!    refused (the command must not re-chain over someone else's tampering and so hide it). The
//!    head it had (entry id and hash) and its length are kept in `privacy_migrate_audit_rewrite`.
//! 2. Each batch rewrites the ids of its aggregates in the entries naming them
//!    ([`rewrite_entries`]), in the batch's transaction, the append-only trigger set aside for it.
//! 3. [`finish`]: in one transaction, the whole chain is re-chained
//!    (`outreach_api::audit_chain::rechain`), one entry is appended saying that `privacy migrate`
//!    rewrote it and naming the head it replaced, and the kept row goes. The API's record of the
//!    newest entry found intact is reset (its hash is the replaced one); a whole walk follows.
//!
//! Killed between 1 and 3, the kept row says a rewrite is under way: the rerun does not verify
//! (the command's own rewrites break the chain until 3) and completes it. Whoever keeps the old
//! head's hash outside the database finds it in the appended entry.

use anyhow::{bail, Context};
use outreach_api::audit_chain::{self, WholeChain};
use sqlx::{PgConnection, PgPool};

/// The endpoint the appended entry is recorded under (the audit's check allows it to name no
/// case and no member: migration `privacy_migrate_renames`).
const ENDPOINT: &str = "peer-outreach privacy migrate";

/// Whether a rewrite is under way, or was begun now.
pub async fn begin(owner: &PgPool, renames_left: bool) -> anyhow::Result<bool> {
    let under_way: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT FROM privacy_migrate_audit_rewrite)")
            .fetch_one(owner)
            .await?;
    if under_way || !renames_left {
        return Ok(under_way);
    }
    let (entries, head) = match audit_chain::verify_whole_chain(owner)
        .await
        .context("verifying the access audit's hash chain")?
    {
        WholeChain::Intact { entries, head } => (entries, head),
        WholeChain::Broken(broken) => bail!(
            "the access audit does not verify ({broken}): privacy migrate rewrites the ids its \
             entries name and re-chains it, which would hide that break, so it stops before \
             renaming anything. Find out who changed the audit; `peer-outreach access-audit \
             verify` names the entry"
        ),
    };
    sqlx::query(
        "INSERT INTO privacy_migrate_audit_rewrite (old_entries, old_head_id, old_head_hash)
         VALUES ($1, $2, $3)",
    )
    .bind(entries as i64)
    .bind(head.as_ref().map(|(id, _)| *id))
    .bind(head.as_ref().map(|(_, hash)| hash.as_str()))
    .execute(owner)
    .await?;
    Ok(true)
}

/// Rewrites the case and member ids of `map` (old, new) in the entries naming them.
pub(super) async fn rewrite_entries(
    tx: &mut PgConnection,
    map: &[(String, String)],
) -> Result<u64, sqlx::Error> {
    let olds: Vec<&str> = map.iter().map(|(old, _)| old.as_str()).collect();
    let news: Vec<&str> = map.iter().map(|(_, new)| new.as_str()).collect();
    let naming: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM access_audit
          WHERE case_id = ANY($1::text[]::uuid[]) OR member_id = ANY($1::text[]::uuid[])",
    )
    .bind(&olds)
    .fetch_one(&mut *tx)
    .await?;
    if naming == 0 {
        return Ok(0);
    }
    sqlx::query("ALTER TABLE access_audit DISABLE TRIGGER access_audit_no_change")
        .execute(&mut *tx)
        .await?;
    for column in ["case_id", "member_id"] {
        sqlx::query(&format!(
            "UPDATE access_audit a SET {column} = m.new_id::uuid
               FROM UNNEST($1::text[], $2::text[]) AS m (old_id, new_id)
              WHERE a.{column} = m.old_id::uuid"
        ))
        .bind(&olds)
        .bind(&news)
        .execute(&mut *tx)
        .await?;
    }
    sqlx::query("ALTER TABLE access_audit ENABLE TRIGGER access_audit_no_change")
        .execute(&mut *tx)
        .await?;
    Ok(naming as u64)
}

/// The audit's rewrite, completed.
#[derive(Debug)]
pub struct Rechained {
    pub entries_rechained: u64,
    /// The appended entry's id.
    pub record: i64,
}

/// Re-chains the audit and appends the entry recording the rewrite, if one is under way.
pub async fn finish(owner: &PgPool) -> anyhow::Result<Option<Rechained>> {
    let mut tx = owner.begin().await?;
    let kept: Option<(i64, Option<i64>, Option<String>)> = sqlx::query_as(
        "SELECT old_entries, old_head_id, old_head_hash FROM privacy_migrate_audit_rewrite
            FOR UPDATE",
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some((old_entries, old_head_id, old_head_hash)) = kept else {
        return Ok(None);
    };
    let (entries_rechained, _) = audit_chain::rechain(&mut tx).await?;
    let before = match (old_head_id, old_head_hash) {
        (Some(id), Some(hash)) => format!("entry {id}, hash {hash}"),
        _ => "none (the audit was empty)".to_owned(),
    };
    let record: i64 = sqlx::query_scalar(
        "INSERT INTO access_audit (subject, reader_roles, endpoint)
         VALUES ('peer-outreach privacy migrate, as ' || current_user, '{}', $1)
         RETURNING entry_id",
    )
    .bind(format!(
        "{ENDPOINT}: rewrote the case and member ids stored before issue 27 in the entries \
         naming them, and re-chained the audit ({entries_rechained} entries got new hashes); \
         the chain verified before the rewrite, {old_entries} entries, its head {before}"
    ))
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM privacy_migrate_audit_rewrite")
        .execute(&mut *tx)
        .await?;
    // The newest entry found intact was recorded with the hash it had before.
    sqlx::query("UPDATE access_audit_verified SET entry_id = NULL, entry_hash = NULL")
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    match audit_chain::verify_whole_chain(owner).await? {
        WholeChain::Intact { .. } => {}
        WholeChain::Broken(broken) => {
            bail!("the access audit does not verify after its re-chaining: {broken}")
        }
    }
    Ok(Some(Rechained {
        entries_rechained,
        record,
    }))
}
