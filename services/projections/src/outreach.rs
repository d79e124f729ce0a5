//! The outreach read model: where each case stands.
//!
//! A batch loads the cases its events touch, folds the events into them in memory ([`fold`]:
//! no I/O) and writes back the cases it changed with one upsert.

use std::collections::{BTreeMap, HashMap, HashSet};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use outreach_events::care_team_member::MemberEvent;
use outreach_events::case;
use outreach_events::lifecycle::ContactOutcome;
use outreach_events::{CaseEvent, CaseOpened};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::case_row::{CaseRow, CaseStatus, Decision, SuggestedContact};
use crate::{code_name, Projection, ProjectionError, Reads, StoredEvent};

pub struct OutreachProjection;

/// What the outreach read model reads of one event.
// A case event carries the whole opening; boxing it would only add noise to every match.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Applied {
    Case {
        case_id: Uuid,
        sequence: i64,
        event: CaseEvent,
    },
    /// The member's name, contact details and profile leave these cases of theirs, those their
    /// record started before the purge.
    Purge { cases: HashSet<Uuid> },
}

// Every case event, and the purge that takes the member's name and contact details away.
const READS: &[&str] = &crate::case_event_types_and::<{ CaseEvent::TYPES.len() + 1 }>(&[
    MemberEvent::PERSONAL_DATA_PURGED,
]);

