//! Parked report commands hold the names and contact details of the members they add: those
//! are sealed under each member's data key like the events' personal parts, so a purge leaves
//! nothing readable here either.

use std::collections::HashMap;

use outreach_domain::ReportCommand;
use outreach_events::ReportRef;
use outreach_privacy::{is_sealed, seal, DataKeys, PrivacyError};
use serde_json::Value;
use sqlx::{PgConnection, PgPool};

use crate::event_store::AppendError;
use crate::{privacy_unavailable, unavailable, CommandError};

/// Seals each named member's `contact` in a serialised `ReportCommand`, in place.
async fn seal_contacts(db: &mut PgConnection, command: &mut Value) -> Result<(), PrivacyError> {
    // Record names `members`, Amend names `added`; Withdraw names nobody.
    for (variant, list) in [("Record", "members"), ("Amend", "added")] {
        let Some(members) = command
            .get_mut(variant)
            .and_then(|v| v.get_mut(list))
            .and_then(Value::as_array_mut)
        else {
            continue;
        };
        for member in members {
            let Some(staff_id) = member["profile"]["staff_id"].as_str().map(str::to_owned) else {
                return Err(PrivacyError::Malformed("a parked member has no staff id"));
            };
            let Some(contact) = member.get_mut("contact") else {
                continue;
            };
            if contact.is_null() || is_sealed(contact) {
                continue;
            }
            let mut keys = DataKeys::on(db);
            keys.hold_for_sealing(&staff_id).await?;
            let key = keys.live_key(&staff_id).await?;
            keys.record_sealing(&[key.key_id()]).await?;
            *contact = seal(&key, contact)?;
        }
    }
    Ok(())
}

/// A command waiting for its report: stored (with its row id), or parked by the unit of work
/// that holds it and not stored yet.
#[derive(Debug, Clone)]
pub(crate) struct Parked {
    pub id: Option<i64>,
    pub command: ReportCommand,
}

/// What a unit of work knows of the commands waiting for one report.
#[derive(Debug, Clone, Default)]
pub(crate) struct ParkedState {
    /// In arrival order.
    pub waiting: Vec<Parked>,
    /// Stored commands this unit has applied (or found unreadable): deleted when it commits.
    pub taken: Vec<i64>,
}

/// The commands stored as waiting for these reports, contacts opened, in arrival order.
/// A command that no longer reads (a member purged while it waited reads with no contact, and
/// so not at all) is returned as taken: it is deleted with the rest, never applied.
pub(crate) async fn load(
    pool: &PgPool,
    reports: &[ReportRef],
) -> Result<HashMap<ReportRef, ParkedState>, CommandError> {
    let mut found: HashMap<ReportRef, ParkedState> = HashMap::new();
    if reports.is_empty() {
        return Ok(found);
    }
    let mut db = pool.acquire().await.map_err(unavailable)?;
    let mut rows: Vec<(i64, String, String, Value)> = sqlx::query_as(
        "SELECT p.id, p.report_source, p.report_id, p.command
           FROM parked_report_commands p
           JOIN UNNEST($1::text[], $2::text[]) AS r (report_source, report_id)
             ON (p.report_source, p.report_id) = (r.report_source, r.report_id)
          ORDER BY p.id",
    )
    .bind(reports.iter().map(|r| r.source.clone()).collect::<Vec<_>>())
    .bind(
        reports
            .iter()
            .map(|r| r.report_id.clone())
            .collect::<Vec<_>>(),
    )
    .fetch_all(&mut *db)
    .await
    .map_err(unavailable)?;
    outreach_privacy::open_all(&mut db, rows.iter_mut().map(|row| &mut row.3).collect())
        .await
        .map_err(privacy_unavailable)?;
    for (id, source, report_id, json) in rows {
        let state = found.entry(ReportRef { source, report_id }).or_default();
        match serde_json::from_value::<ReportCommand>(json) {
            Ok(command) => state.waiting.push(Parked {
                id: Some(id),
                command,
            }),
            Err(_) => {
                tracing::error!(id, "a parked report command no longer reads; dropped");
                state.taken.push(id);
            }
        }
    }
    Ok(found)
}

/// Stores commands that wait for their report, members' contacts sealed.
pub(crate) async fn store(
    tx: &mut PgConnection,
    commands: &[&ReportCommand],
) -> Result<(), AppendError> {
    for command in commands {
        let report = command.report();
        let mut json = serde_json::to_value(command)
            .map_err(|e| CommandError::Unavailable(format!("a command did not serialise: {e}")))?;
        seal_contacts(tx, &mut json)
            .await
            .map_err(privacy_unavailable)?;
        sqlx::query(
            "INSERT INTO parked_report_commands (report_source, report_id, command)
             VALUES ($1, $2, $3)",
        )
        .bind(&report.source)
        .bind(&report.report_id)
        .bind(json)
        .execute(&mut *tx)
        .await
        .map_err(unavailable)?;
        tracing::info!("a report command arrived before its report and waits for it");
    }
    Ok(())
}

/// Deletes applied parked commands. If one is gone already, another unit of work applied it
/// first: a conflict, so that this one's work is redone on fresh state rather than applying
/// the command twice.
pub(crate) async fn delete(tx: &mut PgConnection, ids: &[i64]) -> Result<(), AppendError> {
    if ids.is_empty() {
        return Ok(());
    }
    let deleted = sqlx::query("DELETE FROM parked_report_commands WHERE id = ANY($1)")
        .bind(ids)
        .execute(&mut *tx)
        .await
        .map_err(unavailable)?;
    if deleted.rows_affected() != ids.len() as u64 {
        return Err(AppendError::Conflict);
    }
    Ok(())
}
