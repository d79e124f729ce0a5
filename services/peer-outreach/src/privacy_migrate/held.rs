//! Every other place an old id is held: found by the schema, not by a list.
//!
//! Old case and member ids are held in other events' payloads (a report's members, a member's
//! cases, merges, links), the outbox (its key and payload), parked report commands, and the
//! read models' keys and columns; tables are added as the service grows. So every column of
//! every table in the schema that can hold an id as text (uuid, text, varchar, json, jsonb, and
//! arrays of them) is searched, and each old id found in it is replaced by its new one. A read
//! model rewritten so reads as a rebuild from the renamed store would (its rows are keyed and
//! linked by these ids only), so no projection needs rebuilding. Left out: the event store's
//! aggregate ids (moved by [`super::rename`]), snapshots (deleted there: a cache of events),
//! the access audit (its hash chain: [`super::audit`]), and the migrations' own bookkeeping.
//!
//! Each batch reads every such column of every table once (no index finds an id inside a
//! payload), so a run costs about (old aggregates / batch) reads of the database: on a large
//! store, a larger `--batch` makes fewer, longer transactions.

use std::collections::HashMap;

use sqlx::PgConnection;

use super::rename::OLD_ID;

/// Tables and columns not searched here, and why: see the module's comment.
const LEFT_OUT: &[(&str, &str)] = &[
    ("events", "aggregate_id"),
    ("snapshots", "*"),
    ("access_audit", "*"),
    ("_sqlx_migrations", "*"),
    ("runtime_privileges", "*"),
    ("privacy_migrate_audit_rewrite", "*"),
];

/// Replaces each old id of `map` (old, new) wherever it is held; returns the rows rewritten.
pub(super) async fn rewrite(
    tx: &mut PgConnection,
    map: &[(String, String)],
) -> Result<u64, sqlx::Error> {
    let columns: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT c.relname::text, a.attname::text, format_type(a.atttypid, a.atttypmod)
           FROM pg_attribute a
           JOIN pg_class c ON c.oid = a.attrelid
           JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = current_schema() AND c.relkind = 'r'
            AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
            AND a.atttypid = ANY(ARRAY['uuid', 'text', 'varchar', 'json', 'jsonb', 'uuid[]',
                                       'text[]', 'varchar[]', 'json[]', 'jsonb[]']::regtype[])
          ORDER BY 1, 2",
    )
    .fetch_all(&mut *tx)
    .await?;
    let olds: Vec<&str> = map.iter().map(|(old, _)| old.as_str()).collect();
    let news: Vec<&str> = map.iter().map(|(_, new)| new.as_str()).collect();
    let by_old: HashMap<&str, &str> = olds.iter().copied().zip(news.iter().copied()).collect();
    let mut rewritten = 0;
    for (table, column, kind) in columns {
        if LEFT_OUT
            .iter()
            .any(|(t, c)| *t == table && (*c == "*" || *c == column))
        {
            continue;
        }
        let (t, c) = (quoted(&table), quoted(&column));
        if kind == "uuid" {
            rewritten += sqlx::query(&format!(
                "UPDATE {t} SET {c} = m.new_id::uuid
                   FROM UNNEST($1::text[], $2::text[]) AS m (old_id, new_id)
                  WHERE {t}.{c} = m.old_id::uuid"
            ))
            .bind(&olds)
            .bind(&news)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            continue;
        }
        let found: Vec<(String, String)> = sqlx::query_as(&format!(
            "SELECT ctid::text, {c}::text FROM {t}
              WHERE EXISTS (SELECT FROM regexp_matches({c}::text, $1, 'g') AS m
                             WHERE m[1] = ANY($2))
              FOR UPDATE"
        ))
        .bind(format!("({OLD_ID})"))
        .bind(&olds)
        .fetch_all(&mut *tx)
        .await?;
        for (place, text) in found {
            let mut text = text;
            for (old, new) in &by_old {
                if text.contains(old) {
                    text = text.replace(old, new);
                }
            }
            sqlx::query(&format!(
                "UPDATE {t} SET {c} = $1::text::{kind} WHERE ctid = $2::tid"
            ))
            .bind(&text)
            .bind(&place)
            .execute(&mut *tx)
            .await?;
            rewritten += 1;
        }
    }
    Ok(rewritten)
}

/// An identifier quoted for SQL.
fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}
