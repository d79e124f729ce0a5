//! Writing back what a batch changed, one statement per table and kind of change.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use super::{Matching, MatchingCase, MatchingReport, RosterSupporter};
use crate::ProjectionError;

/// Writes what the batch changed, one statement per table and kind of change.
pub(super) async fn changes(
    db: &mut PgConnection,
    loaded: &Matching,
    now: &Matching,
) -> Result<(), ProjectionError> {
    // A case or report this batch stores first has no rows in the set tables yet: they are
    // written only after its opening or recording, which comes first in its aggregate's order.
    // Its rows go in as they are; only the others are looked for first.
    let (new, changed) = crate::new_and_changed(&loaded.cases, &now.cases);
    let opened: HashSet<Uuid> = new.iter().map(|c| c.case_id).collect();
    write_cases(db, &new, false).await?;
    write_cases(db, &changed, true).await?;
    let (fresh, others): (Vec<_>, Vec<_>) =
        now.case_reports.iter().partition(|r| opened.contains(&r.0));
    write_case_reports(db, &fresh, SetRows::New).await?;
    write_case_reports(db, &others, SetRows::MaybeHeld).await?;
    let (new, changed) = crate::new_and_changed(&loaded.reports, &now.reports);
    let recorded: HashSet<(&str, &str)> = new
        .iter()
        .map(|r| (r.report_source.as_str(), r.report_id.as_str()))
        .collect();
    write_reports(db, &new, false).await?;
    write_reports(db, &changed, true).await?;
    write_report_staff(db, &now.report_staff, &now.report_staff_cases, &recorded).await?;
    write_preferences(db, &now.preferences).await?;
    let (new, changed) = crate::new_and_changed(&loaded.supporters, &now.supporters);
    write_supporters(db, &new, false).await?;
    write_supporters(db, &changed, true).await?;
    write_caseloads(db, &loaded.caseloads, &now.caseloads).await?;
    forget_cases(db, &now.purged).await
}

/// Deletes the rows of the cases of purged members, and the rows naming them on reports.
async fn forget_cases(
    db: &mut PgConnection,
    cases: &BTreeSet<Uuid>,
) -> Result<(), ProjectionError> {
    if cases.is_empty() {
        return Ok(());
    }
    let cases: Vec<Uuid> = cases.iter().copied().collect();
    sqlx::query("DELETE FROM matching_report_staff WHERE case_id = ANY($1)")
        .bind(&cases)
        .execute(&mut *db)
        .await?;
    sqlx::query("DELETE FROM matching_case_reports WHERE case_id = ANY($1)")
        .bind(&cases)
        .execute(&mut *db)
        .await?;
    sqlx::query("DELETE FROM matching_cases WHERE case_id = ANY($1)")
        .bind(&cases)
        .execute(db)
        .await?;
    Ok(())
}

/// What a row replaces its stored self with.
const REPLACE_CASE: &str = "ON CONFLICT (case_id) DO UPDATE SET
     member_staff_id = excluded.member_staff_id, campus = excluded.campus,
     department = excluded.department, discipline = excluded.discipline,
     seniority = excluded.seniority, role = excluded.role,
     involvement = excluded.involvement, first_contact_due = excluded.first_contact_due,
     opened_at = excluded.opened_at, supporter_id = excluded.supporter_id,
     assigned_at = excluded.assigned_at, ended_at = excluded.ended_at,
     version = excluded.version";

async fn write_cases(
    db: &mut PgConnection,
    rows: &[&MatchingCase],
    replacing: bool,
) -> Result<(), ProjectionError> {
    if rows.is_empty() {
        return Ok(());
    }
    let text = |f: fn(&MatchingCase) -> &str| rows.iter().map(|r| f(r)).collect::<Vec<_>>();
    let maybe =
        |f: fn(&MatchingCase) -> Option<&str>| rows.iter().map(|r| f(r)).collect::<Vec<_>>();
    let time = |f: fn(&MatchingCase) -> Option<DateTime<Utc>>| {
        rows.iter().map(|r| f(r)).collect::<Vec<_>>()
    };
    let on_conflict = if replacing { REPLACE_CASE } else { "" };
    sqlx::query(&format!(
        "INSERT INTO matching_cases (
             case_id, member_staff_id, campus, department, discipline, seniority, role,
             involvement, first_contact_due, opened_at, supporter_id, assigned_at, ended_at,
             version)
         SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[],
                              $6::text[], $7::text[], $8::text[], $9::timestamptz[],
                              $10::timestamptz[], $11::text[], $12::timestamptz[],
                              $13::timestamptz[], $14::bigint[])
         {on_conflict}"
    ))
    .bind(rows.iter().map(|r| r.case_id).collect::<Vec<_>>())
    .bind(text(|r| &r.member_staff_id))
    .bind(text(|r| &r.campus))
    .bind(text(|r| &r.department))
    .bind(text(|r| &r.discipline))
    .bind(maybe(|r| r.seniority.as_deref()))
    .bind(text(|r| &r.role))
    .bind(text(|r| &r.involvement))
    .bind(time(|r| r.first_contact_due))
    .bind(rows.iter().map(|r| r.opened_at).collect::<Vec<_>>())
    .bind(maybe(|r| r.supporter_id.as_deref()))
    .bind(time(|r| r.assigned_at))
    .bind(time(|r| r.ended_at))
    .bind(rows.iter().map(|r| r.version).collect::<Vec<_>>())
    .execute(db)
    .await?;
    Ok(())
}

