//! The command side: runs domain commands against aggregates stored in PostgreSQL.
//!
//! Commands are decided by the domain's cqrs-es aggregates inside a unit of work: a person's
//! command is stored at once, retried on a lost write race against freshly loaded state (as
//! postgres-es reports a concurrent write as a conflict and does not retry); intake's reports
//! are decided many at a time and stored in one transaction per batch (see `reports`), which
//! is what lets a backlog replay at more than one commit per named member.

use std::collections::HashMap;

use cqrs_es::AggregateError;
use outreach_domain::{
    CaseError, CasePolicies, InvolvedMember, MemberError, ReportError, SupporterError,
};
use outreach_events::TriggerKind;
use sqlx::PgPool;
use uuid::Uuid;

mod cases;
mod event_store;
mod member_ids;
mod members;
mod parked;
mod purge;
mod reports;
mod unit_of_work;
pub use cases::RosterChange;
pub use purge::Purge;
pub use reports::ReportMessage;

use unit_of_work::{Deferred, Immediate};

#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// A domain rule refused the command; retrying will not help.
    #[error("refused by rule {rule}: {detail}")]
    Refused { rule: &'static str, detail: String },
    /// Lost the write race on an aggregate this many times in a row.
    #[error("the {aggregate} aggregate kept changing underneath the command")]
    Conflict { aggregate: &'static str },
    /// The caller acted on a version of the aggregate that is no longer current.
    #[error("the case has changed: it is at version {current}")]
    StaleVersion { current: u64 },
    /// The event store could not be reached or answered unexpectedly; worth retrying later.
    #[error("event store unavailable: {0}")]
    Unavailable(String),
}

impl CommandError {
    pub fn is_transient(&self) -> bool {
        !matches!(
            self,
            CommandError::Refused { .. } | CommandError::StaleVersion { .. }
        )
    }
}

/// Domain errors that can name the rule that refused a command.
pub(crate) trait Rule: std::error::Error {
    fn rule(&self) -> &'static str;
}

impl Rule for CaseError {
    fn rule(&self) -> &'static str {
        CaseError::rule(self)
    }
}

impl Rule for MemberError {
    fn rule(&self) -> &'static str {
        MemberError::rule(self)
    }
}

impl Rule for ReportError {
    fn rule(&self) -> &'static str {
        ReportError::rule(self)
    }
}

impl Rule for SupporterError {
    fn rule(&self) -> &'static str {
        SupporterError::rule(self)
    }
}

fn classify<E: Rule>(error: AggregateError<E>, aggregate: &'static str) -> CommandError {
    match error {
        AggregateError::UserError(e) => CommandError::Refused {
            rule: e.rule(),
            detail: e.to_string(),
        },
        AggregateError::AggregateConflict => CommandError::Conflict { aggregate },
        other => CommandError::Unavailable(other.to_string()),
    }
}

/// Correlates stored events with what caused them (e.g. the inbound message id).
pub type Metadata = HashMap<String, String>;

pub struct CommandSide {
    pool: PgPool,
    policies: CasePolicies,
}

/// A member referred for support by themselves, a colleague or a supervisor.
#[derive(Debug, Clone)]
pub struct Referral {
    /// The client's idempotency key: the same referral sent twice opens one case.
    pub referral_id: Uuid,
    pub trigger: TriggerKind,
    pub campus: String,
    pub unit: String,
    pub member: InvolvedMember,
    pub at: chrono::DateTime<chrono::Utc>,
    /// The member's contact details are the referrer's suggestion (a colleague the program has
    /// no record of, referred by someone not on its staff): held until the staff confirm them.
    pub contact_to_confirm: bool,
}

/// What became of a report command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handled {
    /// Applied, with this many case commands following from it.
    Applied { case_commands: usize },
    /// Its report has not been recorded yet: it waits, and is applied when the report comes.
    Parked,
}

/// A database failure around the event store: worth retrying later.
fn unavailable(error: sqlx::Error) -> CommandError {
    CommandError::Unavailable(error.to_string())
}

/// Sealing or opening personal data failed (the key store, or a corrupt envelope). The
/// error names no personal datum.
fn privacy_unavailable(error: outreach_privacy::PrivacyError) -> CommandError {
    CommandError::Unavailable(error.to_string())
}

/// Where a trigger for a member ended up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outreach {
    /// A case was opened (or had been, for a repeated trigger).
    Opened(Uuid),
    /// The member's open case took the trigger in.
    Linked(Uuid),
    /// The member opted out of automatic outreach.
    Skipped,
}

impl CommandSide {
    /// Projections are not registered with cqrs-es: they follow the event store themselves
    /// in commit order (see the projections crate), so nothing here dispatches queries.
    pub fn new(pool: PgPool, policies: CasePolicies) -> Self {
        Self { pool, policies }
    }

    /// The policies commands are decided under.
    pub fn policies(&self) -> &CasePolicies {
        &self.policies
    }

    /// A unit of work whose every command is stored as soon as it is decided.
    fn immediate(&self) -> Immediate<'_> {
        Immediate::new(&self.pool, &self.policies)
    }

    /// A unit of work whose commands are stored together by its commit.
    fn deferred(&self) -> Deferred<'_> {
        Deferred::new(&self.pool, &self.policies)
    }
}
