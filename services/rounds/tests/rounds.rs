//! The shared loop against a real server: what follows each kind of round.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use outreach_rounds::{run, After, Rounds};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

/// Rounds that answer from a script, one answer a round, and shut the loop down after the
/// last: a round the loop does not come back to leaves the script unfinished.
struct Script {
    answers: Vec<Result<After, &'static str>>,
    done: AtomicUsize,
    shutdown: CancellationToken,
}

impl Rounds for Script {
    const NAME: &'static str = "script";
    type Error = &'static str;

    async fn round(&self) -> Result<After, &'static str> {
        let n = self.done.fetch_add(1, Ordering::SeqCst);
        if n + 1 == self.answers.len() {
            self.shutdown.cancel();
        }
        self.answers[n]
    }
}

/// A pool for the listener only: any database of the test server will do.
fn pool() -> PgPool {
    PgPool::connect_lazy(&format!(
        "{}/postgres",
        outreach_test_support::database_url_base()
    ))
    .unwrap()
}

/// Runs the script with a poll interval of an hour, so that only a round asking for another
/// at once (or a failure's short backoff) reaches the next answer; a minute is ample.
async fn run_script(answers: Vec<Result<After, &'static str>>) -> usize {
    let shutdown = CancellationToken::new();
    let script = Script {
        answers,
        done: AtomicUsize::new(0),
        shutdown: shutdown.clone(),
    };
    let pool = pool();
    let running = run(
        &script,
        &pool,
        "outreach_rounds_test",
        Duration::from_secs(3600),
        shutdown,
    );
    tokio::time::timeout(Duration::from_secs(60), running)
        .await
        .expect("the loop went on through its script");
    script.done.load(Ordering::SeqCst)
}

#[tokio::test]
async fn a_full_round_is_followed_by_the_next_at_once() {
    let rounds = run_script(vec![Ok(After::Again), Ok(After::Again), Ok(After::Wait)]).await;

    assert_eq!(rounds, 3);
}

#[tokio::test]
async fn a_failed_round_is_tried_again_after_a_short_backoff() {
    let rounds = run_script(vec![Err("away"), Err("still away"), Ok(After::Wait)]).await;

    assert_eq!(rounds, 3);
}

#[tokio::test]
async fn a_round_that_waits_is_not_followed_before_the_poll_or_a_notification() {
    let shutdown = CancellationToken::new();
    let script = Script {
        answers: vec![Ok(After::Wait), Ok(After::Wait)],
        done: AtomicUsize::new(0),
        shutdown: CancellationToken::new(),
    };
    let pool = pool();
    let running = tokio::spawn({
        let shutdown = shutdown.clone();
        async move {
            run(
                &script,
                &pool,
                "outreach_rounds_test_wait",
                Duration::from_secs(3600),
                shutdown,
            )
            .await;
            script.done.load(Ordering::SeqCst)
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;

    shutdown.cancel();

    assert_eq!(
        running.await.unwrap(),
        1,
        "one round, then waiting for the hour's poll"
    );
}