/// How a batch's rows go into a set table (a case's reports, a report's staff).
///
/// Rows already there are skipped by a lookup, not by ON CONFLICT: its speculative insertion
/// costs every new row an extra WAL record and index pass (the batch holds the projection's
/// checkpoint lock, so nothing else inserts meanwhile). The lookup's `OFFSET 0` keeps it one
/// probe of the primary key per row: without it PostgreSQL made the `NOT EXISTS` an anti-join
/// against the whole table, so each batch cost more as the table grew. 125 batches of 3,600
/// rows into an empty table: 15 s, 3 s with `OFFSET 0`, 1.3 s as plain inserts.
#[derive(Debug, Clone, Copy, PartialEq)]
enum SetRows {
    /// Of a case or report this batch stores first: none can be there yet.
    New,
    /// Of one stored before: the rows already there are skipped.
    MaybeHeld,
}

async fn write_case_reports(
    db: &mut PgConnection,
    rows: &[&(Uuid, String, String)],
    kind: SetRows,
) -> Result<(), ProjectionError> {
    if rows.is_empty() {
        return Ok(());
    }
    let skip_held = match kind {
        SetRows::New => "",
        SetRows::MaybeHeld => {
            "WHERE NOT EXISTS (
                   SELECT FROM matching_case_reports c
                    WHERE (c.case_id, c.report_source, c.report_id)
                        = (r.case_id, r.report_source, r.report_id)
                   OFFSET 0)"
        }
    };
    sqlx::query(&format!(
        "INSERT INTO matching_case_reports (case_id, report_source, report_id)
         SELECT r.case_id, r.report_source, r.report_id
           FROM UNNEST($1::uuid[], $2::text[], $3::text[]) AS r(case_id, report_source, report_id)
         {skip_held}"
    ))
    .bind(rows.iter().map(|r| r.0).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.1.as_str()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.2.as_str()).collect::<Vec<_>>())
    .execute(db)
    .await?;
    Ok(())
}

/// What a row replaces its stored self with.
const REPLACE_REPORT: &str =
    "ON CONFLICT (report_aggregate_id) DO UPDATE SET version = excluded.version";

