//! Projections: events in, read-model rows out.
//!
//! Each projection follows the event store on its own, in a gap-free commit order, and moves
//! its checkpoint in the same transaction as the rows it writes. A crash therefore never loses
//! or repeats an update, and any read model can be dropped and rebuilt from the events. cqrs-es's
//! in-process query dispatch is not used: it runs after commit (a crash in between loses the
//! update) and its replay is not in commit order.

pub mod alert_messages;
mod assignment_notices;
pub mod candidates;
mod case_row;
mod case_timeline;
mod director_notices;
mod error;
mod feedback_invitations;
pub mod feedback_links;
pub mod feedback_report;
pub mod gauges;
mod group_debriefs;
pub mod leadership;
mod matching;
mod member_languages;
pub mod outbox;
mod outreach;
mod program_alerts;
mod purge;
mod resource_sheets;
mod runner;
mod statistics;
pub mod statistics_publication;
pub mod statistics_report;
mod stored_event;
#[cfg(test)]
mod testing;

pub use assignment_notices::{AssignmentNotices, ASSIGNMENT, ASSIGNMENT_EMAIL};
pub use case_row::{CaseRow, CaseStatus, Decision, SuggestedContact};
pub use case_timeline::CaseTimeline;
pub use director_notices::{outbox_id_named, DirectorNotices};
pub use error::ProjectionError;
pub use feedback_invitations::{
    FeedbackInvitations, DEFAULT_FEEDBACK_LINK_BASE, FEEDBACK_INVITATION,
};
pub use group_debriefs::GroupDebriefs;
pub use leadership::{Lead, Leadership};
pub use matching::MatchingProjection;
pub use outreach::OutreachProjection;
pub use program_alerts::ProgramAlerts;
pub use resource_sheets::{ResourceSheets, RESOURCE_SHEET};
pub use runner::{ProjectionRunner, RunnerSettings};
pub use statistics::StatisticsProjection;
pub use stored_event::{open_personal, StoredEvent};

use std::sync::Arc;

use async_trait::async_trait;
use sqlx::PgConnection;

/// The stored types of every outreach case event, then `more`: what a read model of whole cases
/// reads. `N` is their number (`CaseEvent::TYPES.len()` and the others), checked as it compiles.
pub(crate) const fn case_event_types_and<const N: usize>(
    more: &[&'static str],
) -> [&'static str; N] {
    let case = outreach_events::CaseEvent::TYPES;
    assert!(case.len() + more.len() == N, "N counts every type");
    let mut types = [""; N];
    let mut i = 0;
    while i < N {
        types[i] = if i < case.len() {
            case[i]
        } else {
            more[i - case.len()]
        };
        i += 1;
    }
    types
}

/// The events a projection reads, by stored type. The runner fetches only these (the others
/// never leave the database) and hands them over in batches; the checkpoint still moves over
/// every event.
#[derive(Debug, Clone, Copy)]
pub struct Reads {
    pub event_types: &'static [&'static str],
    /// Of those, the types whose members' personal data it reads: their sealed parts are opened
    /// per batch. Those of the others are set aside unopened (as if purged), which spares a
    /// decryption per event.
    pub personal_data_of: &'static [&'static str],
}

/// A read model kept up to date from the event store.
///
/// A batch is applied as a whole: load the rows it touches (one query per table), fold its
/// events into them in memory, write them back (one set-based statement per table). Nothing
/// is half-applied: an event it cannot read fails the batch, which is rolled back.
#[async_trait]
pub trait Projection: Send + Sync {
    /// The name its checkpoint is kept under, and that `projections rebuild NAME` takes.
    fn name(&self) -> &'static str;

    /// The event types it reads.
    fn reads(&self) -> Reads;

    /// Whether people watch this read model change as it happens: program managers watch
    /// cases open. Its runner applies each append as soon as it is visible; the others gather
    /// appends for a moment first (`RunnerSettings::gather`), in fewer, larger batches.
    fn watched_live(&self) -> bool {
        false
    }

    /// Empties the read model so it can be rebuilt from the first event.
    async fn reset(&self, db: &mut PgConnection) -> Result<(), ProjectionError>;

    /// Applies `events`, in commit order, each of a type it [`reads`](Self::reads). Runs
    /// inside the batch's transaction; must derive everything it writes from the events (never
    /// from the clock), so a rebuild gives the same rows.
    async fn apply(
        &self,
        db: &mut PgConnection,
        events: &[StoredEvent],
    ) -> Result<(), ProjectionError>;
}

