//! Rounds of work woken by PostgreSQL notifications: the loop the outbox publishers run, and the
//! pieces every follower of the database shares (the projection runners, intake's retries).
//!
//! A follower does some work (a round), then decides what comes next: another round at once if
//! the round was full, or a wait for a notification on its channel (or for its poll interval,
//! which also covers notifications lost while a listener reconnected), or a growing pause while
//! rounds fail, so that a database or a far end that is away is not asked twice a second.
//! [`Rounds`] is that work, [`run`] that loop ([`every`] for work woken by the clock alone, as
//! `process-managers`' sweeps are);
//! [`Backoff`], [`listen`] and [`notified`] are its parts, for loops of another shape.

use std::future::Future;
use std::time::Duration;

use sqlx::postgres::{PgListener, PgPool, PgPoolOptions};
use tokio_util::sync::CancellationToken;

/// The longest pause after a round that failed.
const MAX_ERROR_BACKOFF: Duration = Duration::from_secs(10);

/// The longest pause between rounds while the far end cannot be reached or refuses.
const MAX_PAUSE: Duration = Duration::from_secs(60);

/// A pause that doubles while failures go on, up to a ceiling, and starts again from its first
/// length once work goes through.
#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
    max: Duration,
}

impl Backoff {
    /// The first pause.
    pub const FIRST: Duration = Duration::from_millis(100);

    /// A backoff from [`Self::FIRST`] up to `max`.
    pub fn up_to(max: Duration) -> Self {
        Self {
            next: Self::FIRST,
            max,
        }
    }

    /// The pause [`Self::wait`] would wait now.
    pub fn current(&self) -> Duration {
        self.next
    }

    /// Work went through: the next failure waits the first pause again.
    pub fn reset(&mut self) {
        self.next = Self::FIRST;
    }

    /// Waits the pause, then doubles it (up to the ceiling). False if shutdown came first.
    pub async fn wait(&mut self, shutdown: &CancellationToken) -> bool {
        self.wait_at_least(Duration::ZERO, self.max, shutdown).await
    }

    /// Waits the pause or `floor`, whichever is longer, then doubles that (up to `max`). False
    /// if shutdown came first.
    pub async fn wait_at_least(
        &mut self,
        floor: Duration,
        max: Duration,
        shutdown: &CancellationToken,
    ) -> bool {
        let pause = self.next.max(floor);
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = shutdown.cancelled() => return false,
        }
        self.next = (pause * 2).min(max);
        true
    }
}

/// A listener for `channel` on a connection of its own, outside `pool`, so that the service's
/// many listeners (one per projection and publisher) never starve the pool that commands and
/// queries use; the listener reconnects by itself. `None` (polling only) if it cannot listen.
pub async fn listen(pool: &PgPool, channel: &str) -> Option<PgListener> {
    let own = PgPoolOptions::new()
        .max_connections(1)
        .connect_lazy_with((*pool.connect_options()).clone());
    let mut listener = PgListener::connect_with(&own).await.ok()?;
    listener.listen(channel).await.ok()?;
    Some(listener)
}

/// Waits for a notification whose payload is `wanted`. Never returns without a listener, or
/// once the listener failed (on a lost connection it reconnects; an error just leaves the
/// follower to its poll).
pub async fn notified(listener: &mut Option<PgListener>, wanted: impl Fn(&str) -> bool) {
    let Some(listener) = listener else {
        return std::future::pending::<()>().await;
    };
    loop {
        match listener.recv().await {
            Ok(notification) if wanted(notification.payload()) => return,
            Ok(_) => {}
            Err(_) => std::future::pending::<()>().await,
        }
    }
}

/// What a round asks for next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum After {
    /// Another round at once: this one was full.
    Again,
    /// A notification, or the poll interval.
    Wait,
    /// A pause of at least the poll interval, growing (up to a minute) while rounds go on
    /// asking for it: the far end cannot be reached or refuses.
    Pause,
}

/// One kind of round.
pub trait Rounds: Sync {
    /// For logs.
    const NAME: &'static str;
    /// The round watches the shutdown itself and stops between its pieces of work: the loop
    /// lets it end so rather than abandon it midway.
    const STOPS_ITSELF: bool = false;
    type Error: std::fmt::Display;

    /// Does the work due now and says what comes next.
    fn round(&self) -> impl Future<Output = Result<After, Self::Error>> + Send;
}

/// Runs `rounds` until `shutdown` is cancelled: every `interval`, at once when `channel` is
/// notified, again straight away after a full round, after a growing pause (up to a minute)
/// while rounds ask for one, and after a growing pause (up to ten seconds) while rounds fail.
/// Stopping abandons the round in hand, unless it [stops itself](Rounds::STOPS_ITSELF).
pub async fn run<R: Rounds>(
    rounds: &R,
    pool: &PgPool,
    channel: &str,
    interval: Duration,
    shutdown: CancellationToken,
) {
    let listener = listen(pool, channel).await;
    rounds_woken_by(rounds, listener, interval, shutdown).await;
}

/// As [`run`], woken by the clock alone: for work no notification announces (the sweeps of
/// `process-managers`, due as time passes).
pub async fn every<R: Rounds>(rounds: &R, interval: Duration, shutdown: CancellationToken) {
    rounds_woken_by(rounds, None, interval, shutdown).await;
}

/// The loop of [`run`] and [`every`]; without a listener, only the interval wakes it.
async fn rounds_woken_by<R: Rounds>(
    rounds: &R,
    mut listener: Option<PgListener>,
    interval: Duration,
    shutdown: CancellationToken,
) {
    let mut backoff = Backoff::up_to(MAX_ERROR_BACKOFF);
    while !shutdown.is_cancelled() {
        let done = if R::STOPS_ITSELF {
            rounds.round().await
        } else {
            tokio::select! {
                done = rounds.round() => done,
                _ = shutdown.cancelled() => break,
            }
        };
        match done {
            Ok(After::Pause) => {
                if !backoff.wait_at_least(interval, MAX_PAUSE, &shutdown).await {
                    break;
                }
                continue;
            }
            Ok(After::Again) => {
                backoff.reset();
                continue;
            }
            Ok(After::Wait) => backoff.reset(),
            Err(error) => {
                tracing::error!(rounds = R::NAME, %error, "round failed; will retry");
                if !backoff.wait(&shutdown).await {
                    break;
                }
                continue;
            }
        }
        tokio::select! {
            _ = notified(&mut listener, |_| true) => {}
            _ = tokio::time::sleep(interval) => {}
            _ = shutdown.cancelled() => break,
        }
    }
    tracing::info!(rounds = R::NAME, "stopped");
}
