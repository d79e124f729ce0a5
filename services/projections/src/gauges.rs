//! Figures operators watch, read from the event store and read models and recorded as metrics:
//! how far behind each projection runs, and how many cases are open.

use outreach_telemetry::metrics::{attribute, metrics};
use sqlx::PgPool;

use crate::{ProjectionError, ProjectionRunner, RunnerSettings};

pub async fn observe(pool: &PgPool) -> Result<(), ProjectionError> {
    for projection in crate::all() {
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
    let open: i64 = sqlx::query_scalar("SELECT count(*) FROM outreach_cases WHERE status = 'open'")
        .fetch_one(pool)
        .await?;
    metrics().cases_open.record(open, &[]);
    Ok(())
}
