//! Purging a member's personal data: the member aggregate decides, then the key goes.

use chrono::{DateTime, Duration, Utc};
use outreach_domain::MemberCommand;
use outreach_privacy::DataKeys;

use outreach_domain::CareTeamMember;

use crate::unit_of_work::UnitOfWork;
use crate::{privacy_unavailable, unavailable, CommandError, CommandSide, Metadata};

/// What became of a purge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purge {
    /// `PersonalDataPurged` is recorded and the key destroyed.
    Purged { key_id: uuid::Uuid },
    /// The member has no live key: nothing personal of theirs is stored sealed.
    NoKey,
    /// Recorded, but the member's record has personal data again since (a new case or new
    /// preferences, sealed under the same key): the key stays until that is purged in turn.
    KeyStillNeeded,
}

impl CommandSide {
    /// Purges a member's personal data if the member aggregate finds the retention period
    /// over (a refusal says why not), then destroys their data key.
    ///
    /// The event comes first: a crash before the key is destroyed leaves a purge that the
    /// next sweep repeats (a no-op for the same key) and then destroys the key. The key is
    /// destroyed under the member's key lock, and only if nothing personal was recorded
    /// since the purge: sealing holds the same lock until its events are stored, so no event
    /// sealed under this key can appear after the check.
    pub async fn purge_member(
        &self,
        staff_id: &str,
        retention: Duration,
        at: DateTime<Utc>,
        metadata: &Metadata,
    ) -> Result<Purge, CommandError> {
        let mut db = self.pool.acquire().await.map_err(unavailable)?;
        let Some(key_id) = DataKeys::on(&mut db)
            .live_key_id(staff_id)
            .await
            .map_err(privacy_unavailable)?
        else {
            return Ok(Purge::NoKey);
        };
        drop(db);
        let mut work = self.immediate();
        let member_id = work.member_id(staff_id).await?;
        if work.load::<CareTeamMember>(&member_id).await?.1 == 0 {
            return self
                .purge_unrecorded(&mut work, staff_id, &member_id, key_id, retention, at)
                .await;
        }
        let purge = MemberCommand::PurgePersonalData {
            staff_id: staff_id.to_owned(),
            key_id,
            retention,
            at,
        };
        work.execute::<CareTeamMember>(&member_id, &purge, metadata)
            .await?;

        let mut tx = self.pool.begin().await.map_err(unavailable)?;
        DataKeys::on(&mut tx)
            .hold_for_purge(staff_id)
            .await
            .map_err(privacy_unavailable)?;
        let (member, _) = work.load::<CareTeamMember>(&member_id).await?;
        if member.purged_key() != Some(key_id) {
            tx.rollback().await.map_err(unavailable)?;
            tracing::info!("personal data recorded since the purge; the member's key stays");
            return Ok(Purge::KeyStillNeeded);
        }
        DataKeys::on(&mut tx)
            .destroy(key_id)
            .await
            .map_err(privacy_unavailable)?;
        tx.commit().await.map_err(unavailable)?;
        tracing::info!(%key_id, "a member's personal data was purged");
        Ok(Purge::Purged { key_id })
    }

    /// The purge of a member with a key and nothing on their own record: the key was made for
    /// reports that named them and opened them no case, or for one that was then refused (the
    /// key is made before a report is decided). There is no change of theirs to date the
    /// retention period from, so it runs from the last time the key sealed anything (a day is
    /// allowed, as that time is kept to the day); once it is over the key is destroyed, and
    /// what it sealed in those reports with it. Nothing is recorded: the member has no record
    /// to record it on.
    ///
    /// Checked again under the member's key lock: sealing holds it until its events are stored,
    /// so a case opened or a report recorded meanwhile is seen and the key stays.
    async fn purge_unrecorded(
        &self,
        work: &mut impl UnitOfWork,
        staff_id: &str,
        member_id: &str,
        key_id: uuid::Uuid,
        retention: Duration,
        at: DateTime<Utc>,
    ) -> Result<Purge, CommandError> {
        let over = |last_sealed: Option<DateTime<Utc>>| {
            last_sealed.is_some_and(|sealed| sealed + retention + Duration::days(1) <= at)
        };
        let mut tx = self.pool.begin().await.map_err(unavailable)?;
        let mut keys = DataKeys::on(&mut tx);
        if !over(
            keys.last_sealed(key_id)
                .await
                .map_err(privacy_unavailable)?,
        ) {
            return Err(retention_not_over());
        }
        keys.hold_for_purge(staff_id)
            .await
            .map_err(privacy_unavailable)?;
        let last_sealed = keys
            .last_sealed(key_id)
            .await
            .map_err(privacy_unavailable)?;
        if work.load::<CareTeamMember>(member_id).await?.1 != 0 {
            tx.rollback().await.map_err(unavailable)?;
            return Ok(Purge::KeyStillNeeded);
        }
        if !over(last_sealed) {
            return Err(retention_not_over());
        }
        let destroyed = DataKeys::on(&mut tx)
            .destroy(key_id)
            .await
            .map_err(privacy_unavailable)?;
        tx.commit().await.map_err(unavailable)?;
        if !destroyed {
            return Ok(Purge::NoKey);
        }
        tracing::info!(%key_id, "the key of a member with no record was purged");
        Ok(Purge::Purged { key_id })
    }
}

fn retention_not_over() -> CommandError {
    CommandError::Refused {
        rule: "retention-period-not-over",
        detail: "the member's key sealed something within the retention period".into(),
    }
}