async fn write_reports(
    db: &mut PgConnection,
    rows: &[&MatchingReport],
    replacing: bool,
) -> Result<(), ProjectionError> {
    if rows.is_empty() {
        return Ok(());
    }
    let on_conflict = if replacing { REPLACE_REPORT } else { "" };
    sqlx::query(&format!(
        "INSERT INTO matching_reports (report_aggregate_id, report_source, report_id, version)
         SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::bigint[])
         {on_conflict}"
    ))
    .bind(
        rows.iter()
            .map(|r| r.report_aggregate_id)
            .collect::<Vec<_>>(),
    )
    .bind(
        rows.iter()
            .map(|r| r.report_source.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(
        rows.iter()
            .map(|r| r.report_id.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(rows.iter().map(|r| r.version).collect::<Vec<_>>())
    .execute(db)
    .await?;
    Ok(())
}

/// The staff each report names now, and no longer; `recorded`: the reports this batch stores
/// first.
async fn write_report_staff(
    db: &mut PgConnection,
    staff: &BTreeMap<(String, String, String), bool>,
    cases: &BTreeMap<(String, String, String), Uuid>,
    recorded: &HashSet<(&str, &str)>,
) -> Result<(), ProjectionError> {
    let (mut fresh, mut others, mut removed) = (Vec::new(), Vec::new(), Vec::new());
    for (row, named) in staff {
        match named {
            true if recorded.contains(&(row.0.as_str(), row.1.as_str())) => fresh.push(row),
            true => others.push(row),
            false => removed.push(row),
        }
    }
    for (rows, kind) in [(fresh, SetRows::New), (others, SetRows::MaybeHeld)] {
        if rows.is_empty() {
            continue;
        }
        let skip_held = match kind {
            SetRows::New => "",
            SetRows::MaybeHeld => {
                "WHERE NOT EXISTS (
                       SELECT FROM matching_report_staff s
                        WHERE (s.report_source, s.report_id, s.staff_id)
                            = (r.report_source, r.report_id, r.staff_id)
                       OFFSET 0)"
            }
        };
        sqlx::query(&format!(
            "INSERT INTO matching_report_staff (report_source, report_id, staff_id, case_id)
             SELECT r.report_source, r.report_id, r.staff_id, r.case_id
               FROM UNNEST($1::text[], $2::text[], $3::text[], $4::uuid[])
                    AS r(report_source, report_id, staff_id, case_id)
             {skip_held}"
        ))
        .bind(rows.iter().map(|r| r.0.as_str()).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.1.as_str()).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.2.as_str()).collect::<Vec<_>>())
        .bind(
            rows.iter()
                .map(|r| cases.get(*r).copied())
                .collect::<Vec<_>>(),
        )
        .execute(&mut *db)
        .await?;
    }
    if !removed.is_empty() {
        sqlx::query(
            "DELETE FROM matching_report_staff s
              USING UNNEST($1::text[], $2::text[], $3::text[]) AS r(report_source, report_id, staff_id)
              WHERE (s.report_source, s.report_id, s.staff_id)
                  = (r.report_source, r.report_id, r.staff_id)",
        )
        .bind(removed.iter().map(|r| r.0.as_str()).collect::<Vec<_>>())
        .bind(removed.iter().map(|r| r.1.as_str()).collect::<Vec<_>>())
        .bind(removed.iter().map(|r| r.2.as_str()).collect::<Vec<_>>())
        .execute(&mut *db)
        .await?;
    }
    Ok(())
}

async fn write_preferences(
    db: &mut PgConnection,
    preferences: &BTreeMap<String, Option<(String, serde_json::Value)>>,
) -> Result<(), ProjectionError> {
    let mut held = (Vec::new(), Vec::new(), Vec::new());
    let mut dropped = Vec::new();
    for (member, stated) in preferences {
        match stated {
            Some((staff_id, preferences)) => {
                held.0.push(staff_id.as_str());
                held.1.push(member.as_str());
                held.2.push(preferences);
            }
            None => dropped.push(member.as_str()),
        }
    }
    if !dropped.is_empty() {
        sqlx::query("DELETE FROM matching_preferences WHERE member_id = ANY($1)")
            .bind(&dropped)
            .execute(&mut *db)
            .await?;
    }
    if !held.0.is_empty() {
        sqlx::query(
            "INSERT INTO matching_preferences (staff_id, member_id, preferences)
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::jsonb[])
             ON CONFLICT (staff_id) DO UPDATE
                SET member_id = excluded.member_id, preferences = excluded.preferences",
        )
        .bind(&held.0)
        .bind(&held.1)
        .bind(&held.2)
        .execute(&mut *db)
        .await?;
    }
    Ok(())
}

/// What a row replaces its stored self with.
const REPLACE_SUPPORTER: &str = "ON CONFLICT (supporter_id) DO UPDATE SET
     staff_id = excluded.staff_id, campus = excluded.campus,
     department = excluded.department, discipline = excluded.discipline,
     specialty = excluded.specialty, seniority = excluded.seniority,
     languages = excluded.languages, interests = excluded.interests,
     training_status = excluded.training_status, trained_on = excluded.trained_on,
     capacity = excluded.capacity, availability = excluded.availability,
     paused = excluded.paused, open_cases = excluded.open_cases,
     given_name = excluded.given_name, family_name = excluded.family_name,
     email = excluded.email, phone = excluded.phone, gender = excluded.gender,
     joined_at = excluded.joined_at, changed_at = excluded.changed_at,
     version = excluded.version";

