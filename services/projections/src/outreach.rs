//! The outreach read model: where each case stands.

use async_trait::async_trait;
use outreach_events::{CaseEvent, CaseOpened};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{Projection, ProjectionError, StoredEvent};

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
        if event.aggregate_type != "OutreachCase" {
            return Ok(());
        }
        match event.decode::<CaseEvent>()? {
            CaseEvent::CaseOpened(opened) => insert_case(db, &opened, event.sequence).await,
            CaseEvent::CaseCancelled(cancelled) => {
                sqlx::query(
                    "UPDATE outreach_cases
                        SET status = 'cancelled', closed_at = $2, close_reason = $3, version = $4
                      WHERE case_id = $1",
                )
                .bind(case_id(event)?)
                .bind(cancelled.cancelled_at)
                .bind(cancelled.reason.as_str())
                .bind(event.sequence)
                .execute(db)
                .await?;
                Ok(())
            }
        }
    }
}

fn case_id(event: &StoredEvent) -> Result<Uuid, ProjectionError> {
    event
        .aggregate_id
        .parse()
        .map_err(|_| event.unreadable("aggregate id is not a UUID".into()))
}

async fn insert_case(
    db: &mut PgConnection,
    opened: &CaseOpened,
    version: i64,
) -> Result<(), ProjectionError> {
    let (facts, member, personal) = (&opened.facts, &opened.facts.member, &opened.personal);
    sqlx::query(
        "INSERT INTO outreach_cases (
             case_id, report_source, report_id, trigger_kind, campus, unit, status, opened_at,
             staff_id, role, discipline, department, seniority, involvement,
             given_name, family_name, email, phone, mobile, preferred_channel, version)
         VALUES ($1, $2, $3, $4, $5, $6, 'open', $7, $8, $9, $10, $11, $12, $13,
                 $14, $15, $16, $17, $18, $19, $20)",
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
    .bind(&personal.given_name)
    .bind(&personal.family_name)
    .bind(&personal.email)
    .bind(&personal.phone)
    .bind(&personal.mobile)
    .bind(personal.preferred_channel.map(|c| c.as_str()))
    .bind(version)
    .execute(db)
    .await?;
    Ok(())
}
