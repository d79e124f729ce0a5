//! The ids of members' aggregates and cases, derived under each member's data key.
//!
//! Only the service, and only while the member's key lives, can name a member's aggregate or
//! their case after a report (see `outreach_domain::ids`): someone who knows whom a report
//! named cannot recompute either, and after the purge destroys the key nobody can. While the
//! key lives, the same report and member always give the same case, so a redelivered report
//! opens nothing twice. After the purge the member gets a new key, hence new ids: a report
//! delivered again then is a stranger's report to the service (see the README).

use std::collections::HashMap;

use outreach_domain::{ids, ReportCommand};
use outreach_events::ReportRef;
use outreach_privacy::{DataKey, DataKeys};
use sqlx::PgPool;
use uuid::Uuid;

use crate::{privacy_unavailable, unavailable, CommandError, CommandSide};

/// The data keys a unit of work has looked up, by staff id, made for members who had none.
#[derive(Default)]
pub(crate) struct MemberKeys(HashMap<String, DataKey>);

impl MemberKeys {
    /// Looks up, in one statement, the keys of those of `staff_ids` not looked up yet.
    pub async fn load(&mut self, pool: &PgPool, staff_ids: &[String]) -> Result<(), CommandError> {
        let mut missing: Vec<String> = staff_ids
            .iter()
            .filter(|id| !self.0.contains_key(*id))
            .cloned()
            .collect();
        missing.sort_unstable();
        missing.dedup();
        if missing.is_empty() {
            return Ok(());
        }
        let mut db = pool.acquire().await.map_err(unavailable)?;
        let keys = DataKeys::on(&mut db)
            .live_keys(&missing)
            .await
            .map_err(privacy_unavailable)?;
        self.0.extend(keys);
        Ok(())
    }

    async fn key(&mut self, pool: &PgPool, staff_id: &str) -> Result<&DataKey, CommandError> {
        self.load(pool, &[staff_id.to_owned()]).await?;
        self.0
            .get(staff_id)
            .ok_or_else(|| CommandError::Unavailable("a member's key was not found".into()))
    }

    /// The member's aggregate id.
    pub async fn member_id(&mut self, pool: &PgPool, staff_id: &str) -> Result<Uuid, CommandError> {
        Ok(self.key(pool, staff_id).await?.derive_id(ids::MEMBER, ""))
    }

    /// The member's case after `report`.
    pub async fn case_id(
        &mut self,
        pool: &PgPool,
        report: &ReportRef,
        staff_id: &str,
    ) -> Result<Uuid, CommandError> {
        let input = ids::case_input(report);
        Ok(self.key(pool, staff_id).await?.derive_id(ids::CASE, &input))
    }

    /// `command` with the case id of every member it names filled in.
    pub async fn identify(
        &mut self,
        pool: &PgPool,
        command: &ReportCommand,
    ) -> Result<ReportCommand, CommandError> {
        let mut command = command.clone();
        let report = command.report().clone();
        let members = match &mut command {
            ReportCommand::Record { members, .. } => members,
            ReportCommand::Amend { added, .. } => added,
            ReportCommand::Withdraw { .. } => return Ok(command),
        };
        let staff: Vec<String> = members.iter().map(|m| m.profile.staff_id.clone()).collect();
        self.load(pool, &staff).await?;
        for member in members.iter_mut() {
            member.case_id = Some(
                self.case_id(pool, &report, &member.profile.staff_id)
                    .await?,
            );
        }
        Ok(command)
    }
}

impl CommandSide {
    /// The member's aggregate id, derived under their live key (made if they have none).
    pub async fn member_id(&self, staff_id: &str) -> Result<Uuid, CommandError> {
        MemberKeys::default().member_id(&self.pool, staff_id).await
    }

    /// The member's case after `report`, derived under their live key (made if they have none).
    pub async fn case_id(&self, report: &ReportRef, staff_id: &str) -> Result<Uuid, CommandError> {
        MemberKeys::default()
            .case_id(&self.pool, report, staff_id)
            .await
    }
}
