//! The unit of work of a person's command (or a sweep's): decide on fresh state, store at once,
//! try again against fresh state after a lost write race.

use outreach_domain::CasePolicies;
use sqlx::PgPool;

use super::{decide, execute, Kept, UnitOfWork, CONFLICT_ATTEMPTS};
use crate::event_store::{self, AppendError, NewEvent};
use crate::member_ids::MemberKeys;
use crate::{CommandError, Metadata};

/// Every command is decided on freshly loaded state and its events stored at once, in a
/// transaction of their own. Nothing is held between commands.
pub(crate) struct Immediate<'p> {
    pool: &'p PgPool,
    policies: &'p CasePolicies,
    /// The members' keys looked up, for the ids derived from them.
    keys: MemberKeys,
}

impl<'p> Immediate<'p> {
    pub fn new(pool: &'p PgPool, policies: &'p CasePolicies) -> Self {
        Self {
            pool,
            policies,
            keys: MemberKeys::default(),
        }
    }

    /// Decides `command` once: a lost write race is the caller's to handle.
    pub async fn execute_once<A: Kept>(
        &mut self,
        id: &str,
        command: &A::Command,
        metadata: &Metadata,
    ) -> Result<(), CommandError> {
        execute::<_, A>(self, id, command, metadata, 1).await
    }
}

impl UnitOfWork for Immediate<'_> {
    const ATTEMPTS: u32 = CONFLICT_ATTEMPTS;

    fn member_keys(&mut self) -> (&PgPool, &mut MemberKeys) {
        (self.pool, &mut self.keys)
    }

    /// The aggregate as stored now.
    async fn load<A: Kept>(&mut self, id: &str) -> Result<(A, u64), CommandError> {
        event_store::load_one::<A>(self.pool, id).await
    }

    /// Decides on freshly loaded state and stores the events at once.
    async fn decide_once<A: Kept>(
        &mut self,
        id: &str,
        command: &A::Command,
        metadata: &Metadata,
    ) -> Result<(), AppendError> {
        let (state, version) = event_store::load_one::<A>(self.pool, id).await?;
        let (_, events) = decide(state, command, self.policies).await?;
        if events.is_empty() {
            return Ok(());
        }
        let mut events = NewEvent::numbered::<A>(id, version, events, metadata)?;
        event_store::append_now(self.pool, &mut events).await
    }
}