/// Empties a read model's tables for a rebuild, in the reset's transaction. `TRUNCATE`, not
/// `DELETE`: a `DELETE` writes every row to the WAL and leaves it dead in the table and its
/// indexes until a vacuum, and the rebuild that follows brings back the same keys, so each of its
/// lookups and unique checks steps over the dead copy first (a second rebuild on 1.2M events ran
/// 12-18% slower than the first). Its exclusive lock keeps readers out only until the reset
/// commits.
pub(crate) async fn empty(db: &mut PgConnection, tables: &[&str]) -> Result<(), ProjectionError> {
    sqlx::query(&format!("TRUNCATE {}", tables.join(", ")))
        .execute(db)
        .await?;
    Ok(())
}

/// The span of one event's application, continuing the trace of the command that stored it.
/// Entered around the in-memory fold of the event; cheap when no subscriber wants it.
pub(crate) fn applying(projection: &'static str, event: &StoredEvent) -> tracing::Span {
    let span = tracing::info_span!(
        "projection.apply",
        projection,
        event_type = %event.event_type,
        aggregate_type = %event.aggregate_type,
        aggregate_id = %event.aggregate_id,
        sequence = event.sequence,
    );
    if !span.is_disabled() {
        outreach_telemetry::continue_trace(&span, event.trace_context());
    }
    span
}

/// The rows of `now` a batch must write: those `loaded` lacks (new to the read model), and those
/// it holds otherwise (changed). New rows go in as plain inserts: the batch holds its
/// projection's checkpoint lock, so nothing else writes them meanwhile, and a plain insert
/// spares PostgreSQL the speculative insertion of `ON CONFLICT` (a third of a rebuild's writes).
pub(crate) fn new_and_changed<'a, K: Eq + std::hash::Hash, T: PartialEq>(
    loaded: &std::collections::HashMap<K, T>,
    now: &'a std::collections::HashMap<K, T>,
) -> (Vec<&'a T>, Vec<&'a T>) {
    let (mut new, mut changed) = (Vec::new(), Vec::new());
    for (key, row) in now {
        match loaded.get(key) {
            None => new.push(row),
            Some(before) if before != row => changed.push(row),
            Some(_) => {}
        }
    }
    (new, changed)
}

/// The name a code is stored and published under: its serde name, as in the event payload
/// (e.g. `danger_to_self_or_others`).
pub(crate) fn code_name<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default()
}

/// A name, address or place on one line: control characters (a line break in a source
/// system's field) become spaces, so nothing can add lines or headers of its own to a message.
pub(crate) fn one_line(value: &str) -> String {
    value
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_string()
}

/// What the projections are built with: the program's policies (statistics count time in its
/// working calendar), where feedback links point, who is alerted and paged, and the resource
/// sheet.
#[derive(Debug, Clone)]
pub struct Setup {
    pub policies: outreach_domain::CasePolicies,
    /// The start of feedback links: a link is `{feedback_link_base}/{token}`.
    pub feedback_link_base: String,
    /// Whom the program alerts reach, and how (`[alerts]`, `[paging]`).
    pub alerts: alert_messages::AlertSetup,
    /// The directory the resource sheet lists (`[resources]`).
    pub resources: outreach_domain::resources::ResourceDirectory,
    /// The language of what members are sent when they stated none the program speaks.
    pub default_language: outreach_texts::Language,
}

impl Default for Setup {
    fn default() -> Self {
        Self {
            policies: Default::default(),
            feedback_link_base: DEFAULT_FEEDBACK_LINK_BASE.to_owned(),
            alerts: Default::default(),
            resources: Default::default(),
            default_language: Default::default(),
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
        Arc::new(
            FeedbackInvitations::new(&setup.feedback_link_base)
                .with_default_language(setup.default_language),
        ),
        Arc::new(GroupDebriefs),
        Arc::new(MatchingProjection),
        Arc::new(CaseTimeline),
        Arc::new(
            ResourceSheets::new(&setup.resources).with_default_language(setup.default_language),
        ),
        Arc::new(ProgramAlerts::new(setup.alerts.clone())),
    ]
}

pub fn by_name(name: &str, setup: &Setup) -> Option<Arc<dyn Projection>> {
    all(setup).into_iter().find(|p| p.name() == name)
}
