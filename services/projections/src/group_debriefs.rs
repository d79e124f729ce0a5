//! The group debrief read model: reports that call for a group debrief as well as individual
//! outreach. Counts, campus and unit only; no staff ids or names.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use outreach_events::report;
use outreach_events::{ReportEvent, ReportRef};
use sqlx::PgConnection;

use crate::{Projection, ProjectionError, Reads, StoredEvent};

pub struct GroupDebriefs;

#[async_trait]
impl Projection for GroupDebriefs {
    fn name(&self) -> &'static str {
        "group-debriefs"
    }

    fn reads(&self) -> Reads {
        Reads {
            event_types: &["GroupDebriefProposed"],
            personal_data_of: &[],
        }
    }

    async fn reset(&self, db: &mut PgConnection) -> Result<(), ProjectionError> {
        crate::empty(db, &["group_debrief_proposals"]).await
    }

    async fn apply(
        &self,
        db: &mut PgConnection,
        events: &[StoredEvent],
    ) -> Result<(), ProjectionError> {
        let mut proposals = Vec::new();
        for event in events {
            let _applying = crate::applying(self.name(), event).entered();
            proposals.extend(proposal(event)?);
        }
        if proposals.is_empty() {
            return Ok(());
        }
        let count = |n: usize| i32::try_from(n).unwrap_or(i32::MAX);
        let column = |f: fn(&Proposal) -> &str| proposals.iter().map(f).collect::<Vec<_>>();
        // A report proposes at most once; a repeated apply changes nothing.
        sqlx::query(
            "INSERT INTO group_debrief_proposals
                 (report_source, report_id, campus, unit, staff, departments, proposed_at)
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::int[],
                                  $6::int[], $7::timestamptz[])
             ON CONFLICT (report_source, report_id) DO NOTHING",
        )
        .bind(column(|p| &p.report.source))
        .bind(column(|p| &p.report.report_id))
        .bind(column(|p| &p.campus))
        .bind(column(|p| &p.unit))
        .bind(proposals.iter().map(|p| count(p.staff)).collect::<Vec<_>>())
        .bind(
            proposals
                .iter()
                .map(|p| count(p.departments))
                .collect::<Vec<_>>(),
        )
        .bind(proposals.iter().map(|p| p.proposed_at).collect::<Vec<_>>())
        .execute(db)
        .await?;
        Ok(())
    }
}

/// A report's proposal of a group debrief.
struct Proposal {
    report: ReportRef,
    campus: String,
    unit: String,
    staff: usize,
    departments: usize,
    proposed_at: DateTime<Utc>,
}

fn proposal(event: &StoredEvent) -> Result<Option<Proposal>, ProjectionError> {
    // Filtered on the stored type first: the report's other events are never decoded here.
    if event.aggregate_type != report::AGGREGATE_TYPE
        || event.event_type != ReportEvent::GROUP_DEBRIEF_PROPOSED
    {
        return Ok(None);
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
    Ok(Some(Proposal {
        report,
        campus,
        unit,
        staff,
        departments,
        proposed_at,
    }))
}
