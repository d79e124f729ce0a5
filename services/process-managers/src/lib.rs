//! Process managers: reactions to events and to the passing of time. They decide nothing
//! themselves and write no read model: they issue commands, and the aggregates decide.

pub mod deadline_watch;

pub use deadline_watch::DeadlineWatch;