async fn write_supporters(
    db: &mut PgConnection,
    rows: &[&RosterSupporter],
    replacing: bool,
) -> Result<(), ProjectionError> {
    if rows.is_empty() {
        return Ok(());
    }
    let text = |f: fn(&RosterSupporter) -> &str| rows.iter().map(|r| f(r)).collect::<Vec<_>>();
    let maybe =
        |f: fn(&RosterSupporter) -> Option<&str>| rows.iter().map(|r| f(r)).collect::<Vec<_>>();
    // Arrays of arrays do not bind: the text arrays travel as JSON and are unpacked here.
    let lists = |f: fn(&RosterSupporter) -> &Vec<String>| {
        rows.iter()
            .map(|r| serde_json::json!(f(r)))
            .collect::<Vec<_>>()
    };
    let on_conflict = if replacing { REPLACE_SUPPORTER } else { "" };
    sqlx::query(&format!(
        "INSERT INTO roster_supporters (
             supporter_id, staff_id, campus, department, discipline, specialty, seniority,
             languages, interests, training_status, trained_on, capacity, availability, paused,
             open_cases, given_name, family_name, email, phone, gender, joined_at, changed_at,
             version)
         SELECT r.supporter_id, r.staff_id, r.campus, r.department, r.discipline, r.specialty,
                r.seniority,
                ARRAY(SELECT jsonb_array_elements_text(r.languages)),
                ARRAY(SELECT jsonb_array_elements_text(r.interests)),
                r.training_status, r.trained_on, r.capacity, r.availability, r.paused,
                r.open_cases, r.given_name, r.family_name, r.email, r.phone, r.gender,
                r.joined_at, r.changed_at, r.version
           FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                       $7::text[], $8::jsonb[], $9::jsonb[], $10::text[], $11::date[],
                       $12::int[], $13::jsonb[], $14::bool[], $15::int[], $16::text[],
                       $17::text[], $18::text[], $19::text[], $20::text[],
                       $21::timestamptz[], $22::timestamptz[], $23::bigint[])
             AS r(supporter_id, staff_id, campus, department, discipline, specialty, seniority,
                  languages, interests, training_status, trained_on, capacity, availability,
                  paused, open_cases, given_name, family_name, email, phone, gender, joined_at,
                  changed_at, version)
         {on_conflict}"
    ))
    .bind(rows.iter().map(|r| r.supporter_id).collect::<Vec<_>>())
    .bind(text(|r| &r.staff_id))
    .bind(text(|r| &r.campus))
    .bind(text(|r| &r.department))
    .bind(text(|r| &r.discipline))
    .bind(maybe(|r| r.specialty.as_deref()))
    .bind(text(|r| &r.seniority))
    .bind(lists(|r| &r.languages))
    .bind(lists(|r| &r.interests))
    .bind(text(|r| &r.training_status))
    .bind(rows.iter().map(|r| r.trained_on).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.capacity).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| &r.availability).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.paused).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.open_cases).collect::<Vec<_>>())
    .bind(maybe(|r| r.given_name.as_deref()))
    .bind(maybe(|r| r.family_name.as_deref()))
    .bind(maybe(|r| r.email.as_deref()))
    .bind(maybe(|r| r.phone.as_deref()))
    .bind(maybe(|r| r.gender.as_deref()))
    .bind(rows.iter().map(|r| r.joined_at).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.changed_at).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.version).collect::<Vec<_>>())
    .execute(db)
    .await?;
    Ok(())
}

/// The caseload rows the batch added and removed.
async fn write_caseloads(
    db: &mut PgConnection,
    loaded: &HashMap<Uuid, BTreeMap<Uuid, DateTime<Utc>>>,
    now: &HashMap<Uuid, BTreeMap<Uuid, DateTime<Utc>>>,
) -> Result<(), ProjectionError> {
    let empty = BTreeMap::new();
    let (mut taken, mut released) = (Vec::new(), Vec::new());
    for (supporter, cases) in now {
        let before = loaded.get(supporter).unwrap_or(&empty);
        for (case, at) in cases {
            if !before.contains_key(case) {
                taken.push((*supporter, *case, *at));
            }
        }
        for case in before.keys().filter(|case| !cases.contains_key(case)) {
            released.push((*supporter, *case));
        }
    }
    if !taken.is_empty() {
        sqlx::query(
            "INSERT INTO roster_caseload (supporter_id, case_id, taken_at)
             SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::timestamptz[])
             ON CONFLICT DO NOTHING",
        )
        .bind(taken.iter().map(|t| t.0).collect::<Vec<_>>())
        .bind(taken.iter().map(|t| t.1).collect::<Vec<_>>())
        .bind(taken.iter().map(|t| t.2).collect::<Vec<_>>())
        .execute(&mut *db)
        .await?;
    }
    if !released.is_empty() {
        sqlx::query(
            "DELETE FROM roster_caseload c
              USING UNNEST($1::uuid[], $2::uuid[]) AS r(supporter_id, case_id)
              WHERE (c.supporter_id, c.case_id) = (r.supporter_id, r.case_id)",
        )
        .bind(released.iter().map(|r| r.0).collect::<Vec<_>>())
        .bind(released.iter().map(|r| r.1).collect::<Vec<_>>())
        .execute(db)
        .await?;
    }
    Ok(())
}
