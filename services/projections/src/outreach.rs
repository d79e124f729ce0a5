//! The outreach read model: where each case stands.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use outreach_events::{CaseEvent, CaseOpened};
use sqlx::PgConnection;

use crate::{code_name, Projection, ProjectionError, StoredEvent};

pub struct OutreachProjection;

#[async_trait]
impl Projection for OutreachProjection {
    fn name(&self) -> &'static str {
        "outreach"
    }

    async fn reset(&self, db: &mut PgConnection) -> Result<(), ProjectionError> {
        sqlx::query("DELETE FROM outreach_cases")
            .execute(db)
            .await?;
        Ok(())
    }

    async fn apply(
        &self,
        db: &mut PgConnection,
        event: &StoredEvent,
    ) -> Result<(), ProjectionError> {
        if let Some(staff_id) = crate::purge::purged_member(event)? {
            return drop_personal_data(db, &staff_id, event).await;
        }
        if event.aggregate_type != "OutreachCase" {
            return Ok(());
        }
        let case = event.aggregate_uuid()?;
        let (sql, text, at): (&str, Option<String>, Option<DateTime<Utc>>) = match event.decode::<CaseEvent>()? {
            CaseEvent::CaseOpened(opened) => return insert_case(db, &opened, event.sequence).await,
            CaseEvent::CaseCancelled(e) => (
                "status = 'cancelled', closed_at = $4, close_reason = $3",
                Some(e.reason.as_str().to_string()),
                Some(e.cancelled_at),
            ),
            CaseEvent::SupporterAssigned(e) => (
                "supporter_id = $3,
                 status = CASE WHEN status = 'open' THEN 'assigned' ELSE status END",
                Some(e.supporter_id),
                Some(e.assigned_at),
            ),
            CaseEvent::ContactAttempted(e) => (
                "contact_attempts = contact_attempts + 1,
                 first_contacted_at = coalesce(first_contacted_at, $4),
                 reached_at = CASE WHEN $3 = 'reached' THEN coalesce(reached_at, $4) ELSE reached_at END,
                 status = CASE WHEN $3 = 'reached' AND status IN ('open', 'assigned') THEN 'reached' ELSE status END",
                Some(code_name(&e.outcome)),
                Some(e.attempted_at),
            ),
            CaseEvent::SupportDeclined(e) => (
                "decision = 'declined', decided_at = $4, status = 'declined'",
                None,
                Some(e.declined_at),
            ),
            CaseEvent::SupportAccepted(e) => (
                "decision = 'accepted', decided_at = $4, status = 'accepted'",
                None,
                Some(e.accepted_at),
            ),
            CaseEvent::EncounterRecorded(_) => ("encounters = encounters + 1", None, None),
            CaseEvent::ResourcesSent(_) => ("resources_sent = resources_sent + 1", None, None),
            CaseEvent::ReferredToProfessionalHelp(_) => ("referrals = referrals + 1", None, None),
            CaseEvent::EscalationRecorded(_) => ("escalations = escalations + 1", None, None),
            CaseEvent::CaseClosed(e) => (
                "status = 'closed', closed_at = $4, close_reason = $3",
                Some(code_name(&e.reason)),
                Some(e.closed_at),
            ),
            CaseEvent::FirstContactDeadlinePassed(e) => {
                ("deadline_passed_at = $4", None, Some(e.noticed_at))
            }
            CaseEvent::TriggerLinked(_) => ("linked_triggers = linked_triggers + 1", None, None),
            // Back to where the case stood before it closed; a decline no longer stands.
            CaseEvent::CaseReopened(_) => (
                "closed_at = NULL, close_reason = NULL,
                 decision = CASE WHEN decision = 'declined' THEN NULL ELSE decision END,
                 decided_at = CASE WHEN decision = 'declined' THEN NULL ELSE decided_at END,
                 status = CASE WHEN decision = 'accepted' THEN 'accepted'
                               WHEN reached_at IS NOT NULL THEN 'reached'
                               WHEN supporter_id IS NOT NULL THEN 'assigned'
                               ELSE 'open' END",
                None,
                None,
            ),
        };
        // $1 the case, $2 the version, $3 and $4 what the event says (unused ones bind NULL).
        sqlx::query(&format!(
            "UPDATE outreach_cases SET {sql}, version = $2 WHERE case_id = $1"
        ))
        .bind(case)
        .bind(event.sequence)
        .bind(text)
        .bind(at)
        .execute(db)
        .await?;
        Ok(())
    }
}

/// The member's name and contact details leave every case of theirs the purge covers.
async fn drop_personal_data(
    db: &mut PgConnection,
    staff_id: &str,
    purge: &StoredEvent,
) -> Result<(), ProjectionError> {
    let cases = crate::purge::cases_purged_by(db, staff_id, purge).await?;
    sqlx::query(
        "UPDATE outreach_cases
            SET given_name = NULL, family_name = NULL, email = NULL, phone = NULL,
                mobile = NULL, preferred_channel = NULL
          WHERE case_id = ANY($1)",
    )
    .bind(&cases)
    .execute(db)
    .await?;
    Ok(())
}

async fn insert_case(
    db: &mut PgConnection,
    opened: &CaseOpened,
    version: i64,
) -> Result<(), ProjectionError> {
    let (facts, member) = (&opened.facts, &opened.facts.member);
    // A purged opening (rebuilt after the purge) has no name or contact details.
    let personal = opened.personal.as_ref();
    sqlx::query(
        "INSERT INTO outreach_cases (
             case_id, report_source, report_id, trigger_kind, campus, unit, status, opened_at,
             staff_id, role, discipline, department, seniority, involvement,
             given_name, family_name, email, phone, mobile, preferred_channel, version,
             first_contact_due)
         VALUES ($1, $2, $3, $4, $5, $6, 'open', $7, $8, $9, $10, $11, $12, $13,
                 $14, $15, $16, $17, $18, $19, $20, $21)",
    )
    .bind(facts.case_id)
    .bind(&facts.report.source)
    .bind(&facts.report.report_id)
    .bind(facts.trigger.as_str())
    .bind(&facts.campus)
    .bind(&facts.unit)
    .bind(facts.opened_at)
    .bind(&member.staff_id)
    .bind(&member.role)
    .bind(member.discipline.as_str())
    .bind(&member.department)
    .bind(member.seniority.map(|s| s.as_str()))
    .bind(member.involvement.as_str())
    .bind(personal.map(|p| &p.given_name))
    .bind(personal.map(|p| &p.family_name))
    .bind(personal.and_then(|p| p.email.as_ref()))
    .bind(personal.and_then(|p| p.phone.as_ref()))
    .bind(personal.and_then(|p| p.mobile.as_ref()))
    .bind(personal.and_then(|p| p.preferred_channel.map(|c| c.as_str())))
    .bind(version)
    .bind(facts.first_contact_due)
    .execute(db)
    .await?;
    Ok(())
}
