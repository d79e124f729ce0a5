//! The access audit's hash chain (migration `access_audit_chain`): each entry carries the
//! SHA-256 of the entry before it and of itself, so an entry altered, removed or put in out of
//! place breaks the chain there.
//!
//! Walking a long chain costs a read of every entry, so it is not done per request: the whole
//! chain is walked by the service at start and every six hours, and by
//! `peer-outreach access-audit verify`; `GET /v1/access-audit` checks only what is new since the
//! newest entry found intact (after checking that this entry still has the hash it had), at
//! most [`PER_REQUEST`] entries, and reports the last whole walk with it. An entry altered
//! behind that point is found by the next whole walk.
//!
//! Each entry's text is computed here with this module's own copy of the expression (not with
//! the database's `access_audit_entry_text`), and hashed in this process: a function changed in
//! the database changes nothing the verifier relies on.

use chrono::{DateTime, Utc};
use ring::digest::{Context, SHA256};
use serde::Serialize;
use sqlx::PgPool;
use utoipa::ToSchema;

/// What the first entry follows.
const GENESIS: [u8; 32] = [0; 32];

/// An entry's text, as the chain's trigger hashes it.
const ENTRY_TEXT: &str = "jsonb_build_array(entry_id,
    (extract(epoch FROM read_at) * 1000000)::bigint, subject, reader_staff_id, reader_roles,
    reader_relation, endpoint, case_id, member_id)::text";

/// Entries read per query while walking.
const PAGE: i64 = 2000;

/// At most this many new entries are checked by one request to the audit; the next request
/// goes on from there.
pub const PER_REQUEST: u64 = 10_000;

/// An entry whose hash or link does not hold: the first place the chain is broken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Break {
    pub entry_id: i64,
    /// What is wrong with it, in words.
    pub reason: String,
}

impl std::fmt::Display for Break {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "entry {}: {}", self.entry_id, self.reason)
    }
}

/// An entry found chained intact.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Link {
    entry_id: i64,
    hash: Vec<u8>,
}

/// How far a walk got.
#[derive(Debug)]
struct Walked {
    /// The last entry found intact; none if the chain is empty (or the walk started nowhere).
    through: Option<Link>,
    entries: u64,
    /// Whether it stopped at its limit with entries left to check.
    more: bool,
}

#[derive(sqlx::FromRow)]
struct Entry {
    entry_id: i64,
    previous_hash: Vec<u8>,
    entry_hash: Vec<u8>,
    text: String,
}

impl Entry {
    /// Whether it follows `previous` (the chain's start when none) and its hash is its own.
    fn check(&self, previous: Option<&Link>) -> Result<(), Break> {
        let broken = |reason: String| Break {
            entry_id: self.entry_id,
            reason,
        };
        let expected = previous.map_or(GENESIS.as_slice(), |p| p.hash.as_slice());
        if self.previous_hash != expected {
            return Err(broken(match previous {
                None => "it does not start the chain: the entries before it were removed, or it \
                         was put in out of place"
                    .to_owned(),
                Some(p) if self.entry_id > p.entry_id + 1 => format!(
                    "it does not follow entry {}: the entries between them were removed, or it \
                     was put in out of place",
                    p.entry_id
                ),
                Some(p) => format!(
                    "it does not follow entry {0}: it was put in out of place, or entry {0} was \
                     altered and given a new hash",
                    p.entry_id
                ),
            }));
        }
        if self.hash() != self.entry_hash {
            return Err(broken(
                "its content does not match its hash: it was altered, or its hash was forged"
                    .to_owned(),
            ));
        }
        Ok(())
    }

    /// SHA-256(previous hash || text), as the trigger computes it.
    fn hash(&self) -> Vec<u8> {
        let mut context = Context::new(&SHA256);
        context.update(&self.previous_hash);
        context.update(self.text.as_bytes());
        context.finish().as_ref().to_vec()
    }

    fn link(&self) -> Link {
        Link {
            entry_id: self.entry_id,
            hash: self.entry_hash.clone(),
        }
    }
}

/// Walks the chain from just after `from` (an entry found intact before; the start when none),
/// at most `limit` entries.
async fn walk(
    pool: &PgPool,
    from: Option<Link>,
    limit: u64,
) -> Result<Result<Walked, Break>, sqlx::Error> {
    let query = format!(
        "SELECT entry_id, previous_hash, entry_hash, {ENTRY_TEXT} AS text
           FROM access_audit WHERE entry_id > $1 ORDER BY entry_id LIMIT $2"
    );
    let mut walked = Walked {
        through: from,
        entries: 0,
        more: false,
    };
    loop {
        let after = walked.through.as_ref().map_or(0, |link| link.entry_id);
        let page: Vec<Entry> = sqlx::query_as(&query)
            .bind(after)
            .bind(PAGE)
            .fetch_all(pool)
            .await?;
        let full = page.len() as i64 == PAGE;
        for entry in page {
            if walked.entries == limit {
                walked.more = true;
                return Ok(Ok(walked));
            }
            if let Err(broken) = entry.check(walked.through.as_ref()) {
                return Ok(Err(broken));
            }
            walked.through = Some(entry.link());
            walked.entries += 1;
        }
        if !full {
            return Ok(Ok(walked));
        }
    }
}