#[async_trait]
impl Projection for OutreachProjection {
    fn name(&self) -> &'static str {
        "outreach"
    }

    fn watched_live(&self) -> bool {
        true
    }

    fn reads(&self) -> Reads {
        Reads {
            event_types: READS,
            personal_data_of: &["CaseOpened", "ContactToConfirm", "ContactConfirmed"],
        }
    }

    async fn reset(&self, db: &mut PgConnection) -> Result<(), ProjectionError> {
        crate::empty(db, &["outreach_cases", "outreach_status_counts"]).await
    }

    async fn apply(
        &self,
        db: &mut PgConnection,
        events: &[StoredEvent],
    ) -> Result<(), ProjectionError> {
        let mut purges: HashMap<usize, HashSet<Uuid>> = crate::purge::cases_purged_by(db, events)
            .await?
            .into_iter()
            .collect();
        let applied = (events.iter().enumerate())
            .map(|(at, event)| match purges.remove(&at) {
                Some(cases) => Ok(Some(Applied::Purge { cases })),
                None => read(event),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let loaded = load(db, &applied).await?;
        let mut cases = loaded.clone();
        for (event, applied) in events.iter().zip(applied) {
            let _applying = crate::applying(self.name(), event).entered();
            fold(&mut cases, applied);
        }
        let (new, changed) = crate::new_and_changed(&loaded, &cases);
        write(db, &new, false).await?;
        write(db, &changed, true).await?;
        write_status_counts(db, &status_changes(&loaded, &cases)).await
    }
}

/// How many cases each status gains (or, negative, loses) from `before` to `after`.
fn status_changes(
    before: &HashMap<Uuid, CaseRow>,
    after: &HashMap<Uuid, CaseRow>,
) -> BTreeMap<String, i64> {
    let mut changes = BTreeMap::new();
    for (case_id, case) in after {
        let was = before.get(case_id).map(|case| case.status);
        if was != Some(case.status) {
            *changes.entry(case.status.as_str().to_owned()).or_insert(0) += 1;
            if let Some(was) = was {
                *changes.entry(was.as_str().to_owned()).or_insert(0) -= 1;
            }
        }
    }
    changes.retain(|_, change| *change != 0);
    changes
}

async fn write_status_counts(
    db: &mut PgConnection,
    changes: &BTreeMap<String, i64>,
) -> Result<(), ProjectionError> {
    if changes.is_empty() {
        return Ok(());
    }
    let (statuses, counts): (Vec<&str>, Vec<i64>) = changes
        .iter()
        .map(|(status, change)| (status.as_str(), *change))
        .unzip();
    // Counts held are updated; a status not held yet is inserted. Not one `INSERT .. ON
    // CONFLICT`: its proposed row (a status losing cases, a negative count) fails the check
    // before the conflict is found.
    sqlx::query(
        "WITH change (status, cases) AS (SELECT * FROM UNNEST($1::text[], $2::bigint[])),
              held AS (UPDATE outreach_status_counts counts
                          SET cases = counts.cases + change.cases
                         FROM change
                        WHERE counts.status = change.status
                    RETURNING counts.status)
         INSERT INTO outreach_status_counts (status, cases)
         SELECT status, cases FROM change WHERE status NOT IN (SELECT status FROM held)",
    )
    .bind(statuses)
    .bind(counts)
    .execute(db)
    .await?;
    Ok(())
}

/// The event as the read model reads it; `None` for an event of another aggregate.
fn read(event: &StoredEvent) -> Result<Option<Applied>, ProjectionError> {
    if event.aggregate_type != case::AGGREGATE_TYPE || !READS.contains(&event.event_type.as_str()) {
        return Ok(None);
    }
    Ok(Some(Applied::Case {
        case_id: event.aggregate_uuid()?,
        sequence: event.sequence,
        event: event.decode()?,
    }))
}

/// The stored cases the batch touches: those its events belong to, and every case of a member
/// it purges.
async fn load(
    db: &mut PgConnection,
    applied: &[Option<Applied>],
) -> Result<HashMap<Uuid, CaseRow>, ProjectionError> {
    let mut ids = Vec::new();
    for applied in applied.iter().flatten() {
        match applied {
            Applied::Case { case_id, .. } => ids.push(*case_id),
            Applied::Purge { cases } => ids.extend(cases),
        }
    }
    ids.sort_unstable();
    ids.dedup();
    // One primary-key lookup per key, not `case_id = ANY($1)`, which PostgreSQL plans as a scan
    // of the whole table for a batch's thousands of keys (see matching's `load`).
    let rows: Vec<CaseRow> = sqlx::query_as(
        "SELECT c.* FROM UNNEST($1::uuid[]) AS k(id),
                LATERAL (SELECT * FROM outreach_cases WHERE case_id = k.id OFFSET 0) c",
    )
    .bind(&ids)
    .fetch_all(&mut *db)
    .await?;
    Ok(rows.into_iter().map(|row| (row.case_id, row)).collect())
}

/// Folds one event into the cases. An event of a case the read model does not hold changes
/// nothing (as an update of no row would).
pub(crate) fn fold(cases: &mut HashMap<Uuid, CaseRow>, applied: Option<Applied>) {
    match applied {
        None => {}
        Some(Applied::Purge { cases: purged }) => {
            for case_id in &purged {
                if let Some(case) = cases.get_mut(case_id) {
                    drop_personal_data(case);
                }
            }
        }
        Some(Applied::Case {
            sequence,
            event: CaseEvent::CaseOpened(opened),
            ..
        }) => {
            let case = opened_case(&opened, sequence);
            cases.insert(case.case_id, case);
        }
        Some(Applied::Case {
            case_id,
            sequence,
            event,
        }) => {
            if let Some(case) = cases.get_mut(&case_id) {
                follow(case, event);
                case.version = sequence;
            }
        }
    }
}

/// A case as its opening leaves it. A purged opening (rebuilt after the purge) has no name,
/// contact details or profile: the row is as the purge leaves it.
pub(crate) fn opened_case(opened: &CaseOpened, version: i64) -> CaseRow {
    let facts = &opened.facts;
    let member = facts.member.as_ref();
    let personal = opened.personal.as_ref();
    let mut case = CaseRow {
        case_id: facts.case_id,
        report_source: facts.report.source.clone(),
        report_id: facts.report.report_id.clone(),
        trigger_kind: facts.trigger.as_str().into(),
        campus: facts.campus.clone(),
        unit: facts.unit.clone(),
        status: CaseStatus::Open,
        opened_at: facts.opened_at,
        closed_at: None,
        close_reason: None,
        staff_id: member.map(|m| m.staff_id.clone()).unwrap_or_default(),
        role: member.map(|m| m.role.clone()).unwrap_or_default(),
        discipline: member
            .map_or(crate::statistics::UNKNOWN, |m| m.discipline.as_str())
            .into(),
        department: member.map(|m| m.department.clone()).unwrap_or_default(),
        seniority: member.and_then(|m| m.seniority.map(|s| s.as_str().into())),
        involvement: member
            .map(|m| m.involvement.as_str().into())
            .unwrap_or_default(),
        given_name: personal.map(|p| p.given_name.clone()),
        family_name: personal.map(|p| p.family_name.clone()),
        email: personal.and_then(|p| p.email.clone()),
        phone: personal.and_then(|p| p.phone.clone()),
        mobile: personal.and_then(|p| p.mobile.clone()),
        preferred_channel: personal.and_then(|p| p.preferred_channel.map(|c| c.as_str().into())),
        version,
        supporter_id: None,
        first_contact_due: facts.first_contact_due,
        first_contacted_at: None,
        reached_at: None,
        decision: None,
        decided_at: None,
        contact_attempts: 0,
        encounters: 0,
        resources_sent: 0,
        referrals: 0,
        escalations: 0,
        deadline_passed_at: None,
        linked_triggers: 0,
        contact_to_confirm: false,
        suggested_contact: None,
        urgent: facts.urgent,
    };
    if member.is_none() {
        drop_personal_data(&mut case);
    }
    case
}

/// What a later event of the case changes.
fn follow(case: &mut CaseRow, event: CaseEvent) {
    let status = |case: &mut CaseRow, status: CaseStatus| case.status = status;
    match event {
        // A second opening of the same case cannot be stored (the aggregate opens once).
        CaseEvent::CaseOpened(_) => {}
        CaseEvent::CaseCancelled(e) => {
            status(case, CaseStatus::Cancelled);
            case.closed_at = Some(e.cancelled_at);
            case.close_reason = Some(e.reason.as_str().into());
        }
        CaseEvent::SupporterAssigned(e) => {
            case.supporter_id = Some(e.supporter_id);
            if case.status == CaseStatus::Open {
                status(case, CaseStatus::Assigned);
            }
        }
        CaseEvent::ContactAttempted(e) => {
            case.contact_attempts += 1;
            case.first_contacted_at.get_or_insert(e.attempted_at);
            if e.outcome == ContactOutcome::Reached {
                case.reached_at.get_or_insert(e.attempted_at);
                if matches!(case.status, CaseStatus::Open | CaseStatus::Assigned) {
                    status(case, CaseStatus::Reached);
                }
            }
        }
        CaseEvent::SupportDeclined(e) => {
            case.decision = Some(Decision::Declined);
            case.decided_at = Some(e.declined_at);
            status(case, CaseStatus::Declined);
        }
        CaseEvent::SupportAccepted(e) => {
            case.decision = Some(Decision::Accepted);
            case.decided_at = Some(e.accepted_at);
            status(case, CaseStatus::Accepted);
        }
        CaseEvent::EncounterRecorded(_) => case.encounters += 1,
        CaseEvent::ResourcesSent(_) => case.resources_sent += 1,
        // Shown on the case's timeline; the list of cases has no column for it.
        CaseEvent::ResourceSheetSent(_) => {}
        CaseEvent::ReferredToProfessionalHelp(_) => case.referrals += 1,
        CaseEvent::EscalationRecorded(_) => case.escalations += 1,
        CaseEvent::CaseClosed(e) => {
            status(case, CaseStatus::Closed);
            case.closed_at = Some(e.closed_at);
            case.close_reason = Some(code_name(&e.reason));
        }
        CaseEvent::FirstContactDeadlinePassed(e) => case.deadline_passed_at = Some(e.noticed_at),
        CaseEvent::TriggerLinked(e) => {
            case.linked_triggers += 1;
            case.urgent |= e.made_urgent;
            if e.first_contact_due.is_some() {
                case.first_contact_due = e.first_contact_due;
            }
        }
        // Back to where the case stood before it closed; a decline no longer stands.
        CaseEvent::CaseReopened(_) => {
            case.closed_at = None;
            case.close_reason = None;
            if case.decision == Some(Decision::Declined) {
                case.decision = None;
                case.decided_at = None;
            }
            let stood = if case.decision == Some(Decision::Accepted) {
                CaseStatus::Accepted
            } else if case.reached_at.is_some() {
                CaseStatus::Reached
            } else if case.supporter_id.is_some() {
                CaseStatus::Assigned
            } else {
                CaseStatus::Open
            };
            status(case, stood);
        }
        CaseEvent::ContactToConfirm(held) => {
            case.contact_to_confirm = true;
            case.suggested_contact = held.personal.map(|p| {
                sqlx::types::Json(SuggestedContact {
                    email: p.email,
                    phone: p.phone,
                    mobile: p.mobile,
                    preferred_channel: p.preferred_channel.map(|c| c.as_str().into()),
                })
            });
        }
        CaseEvent::ContactConfirmed(confirmed) => {
            case.contact_to_confirm = false;
            case.suggested_contact = None;
            if let Some(p) = confirmed.personal {
                case.given_name = Some(p.given_name);
                case.family_name = Some(p.family_name);
                case.email = p.email;
                case.phone = p.phone;
                case.mobile = p.mobile;
                case.preferred_channel = p.preferred_channel.map(|c| c.as_str().into());
            }
        }
    }
}

fn drop_personal_data(case: &mut CaseRow) {
    // Everything about the member is personal data (issue 27), and so is the case's link to
    // its report (the safety office knows whom a report named) and its unit (with a month and
    // a category, small enough to name someone). What stays: campus, trigger kind, status and
    // outcome, dates.
    case.staff_id = String::new();
    case.role = String::new();
    // Rebuilt, the purged opening no longer tells the discipline: so neither does the row.
    // Statistics keep their own count of it.
    case.discipline = crate::statistics::UNKNOWN.into();
    case.department = String::new();
    case.seniority = None;
    case.involvement = String::new();
    case.report_source = String::new();
    case.report_id = String::new();
    case.unit = String::new();
    case.given_name = None;
    case.family_name = None;
    case.email = None;
    case.phone = None;
    case.mobile = None;
    case.preferred_channel = None;
    case.suggested_contact = None;
}

/// What a case row replaces its stored self with.
const REPLACE_CASE: &str = "ON CONFLICT (case_id) DO UPDATE SET
     report_source = excluded.report_source, report_id = excluded.report_id,
     trigger_kind = excluded.trigger_kind, campus = excluded.campus,
     unit = excluded.unit, status = excluded.status, opened_at = excluded.opened_at,
     closed_at = excluded.closed_at, close_reason = excluded.close_reason,
     staff_id = excluded.staff_id, role = excluded.role,
     discipline = excluded.discipline, department = excluded.department,
     seniority = excluded.seniority, involvement = excluded.involvement,
     given_name = excluded.given_name, family_name = excluded.family_name,
     email = excluded.email, phone = excluded.phone, mobile = excluded.mobile,
     preferred_channel = excluded.preferred_channel, version = excluded.version,
     supporter_id = excluded.supporter_id,
     first_contact_due = excluded.first_contact_due,
     first_contacted_at = excluded.first_contacted_at,
     reached_at = excluded.reached_at, decision = excluded.decision,
     decided_at = excluded.decided_at, contact_attempts = excluded.contact_attempts,
     encounters = excluded.encounters, resources_sent = excluded.resources_sent,
     referrals = excluded.referrals, escalations = excluded.escalations,
     deadline_passed_at = excluded.deadline_passed_at,
     linked_triggers = excluded.linked_triggers,
     contact_to_confirm = excluded.contact_to_confirm,
     suggested_contact = excluded.suggested_contact, urgent = excluded.urgent";

/// Writes `cases` back whole: inserted, or with `replacing` over what was there.
async fn write(
    db: &mut PgConnection,
    cases: &[&CaseRow],
    replacing: bool,
) -> Result<(), ProjectionError> {
    if cases.is_empty() {
        return Ok(());
    }
    fn column<'a, T>(cases: &[&'a CaseRow], f: impl Fn(&'a CaseRow) -> T) -> Vec<T> {
        cases.iter().map(|case| f(case)).collect()
    }
    let text = |f: fn(&CaseRow) -> &str| column(cases, f);
    let maybe = |f: fn(&CaseRow) -> Option<&str>| column(cases, f);
    let time = |f: fn(&CaseRow) -> Option<DateTime<Utc>>| column(cases, f);
    let count = |f: fn(&CaseRow) -> i32| column(cases, f);
    let on_conflict = if replacing { REPLACE_CASE } else { "" };
    sqlx::query(&format!(
        "INSERT INTO outreach_cases (
             case_id, report_source, report_id, trigger_kind, campus, unit, status, opened_at,
             closed_at, close_reason, staff_id, role, discipline, department, seniority,
             involvement, given_name, family_name, email, phone, mobile, preferred_channel,
             version, supporter_id, first_contact_due, first_contacted_at, reached_at, decision,
             decided_at, contact_attempts, encounters, resources_sent, referrals, escalations,
             deadline_passed_at, linked_triggers, contact_to_confirm, suggested_contact, urgent)
         SELECT * FROM UNNEST(
             $1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
             $8::timestamptz[], $9::timestamptz[], $10::text[], $11::text[], $12::text[],
             $13::text[], $14::text[], $15::text[], $16::text[], $17::text[], $18::text[],
             $19::text[], $20::text[], $21::text[], $22::text[], $23::bigint[], $24::text[],
             $25::timestamptz[], $26::timestamptz[], $27::timestamptz[], $28::text[],
             $29::timestamptz[], $30::int[], $31::int[], $32::int[], $33::int[], $34::int[],
             $35::timestamptz[], $36::int[], $37::boolean[], $38::jsonb[], $39::bool[])
         {on_conflict}"
    ))
    .bind(column(cases, |c| c.case_id))
    .bind(text(|c| &c.report_source))
    .bind(text(|c| &c.report_id))
    .bind(text(|c| &c.trigger_kind))
    .bind(text(|c| &c.campus))
    .bind(text(|c| &c.unit))
    .bind(text(|c| c.status.as_str()))
    .bind(column(cases, |c| c.opened_at))
    .bind(time(|c| c.closed_at))
    .bind(maybe(|c| c.close_reason.as_deref()))
    .bind(text(|c| &c.staff_id))
    .bind(text(|c| &c.role))
    .bind(text(|c| &c.discipline))
    .bind(text(|c| &c.department))
    .bind(maybe(|c| c.seniority.as_deref()))
    .bind(text(|c| &c.involvement))
    .bind(maybe(|c| c.given_name.as_deref()))
    .bind(maybe(|c| c.family_name.as_deref()))
    .bind(maybe(|c| c.email.as_deref()))
    .bind(maybe(|c| c.phone.as_deref()))
    .bind(maybe(|c| c.mobile.as_deref()))
    .bind(maybe(|c| c.preferred_channel.as_deref()))
    .bind(column(cases, |c| c.version))
    .bind(maybe(|c| c.supporter_id.as_deref()))
    .bind(time(|c| c.first_contact_due))
    .bind(time(|c| c.first_contacted_at))
    .bind(time(|c| c.reached_at))
    .bind(maybe(|c| c.decision.map(Decision::as_str)))
    .bind(time(|c| c.decided_at))
    .bind(count(|c| c.contact_attempts))
    .bind(count(|c| c.encounters))
    .bind(count(|c| c.resources_sent))
    .bind(count(|c| c.referrals))
    .bind(count(|c| c.escalations))
    .bind(time(|c| c.deadline_passed_at))
    .bind(count(|c| c.linked_triggers))
    .bind(column(cases, |c| c.contact_to_confirm))
    .bind(column(cases, |c| c.suggested_contact.clone()))
    .bind(column(cases, |c| c.urgent))
    .execute(db)
    .await?;
    Ok(())
}

#[cfg(test)]
#[path = "outreach_tests.rs"]
mod tests;
