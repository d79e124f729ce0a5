//! Publishes each quarter's statistics once the quarter is over: the safety office receives
//! "quarterly usage stats" without anyone having to ask.
//!
//! Every `interval` it checks whether the quarter before today's (in the program's calendar)
//! was published, and publishes it if not. Publishing is once per period by construction (see
//! `outreach_projections::statistics_publication`), so a second instance or a repeated check
//! sends nothing new. A quarter that ended before the service recorded anything is not
//! published: a new installation does not announce an empty quarter.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use outreach_command_side::CommandSide;
use outreach_domain::period::SafetyOfficePeriods;
use outreach_projections::statistics_publication::{publish, Publication, RequestedBy};
use sqlx::{PgConnection, PgPool};
use tokio_util::sync::CancellationToken;

use crate::sweep::Sweep;

/// "peerstq1" read as a big-endian 64-bit integer.
pub const LOCK_KEY: i64 = 0x7065_6572_7374_7131;

pub struct StatisticsSchedule {
    pub pool: PgPool,
    pub commands: Arc<CommandSide>,
    pub interval: Duration,
    /// Which periods the safety office reads (and so how the quarter is suppressed).
    pub periods: SafetyOfficePeriods,
}

impl StatisticsSchedule {
    pub async fn run(self, shutdown: CancellationToken) {
        crate::sweep::run(&self, &self.pool, self.interval, shutdown).await;
    }
}

#[async_trait]
impl Sweep for StatisticsSchedule {
    const NAME: &'static str = "statistics-schedule";
    const LOCK_KEY: i64 = LOCK_KEY;

    async fn sweep(
        &self,
        db: &mut PgConnection,
        _shutdown: &CancellationToken,
    ) -> Result<u64, sqlx::Error> {
        let now = Utc::now();
        let zone = self.commands.policies().deadlines.calendar.time_zone;
        let today = now.with_timezone(&zone).date_naive();
        let quarter = SafetyOfficePeriods::latest_quarter(today);
        let end = quarter
            .end()
            .and_hms_opt(0, 0, 0)
            .expect("midnight exists")
            .and_local_timezone(zone)
            .earliest()
            .map(|end| end.with_timezone(&Utc))
            .unwrap_or(now);
        // The first event in commit order is the service's first act: one step down the
        // commit-order index. `EXISTS (... WHERE recorded_at < end)` had no index to use and read
        // the whole store whenever the service was younger than the quarter (1.4 s at 1.1M
        // events, at every start and every interval).
        let ran_during_it: bool = sqlx::query_scalar(
            "SELECT recorded_at < $1 FROM events ORDER BY transaction_id, global_position LIMIT 1",
        )
        .bind(end)
        .fetch_optional(&mut *db)
        .await?
        .unwrap_or(false);
        if !ran_during_it {
            return Ok(0);
        }
        let published = publish(
            &self.pool,
            quarter,
            self.periods,
            RequestedBy::Schedule,
            today,
            now,
        )
        .await?;
        match published {
            Ok(Publication::Published { event_id }) => {
                tracing::info!(period = %quarter, %event_id, "published the quarter's statistics");
                Ok(1)
            }
            Ok(Publication::AlreadyPublished { .. }) => Ok(0),
            // The last quarter is over by construction, and quarters are always served.
            Err(not_served) => {
                tracing::warn!(period = %quarter, %not_served, "the quarter was not published");
                Ok(0)
            }
        }
    }
}
