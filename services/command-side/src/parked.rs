//! Parked report commands hold everything about the members they name: who each added member
//! is (their profile: staff id, role, department, discipline, seniority, involvement), their
//! name and contact details, whether they were eligible, and the staff ids of the members they
//! remove. Each of those is sealed under that member's data key like the events' personal
//! parts (intake makes the key before the report is decided), so a parked row names nobody in
//! the clear, and a member purged while the command waits leaves nothing readable here.

use std::collections::HashMap;

use outreach_domain::ReportCommand;
use outreach_events::ReportRef;
use outreach_privacy::{is_sealed, seal, DataKeys, PrivacyError};
use serde_json::Value;
use sqlx::{PgConnection, PgPool};

use crate::event_store::AppendError;
use crate::{privacy_unavailable, unavailable, CommandError};

/// Where a serialised `ReportCommand` lists the members it names with their profiles:
/// Record names `members`, Amend names `added`; Withdraw names nobody.
const NAMED: [(&str, &str); 2] = [("Record", "members"), ("Amend", "added")];
/// The parts of a named member that are about them (the case id is the command side's, and
/// absent while the command waits).
const MEMBER_PARTS: [&str; 3] = ["profile", "contact", "eligible"];

fn named_members(command: &mut Value) -> impl Iterator<Item = &mut Value> {
    let command = command.as_object_mut();
    command
        .into_iter()
        .flat_map(|c| c.iter_mut())
        .filter_map(|(variant, body)| {
            let (_, list) = NAMED.iter().find(|(v, _)| v == variant)?;
            body.get_mut(*list).and_then(Value::as_array_mut)
        })
        .flatten()
}

fn removed_staff(command: &mut Value) -> impl Iterator<Item = &mut Value> {
    command
        .get_mut("Amend")
        .and_then(|amend| amend.get_mut("removed"))
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
}

/// Seals, in place in a serialised `ReportCommand`, each named member's profile, contact and
/// eligibility, and each removed staff id, under that member's key.
async fn seal_members(db: &mut PgConnection, command: &mut Value) -> Result<(), PrivacyError> {
    let mut staff_ids = Vec::new();
    for member in named_members(command) {
        let Some(staff_id) = member["profile"]["staff_id"].as_str() else {
            return Err(PrivacyError::Malformed("a parked member has no staff id"));
        };
        staff_ids.push(staff_id.to_owned());
    }
    for removed in removed_staff(command) {
        let Some(staff_id) = removed.as_str() else {
            return Err(PrivacyError::Malformed(
                "a parked removal names no staff id",
            ));
        };
        staff_ids.push(staff_id.to_owned());
    }
    if staff_ids.is_empty() {
        return Ok(());
    }
    staff_ids.sort_unstable();
    staff_ids.dedup();
    let mut keys = DataKeys::on(db);
    keys.hold_all_for_sealing(&staff_ids).await?;
    let live = keys.live_keys(&staff_ids).await?;
    let used: Vec<uuid::Uuid> = live.values().map(|key| key.key_id()).collect();
    keys.record_sealing(&used).await?;
    let key_of = |staff_id: &str| {
        live.get(staff_id)
            .ok_or(PrivacyError::Malformed("a parked member has no key"))
    };
    for member in named_members(command) {
        let key = key_of(member["profile"]["staff_id"].as_str().unwrap_or_default())?;
        for part in MEMBER_PARTS {
            if let Some(value) = member
                .get_mut(part)
                .filter(|v| !v.is_null() && !is_sealed(v))
            {
                *value = seal(key, value)?;
            }
        }
    }
    for removed in removed_staff(command) {
        let key = key_of(removed.as_str().unwrap_or_default())?;
        *removed = seal(key, removed)?;
    }
    Ok(())
}

/// Leaves out, in a serialised `ReportCommand` opened, what names a member whose key was
/// destroyed while it waited (their parts open to `null`): that member's addition or removal
/// goes, the rest of the command stays.
fn forget_purged(command: &mut Value) {
    let purged = |member: &Value| {
        MEMBER_PARTS
            .iter()
            .any(|part| member.get(part).is_none_or(Value::is_null))
    };
    if let Some(body) = command.as_object_mut() {
        for (variant, list) in NAMED {
            if let Some(members) = body
                .get_mut(variant)
                .and_then(|b| b.get_mut(list))
                .and_then(Value::as_array_mut)
            {
                members.retain(|member| !purged(member));
            }
        }
    }
    if let Some(removed) = command
        .get_mut("Amend")
        .and_then(|amend| amend.get_mut("removed"))
        .and_then(Value::as_array_mut)
    {
        removed.retain(|staff_id| !staff_id.is_null());
    }
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

/// The commands stored as waiting for these reports, members opened, in arrival order. A
/// member purged while the command waited is left out of it (nothing of theirs reads any
/// more); a command that does not read at all is returned as taken: it is deleted with the
/// rest, never applied.
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
    for (id, source, report_id, mut json) in rows {
        forget_purged(&mut json);
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

/// Stores commands that wait for their report, what they say of each member sealed.
pub(crate) async fn store(
    tx: &mut PgConnection,
    commands: &[&ReportCommand],
) -> Result<(), AppendError> {
    for command in commands {
        let report = command.report();
        let mut json = serde_json::to_value(command)
            .map_err(|e| CommandError::Unavailable(format!("a command did not serialise: {e}")))?;
        seal_members(tx, &mut json)
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
