//! Which instance drives each projection: the one whose database session holds the
//! projection's advisory lock. One connection per instance holds all of that instance's locks;
//! when the instance dies (or loses that connection), PostgreSQL ends the session, the locks are
//! free, and a standby takes each one at its next attempt, within one interval.
//!
//! Leadership is an economy, not what keeps read models right: each batch locks the
//! projection's checkpoint row in its own transaction (see the runner), so two instances that
//! briefly both believe they lead (one whose connection just broke and has not noticed yet)
//! still apply every event once, in order.

use std::time::Duration;

use sqlx::{PgConnection, PgPool};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// How often a standby tries the locks it does not hold, and a leader checks its session.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);

/// The locks this instance competes for, one per projection, and who is told the outcome.
pub struct Leadership {
    pool: PgPool,
    interval: Duration,
    roles: Vec<(&'static str, watch::Sender<bool>)>,
}

/// A runner's view of its projection's leadership.
#[derive(Clone)]
pub struct Lead(watch::Receiver<bool>);

impl Lead {
    /// Always leading: for a runner that is the only one (tests, a one-off rebuild).
    pub fn alone() -> Lead {
        Lead(watch::channel(true).1)
    }

    pub fn is_leading(&self) -> bool {
        *self.0.borrow()
    }

    /// Resolves when leadership changes hands (either way), or never once the instance's
    /// leadership task has stopped.
    pub async fn changed(&mut self) {
        if self.0.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

impl Leadership {
    pub fn new(pool: PgPool, interval: Duration) -> Self {
        Leadership {
            pool,
            interval,
            roles: Vec::new(),
        }
    }

    /// Competes for `projection`'s lock; the runner follows the returned [`Lead`].
    pub fn compete_for(&mut self, projection: &'static str) -> Lead {
        let (sender, receiver) = watch::channel(false);
        self.roles.push((projection, sender));
        Lead(receiver)
    }

    /// Holds and takes locks until `shutdown`, then lets them go at once (closing the session)
    /// so a standby need not wait for the database to notice.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut session: Option<PgConnection> = None;
        loop {
            if let Err(error) = self.round(&mut session).await {
                tracing::warn!(%error, "lost the session that holds projection leadership; standing by");
                // The session's locks are gone with it (or will be when the server notices).
                session = None;
                self.step_down();
            }
            tokio::select! {
                _ = tokio::time::sleep(self.interval) => {}
                _ = shutdown.cancelled() => break,
            }
        }
        self.step_down();
        if let Some(session) = session {
            // Closing the session releases every lock it holds.
            let _ = sqlx::Connection::close(session).await;
        }
    }

    /// Tries the locks not held yet; when all are held, checks the session is alive.
    async fn round(&self, session: &mut Option<PgConnection>) -> Result<(), sqlx::Error> {
        let db = match session {
            Some(db) => db,
            None => session.insert(self.pool.acquire().await?.detach()),
        };
        let mut asked = false;
        for (projection, leading) in &self.roles {
            if *leading.borrow() {
                continue;
            }
            asked = true;
            let taken: bool =
                sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtextextended($1, 0))")
                    .bind(lock_name(projection))
                    .fetch_one(&mut *db)
                    .await?;
            if taken {
                tracing::info!(projection, "this instance now drives the projection");
                leading.send_replace(true);
            }
        }
        if !asked {
            sqlx::query("SELECT 1").execute(&mut *db).await?;
        }
        Ok(())
    }

    fn step_down(&self) {
        for (_, leading) in &self.roles {
            leading.send_replace(false);
        }
    }
}

/// The advisory lock's name: in its own namespace, apart from the sweeps' and reports' locks.
fn lock_name(projection: &str) -> String {
    format!("peer-outreach projection {projection}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::TestDb;

    const FAST: Duration = Duration::from_millis(50);

    async fn until(lead: &Lead, leading: bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while lead.is_leading() != leading {
            assert!(
                tokio::time::Instant::now() < deadline,
                "leadership never became {leading}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    #[tokio::test]
    async fn one_instance_drives_a_projection_and_another_takes_over_when_it_stops() {
        let db = TestDb::new().await;
        let mut first = Leadership::new(db.db.pool.clone(), FAST);
        let first_outreach = first.compete_for("outreach");
        let first_matching = first.compete_for("matching");
        let first_stop = CancellationToken::new();
        let first_task = tokio::spawn(first.run(first_stop.clone()));
        until(&first_outreach, true).await;
        until(&first_matching, true).await;

        let mut second = Leadership::new(db.db.pool.clone(), FAST);
        let second_outreach = second.compete_for("outreach");
        let second_statistics = second.compete_for("statistics");
        let second_stop = CancellationToken::new();
        let second_task = tokio::spawn(second.run(second_stop.clone()));
        // A projection nobody drives yet is taken at once; one already driven is not.
        until(&second_statistics, true).await;
        tokio::time::sleep(FAST * 5).await;
        assert!(!second_outreach.is_leading());
        assert!(first_outreach.is_leading());

        first_stop.cancel();
        first_task.await.unwrap();
        assert!(!first_outreach.is_leading());
        until(&second_outreach, true).await;

        second_stop.cancel();
        second_task.await.unwrap();
    }

    #[tokio::test]
    async fn an_instance_whose_session_is_ended_stands_down_and_leads_again_when_it_can() {
        let db = TestDb::new().await;
        let mut leadership = Leadership::new(db.db.pool.clone(), FAST);
        let lead = leadership.compete_for("outreach");
        let stop = CancellationToken::new();
        let task = tokio::spawn(leadership.run(stop.clone()));
        until(&lead, true).await;

        // As a database restart would: the session holding the lock is terminated.
        sqlx::query(
            "SELECT pg_terminate_backend(pid) FROM pg_locks
              WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
        )
        .execute(&db.db.pool)
        .await
        .unwrap();
        until(&lead, false).await;
        until(&lead, true).await;

        stop.cancel();
        task.await.unwrap();
    }
}
