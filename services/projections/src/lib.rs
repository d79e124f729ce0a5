//! Projections: events in, read-model rows out.
//!
//! Each projection follows the event store on its own, in a gap-free commit order, and moves
//! its checkpoint in the same transaction as the rows it writes. A crash therefore never loses
//! or repeats an update, and any read model can be dropped and rebuilt from the events. cqrs-es's
//! in-process query dispatch is not used: it runs after commit (a crash in between loses the
//! update) and its replay is not in commit order.

mod assignment_notices;
pub mod candidates;
mod director_notices;
mod error;
mod feedback_invitations;
pub mod feedback_report;
pub mod gauges;
mod group_debriefs;
pub mod leadership;
mod matching;
mod outreach;
mod purge;
mod runner;
mod statistics;
pub mod statistics_publication;
pub mod statistics_report;
mod stored_event;
#[cfg(test)]
mod testing;

pub use assignment_notices::{AssignmentNotices, ASSIGNMENT, ASSIGNMENT_EMAIL};
pub use director_notices::DirectorNotices;
pub use error::ProjectionError;
pub use feedback_invitations::{
    FeedbackInvitations, DEFAULT_FEEDBACK_LINK_BASE, FEEDBACK_INVITATION,
};
pub use group_debriefs::GroupDebriefs;
pub use leadership::{Lead, Leadership};
pub use matching::MatchingProjection;
pub use outreach::OutreachProjection;
pub use runner::{ProjectionRunner, RunnerSettings};
pub use statistics::StatisticsProjection;
pub use stored_event::{open_personal, StoredEvent};

use std::sync::Arc;

use async_trait::async_trait;
use sqlx::PgConnection;

/// A read model kept up to date from the event store.
#[async_trait]
pub trait Projection: Send + Sync {
    /// The name its checkpoint is kept under, and that `projections rebuild NAME` takes.
    fn name(&self) -> &'static str;

    /// Empties the read model so it can be rebuilt from the first event.
    async fn reset(&self, db: &mut PgConnection) -> Result<(), ProjectionError>;

    /// Applies one event. Runs inside the batch's transaction; must derive everything it
    /// writes from the event (never from the clock), so a rebuild gives the same rows.
    async fn apply(
        &self,
        db: &mut PgConnection,
        event: &StoredEvent,
    ) -> Result<(), ProjectionError>;
}

/// The name a code is stored and published under: its serde name, as in the event payload
/// (e.g. `danger_to_self_or_others`).
pub(crate) fn code_name<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default()
}

/// A listener for `channel` on a connection of its own, outside `pool`, so that the service's
/// many listeners (one per projection and publisher) never starve the pool that commands and
/// queries use; the listener reconnects by itself. `None` (polling only) if it cannot listen.
pub async fn listen(pool: &sqlx::PgPool, channel: &str) -> Option<sqlx::postgres::PgListener> {
    let own = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect_lazy_with((*pool.connect_options()).clone());
    let mut listener = sqlx::postgres::PgListener::connect_with(&own).await.ok()?;
    listener.listen(channel).await.ok()?;
    Some(listener)
}

/// What the projections are built with: the program's policies (statistics count time in its
/// working calendar) and where feedback links point.
#[derive(Debug, Clone)]
pub struct Setup {
    pub policies: outreach_domain::CasePolicies,
    /// The start of feedback links: a link is `{feedback_link_base}/{token}`.
    pub feedback_link_base: String,
}

impl Default for Setup {
    fn default() -> Self {
        Self {
            policies: Default::default(),
            feedback_link_base: DEFAULT_FEEDBACK_LINK_BASE.to_owned(),
        }
    }
}

/// Every projection the service keeps.
pub fn all(setup: &Setup) -> Vec<Arc<dyn Projection>> {
    vec![
        Arc::new(StatisticsProjection::new(
            setup.policies.deadlines.calendar.clone(),
        )),
        Arc::new(OutreachProjection),
        Arc::new(DirectorNotices),
        Arc::new(AssignmentNotices),
        Arc::new(FeedbackInvitations::new(&setup.feedback_link_base)),
        Arc::new(GroupDebriefs),
        Arc::new(MatchingProjection),
    ]
}

pub fn by_name(name: &str, setup: &Setup) -> Option<Arc<dyn Projection>> {
    all(setup).into_iter().find(|p| p.name() == name)
}
