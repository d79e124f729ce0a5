//! The domain of peer-outreach: aggregates, their commands, and the pure policies that
//! decide who is offered support. Nothing here touches a database, a broker or a network,
//! so every rule is tested in milliseconds.

pub mod alerts;
pub mod case;
pub mod deadline;
pub mod ids;
pub mod matching;
pub mod member;
pub mod period;
pub mod policy;
pub mod report;
pub mod resources;
pub mod supporter;
pub mod suppression;

pub use case::{CaseCommand, CaseError, CasePolicies, LifecyclePolicy, OutreachCase};
pub use member::{CareTeamMember, MemberCommand, MemberError};
pub use policy::{
    AutoAssignPolicy, EligibilityPolicy, HarmLevel, MatchingPolicy, TriggerPolicy, UrgencyPolicy,
};
pub use report::{InvolvedMember, ReportCommand, ReportError, SafetyReport};
pub use supporter::{PeerSupporter, RosterPolicy, SupporterCommand, SupporterError};
