//! Process managers: reactions to events and to the passing of time. They decide nothing
//! themselves and write no read model: they issue commands, and the aggregates decide.

pub mod alert_watch;
pub mod auto_assign;
pub mod caseload_keeper;
pub mod deadline_watch;
pub mod retention_purge;
pub mod statistics_schedule;
pub mod sweep;

pub use alert_watch::AlertWatch;
pub use auto_assign::AutoAssign;
pub use caseload_keeper::CaseloadKeeper;
pub use deadline_watch::DeadlineWatch;
pub use retention_purge::RetentionPurge;
pub use statistics_schedule::StatisticsSchedule;
