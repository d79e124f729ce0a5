//! `peer-outreach privacy migrate`: brings what was stored before issue 27 to today's shape, as
//! the owner (the runtime role may not rewrite events), in two passes of one transaction a
//! batch each, resumable after a kill, and doing nothing once done:
//!
//! 1. [`seal`]: the personal parts events kept in the clear are sealed under their member's
//!    live key, or forgotten where the key is gone.
//! 2. [`rename`]: cases and member records keep no id derivable from a staff id. Each old one
//!    (a UUID v5 of the staff id, and of the report for a case) gets the id today's code derives
//!    under its member's live key, so the service finds it as it finds new ones (a redelivered
//!    report opens nothing twice), or a fresh random id where the key is gone. In the same
//!    transaction every other row holding the old id is rewritten ([`held`]: other events,
//!    read models, the outbox, parked commands; [`outbox_ids`]: the outbox's keys derived from
//!    it), and the access audit's entries ([`audit`]), whose hash chain is verified before the
//!    first rename and re-chained after the last, with an entry of its own recording the
//!    rewrite and the head it replaced.
//!
//! What lies outside the database is not reached: messages already on Kafka topics keep the old
//! ids until the topics' retention deletes them (see the README).

pub mod audit;
mod held;
mod outbox_ids;
pub mod progress;
pub mod rename;
pub mod seal;

pub use rename::{rename_batch, to_rename, RenameBatch};
pub use seal::{migrate_batch, to_examine, Batch, Position};