/// Whether the entry found intact before is still there, with the hash it had and content that
/// matches it.
async fn still_intact(pool: &PgPool, link: &Link) -> Result<Result<(), Break>, sqlx::Error> {
    let entry: Option<Entry> = sqlx::query_as(&format!(
        "SELECT entry_id, previous_hash, entry_hash, {ENTRY_TEXT} AS text
           FROM access_audit WHERE entry_id = $1"
    ))
    .bind(link.entry_id)
    .fetch_optional(pool)
    .await?;
    let broken = |reason: &str| {
        Err(Break {
            entry_id: link.entry_id,
            reason: reason.to_owned(),
        })
    };
    Ok(match entry {
        None => broken("it was found intact before, and has been removed"),
        Some(entry) if entry.entry_hash != link.hash => {
            broken("its hash has changed since it was found intact")
        }
        Some(entry) if entry.hash() != entry.entry_hash => {
            broken("its content does not match its hash: it was altered after it was found intact")
        }
        Some(_) => Ok(()),
    })
}

/// What the audit's reader is told of the chain.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ChainStatus {
    /// No break found, by this request or by the last whole walk.
    pub intact: bool,
    /// The newest entry found chained intact (null: none yet).
    #[schema(required = true)]
    pub verified_through: Option<i64>,
    /// Newer entries are left for the next request to check (at most 10,000 a request).
    pub more_to_check: bool,
    /// When the whole chain was last walked (null: never yet).
    #[schema(required = true)]
    pub last_full_walk_at: Option<DateTime<Utc>>,
    /// The first break found, if any.
    #[schema(required = true)]
    pub first_break: Option<Break>,
}

#[derive(sqlx::FromRow, Default)]
struct Verified {
    entry_id: Option<i64>,
    entry_hash: Option<Vec<u8>>,
    full_walk_at: Option<DateTime<Utc>>,
    broken_entry_id: Option<i64>,
    break_reason: Option<String>,
}

async fn verified(pool: &PgPool) -> Result<Verified, sqlx::Error> {
    Ok(sqlx::query_as(
        "SELECT entry_id, entry_hash, full_walk_at, broken_entry_id, break_reason
           FROM access_audit_verified",
    )
    .fetch_optional(pool)
    .await?
    .unwrap_or_default())
}

/// Records `link` as the newest entry found intact, unless a newer one is recorded already.
async fn advance(pool: &PgPool, link: &Link) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO access_audit_verified (entry_id, entry_hash, verified_at)
         VALUES ($1, $2, now())
         ON CONFLICT (singleton) DO UPDATE
            SET entry_id = excluded.entry_id, entry_hash = excluded.entry_hash,
                verified_at = excluded.verified_at
          WHERE access_audit_verified.entry_id IS NULL
             OR access_audit_verified.entry_id < excluded.entry_id",
    )
    .bind(link.entry_id)
    .bind(&link.hash)
    .execute(pool)
    .await?;
    Ok(())
}

/// The chain as far as this request can tell: the last whole walk's finding, the entry found
/// intact before still as it was, and up to [`PER_REQUEST`] entries since.
pub(crate) async fn status(pool: &PgPool) -> Result<ChainStatus, sqlx::Error> {
    let known = verified(pool).await?;
    let mut status = ChainStatus {
        intact: true,
        verified_through: known.entry_id,
        more_to_check: false,
        last_full_walk_at: known.full_walk_at,
        first_break: known.broken_entry_id.map(|entry_id| Break {
            entry_id,
            reason: known.break_reason.clone().unwrap_or_default(),
        }),
    };
    let from = match (known.entry_id, known.entry_hash) {
        (Some(entry_id), Some(hash)) => Some(Link { entry_id, hash }),
        _ => None,
    };
    if let Some(from) = &from {
        if let Err(broken) = still_intact(pool, from).await? {
            status.first_break.get_or_insert(broken);
        }
    }
    if status.first_break.is_none() {
        match walk(pool, from, PER_REQUEST).await? {
            Ok(walked) => {
                if let Some(through) = &walked.through {
                    advance(pool, through).await?;
                }
                status.verified_through = walked.through.map(|link| link.entry_id);
                status.more_to_check = walked.more;
            }
            Err(broken) => status.first_break = Some(broken),
        }
    }
    status.intact = status.first_break.is_none();
    Ok(status)
}

/// What a whole walk found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WholeChain {
    /// Every entry is chained intact; the newest, if any, with its hash (hex), to keep outside
    /// the database: someone able to rewrite every entry after a point could make a chain that
    /// holds together, but not one that ends in this hash.
    Intact {
        entries: u64,
        head: Option<(i64, String)>,
    },
    Broken(Break),
}

