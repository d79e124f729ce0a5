//! The contracts of peer-outreach: the domain events every aggregate records.
//!
//! Two rules shape every type here:
//! - **No clinical detail has a place to live.** There is no field for a patient, a narrative,
//!   a diagnosis, a harm level or a room. Intake drops those before anything is built.
//! - **Personal data sits in its own parts of each event** (`personal`, a case opening's
//!   member, the staff ids of a member's record and of a report), apart from the facts, so that
//!   it is stored sealed under the member's key and purged with it without touching the facts
//!   that statistics and read models are built from.

pub mod author;
pub mod care_team_member;
pub mod case;
mod gone;
pub mod lifecycle;
pub mod member;
pub mod report;
pub mod supporter;

pub use case::{CancelReason, CaseCancelled, CaseEvent, CaseOpened, CaseOpenedFacts};
pub use member::{Channel, Discipline, Involvement, MemberContact, MemberProfile, Seniority};
pub use report::{ReportEvent, ReportMember, ReportRef, Revision, TriggerKind};

/// The versions events are written at today; cqrs-es stores them beside each payload so that
/// later readers can upcast old shapes.
pub const CURRENT_VERSION: &str = "1";
