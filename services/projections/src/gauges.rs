//! Figures operators watch, read from the event store and read models and recorded as metrics:
//! how far behind each projection runs, and how many cases are open.

use outreach_telemetry::metrics::{attribute, metrics};
use sqlx::PgPool;

use crate::{ProjectionError, ProjectionRunner, RunnerSettings};

pub async fn observe(pool: &PgPool) -> Result<(), ProjectionError> {
    // Lag depends on the projection's name only, not on what it was built with.
    for projection in crate::all(&crate::Setup::default()) {
        let name = projection.name();
        let runner = ProjectionRunner::new(pool.clone(), projection, RunnerSettings::default());
        let (events, seconds) = runner.lag_with_age().await?;
        metrics()
            .projection_lag_events
            .record(events, &[attribute("projection", name)]);
        metrics()
            .projection_lag_seconds
            .record(seconds, &[attribute("projection", name)]);
    }
    // Open: every case still being worked, whatever its stage.
    let (open, overdue): (i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE status NOT IN ('closed', 'cancelled')),
                count(*) FILTER (WHERE status IN ('open', 'assigned')
                                   AND first_contacted_at IS NULL
                                   AND first_contact_due < now())
           FROM outreach_cases",
    )
    .fetch_one(pool)
    .await?;
    metrics().cases_open.record(open, &[]);
    metrics().cases_overdue.record(overdue, &[]);
    Ok(())
}