/// Walks the whole chain from its first entry, and records what it found for the API to
/// report.
pub async fn verify_whole_chain(pool: &PgPool) -> Result<WholeChain, sqlx::Error> {
    let found = walk(pool, None, u64::MAX).await?;
    let (broken_entry_id, reason) = match &found {
        Ok(_) => (None, None),
        Err(broken) => (Some(broken.entry_id), Some(broken.reason.clone())),
    };
    sqlx::query(
        "INSERT INTO access_audit_verified (full_walk_at, broken_entry_id, break_reason)
         VALUES (now(), $1, $2)
         ON CONFLICT (singleton) DO UPDATE
            SET full_walk_at = excluded.full_walk_at,
                broken_entry_id = excluded.broken_entry_id,
                break_reason = excluded.break_reason",
    )
    .bind(broken_entry_id)
    .bind(reason)
    .execute(pool)
    .await?;
    Ok(match found {
        Ok(walked) => {
            if let Some(through) = &walked.through {
                advance(pool, through).await?;
            }
            WholeChain::Intact {
                entries: walked.entries,
                head: walked.through.map(|link| (link.entry_id, hex(&link.hash))),
            }
        }
        Err(broken) => WholeChain::Broken(broken),
    })
}

/// Chains every entry again, in id order, from the start: each entry's `previous_hash` and
/// `entry_hash` are computed as the chain's trigger would have, and the entries whose hashes
/// change are updated. For `peer-outreach privacy migrate`, which rewrites the ids entries
/// name and must leave a chain that verifies (it records the head it replaced in an entry of
/// its own, appended afterwards). In the caller's transaction, as the table's owner: the
/// append-only trigger is set aside for the transaction, and the table is locked against
/// writers until it commits. Returns the number of entries re-chained and the new head.
pub async fn rechain(
    db: &mut sqlx::PgConnection,
) -> Result<(u64, Option<(i64, String)>), sqlx::Error> {
    sqlx::query("LOCK TABLE access_audit IN EXCLUSIVE MODE")
        .execute(&mut *db)
        .await?;
    sqlx::query("ALTER TABLE access_audit DISABLE TRIGGER access_audit_no_change")
        .execute(&mut *db)
        .await?;
    let query = format!(
        "SELECT entry_id, previous_hash, entry_hash, {ENTRY_TEXT} AS text
           FROM access_audit WHERE entry_id > $1 ORDER BY entry_id LIMIT $2"
    );
    let (mut previous, mut after, mut changed) = (GENESIS.to_vec(), 0_i64, 0_u64);
    loop {
        let page: Vec<Entry> = sqlx::query_as(&query)
            .bind(after)
            .bind(PAGE)
            .fetch_all(&mut *db)
            .await?;
        let full = page.len() as i64 == PAGE;
        for mut entry in page {
            let stored_previous = std::mem::replace(&mut entry.previous_hash, previous);
            let hash = entry.hash();
            if hash != entry.entry_hash || stored_previous != entry.previous_hash {
                sqlx::query(
                    "UPDATE access_audit SET previous_hash = $2, entry_hash = $3
                      WHERE entry_id = $1",
                )
                .bind(entry.entry_id)
                .bind(&entry.previous_hash)
                .bind(&hash)
                .execute(&mut *db)
                .await?;
                changed += 1;
            }
            previous = hash;
            after = entry.entry_id;
        }
        if !full {
            break;
        }
    }
    sqlx::query("ALTER TABLE access_audit ENABLE TRIGGER access_audit_no_change")
        .execute(&mut *db)
        .await?;
    let head = (after > 0).then(|| (after, hex(&previous)));
    Ok((changed, head))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(entry_id: i64, previous: &[u8], text: &str) -> Entry {
        let mut entry = Entry {
            entry_id,
            previous_hash: previous.to_vec(),
            entry_hash: vec![],
            text: text.to_owned(),
        };
        entry.entry_hash = entry.hash();
        entry
    }

    #[test]
    fn each_kind_of_break_is_named_at_the_first_entry_it_shows_in() {
        let first = entry(1, &GENESIS, r#"[1, "a"]"#);
        let second = entry(2, &first.entry_hash, r#"[2, "b"]"#);
        let third = entry(3, &second.entry_hash, r#"[3, "c"]"#);
        assert_eq!(first.check(None), Ok(()));
        assert_eq!(second.check(Some(&first.link())), Ok(()));

        let mut altered = second;
        altered.text = r#"[2, "someone else"]"#.into();
        let error = altered.check(Some(&first.link())).unwrap_err();
        assert_eq!(error.entry_id, 2);
        assert!(error.reason.contains("altered"), "{error}");

        // The second entry removed: the third no longer follows the first.
        let error = third.check(Some(&first.link())).unwrap_err();
        assert_eq!(error.entry_id, 3);
        assert!(error.reason.contains("removed"), "{error}");

        let forged = Entry {
            entry_hash: vec![7; 32],
            ..entry(4, &third.entry_hash, r#"[4, "d"]"#)
        };
        let error = forged.check(Some(&third.link())).unwrap_err();
        assert!(error.reason.contains("forged"), "{error}");

        let error = third.check(None).unwrap_err();
        assert!(error.reason.contains("does not start the chain"), "{error}");
    }
}
