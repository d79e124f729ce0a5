//! The group debrief read model: reports that call for a group debrief as well as individual
//! outreach. Counts, campus and unit only; no staff ids or names.

use async_trait::async_trait;
use outreach_events::ReportEvent;
use sqlx::PgConnection;

use crate::{Projection, ProjectionError, StoredEvent};

pub struct GroupDebriefs;

#[async_trait]
impl Projection for GroupDebriefs {
    fn name(&self) -> &'static str {
        "group-debriefs"
    }

    async fn reset(&self, db: &mut PgConnection) -> Result<(), ProjectionError> {
        sqlx::query("DELETE FROM group_debrief_proposals")
            .execute(db)
            .await?;
        Ok(())
    }

    async fn apply(
        &self,
        db: &mut PgConnection,
        event: &StoredEvent,
    ) -> Result<(), ProjectionError> {
        // Filtered on the stored type first: the report's other events are never decoded here.
        if event.aggregate_type != "SafetyReport" || event.event_type != "GroupDebriefProposed" {
            return Ok(());
        }
        let ReportEvent::GroupDebriefProposed {
            report,
            campus,
            unit,
            staff,
            departments,
            proposed_at,
        } = event.decode::<ReportEvent>()?
        else {
            return Err(event.unreadable("not a GroupDebriefProposed payload".into()));
        };
        let count = |n: usize| i32::try_from(n).unwrap_or(i32::MAX);
        // The report proposes at most once; a repeated apply changes nothing.
        sqlx::query(
            "INSERT INTO group_debrief_proposals
                 (report_source, report_id, campus, unit, staff, departments, proposed_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (report_source, report_id) DO NOTHING",
        )
        .bind(&report.source)
        .bind(&report.report_id)
        .bind(&campus)
        .bind(&unit)
        .bind(count(staff))
        .bind(count(departments))
        .bind(proposed_at)
        .execute(db)
        .await?;
        Ok(())
    }
}
