//! The webhook channel: outbox rows with `channel = 'webhook'` (pages, and their resolves)
//! POSTed as JSON to the paging integration a hospital plugs in, in the PagerDuty Events API v2
//! shape: `{routing_key, event_action, dedup_key, payload: {summary, source, severity}, links}`.
//! The row holds the event less its `routing_key`, a secret of the configuration added here.
//!
//! Delivery is at least once, with the round shape of the e-mail channel (rows locked
//! `FOR UPDATE SKIP LOCKED`, oldest first, one at a time, marked published in the round's
//! transaction once answered 2xx). Repeats are harmless at the far end: `dedup_key` is the case
//! id, so a second trigger joins the first incident, and each request carries the row id as
//! `Idempotency-Key` for receivers that dedupe on it.
//!
//! Each request has a connect timeout and an overall timeout; redirects are not followed (a POST
//! should not wander); at most [`MAX_ANSWER`] bytes of an answer are read, then the rest is
//! dropped. A transient failure (no connection, a timeout, 408, 429, 5xx) is tried again within
//! the send, after 0.25 s and 0.5 s (or the `Retry-After` a 429 or 503 asks for, up to 5 s);
//! still failing, it ends the round and the publisher backs off (up to a minute) before the
//! next. Any other answer (a 4xx: the receiver refuses this event) costs the row an attempt and
//! the round goes on; refused rows are retried like the rest, their `attempts` counting.
//!
//! Logs name rows by id and kind, and answers by status only: the body a receiver sends back is
//! never logged.

use std::fmt;
use std::time::Duration;

use reqwest::header::{HeaderValue, RETRY_AFTER};
use reqwest::StatusCode;
use serde::Deserialize;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::{Channel, Failure, OutboundError, OutboxRow, Round};

/// Rows sent per round, unless told otherwise.
pub const DEFAULT_BATCH: i64 = 20;

/// The most of an answer read (and thrown away) before the connection is dropped.
pub const MAX_ANSWER: usize = 4096;

/// Tries per row within one round.
const TRIES: u32 = 3;

/// The longest `Retry-After` honoured within a round; a longer one waits for a later round.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(5);

/// `[paging.webhook]`: where pages are POSTed.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    /// The endpoint, e.g. `https://events.pagerduty.com/v2/enqueue`.
    pub url: String,
    /// The integration's routing key, sent in each event. Give it through the environment
    /// (`PEER_OUTREACH__PAGING__WEBHOOK__ROUTING_KEY`), not in a file.
    pub routing_key: String,
    /// The longest a request may take, connecting included.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
}

fn default_timeout_ms() -> u64 {
    10_000
}

/// Written by hand so the routing key never reaches a log through `{:?}`.
impl fmt::Debug for WebhookSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookSettings")
            .field("url", &self.url)
            .field("routing_key", &"<redacted>")
            .field("timeout_ms", &self.timeout_ms)
            .finish()
    }
}

/// Sends the outbox's `webhook` rows to one endpoint.
pub struct WebhookPublisher {
    pub pool: PgPool,
    client: reqwest::Client,
    url: url::Url,
    routing_key: String,
    /// How long to wait for new rows (or a notification of them) between rounds.
    pub interval: Duration,
    /// Rows sent per round.
    pub batch: i64,
    /// The first pause between tries of a row within a round (doubling after each).
    pub retry_after: Duration,
}

impl WebhookPublisher {
    /// A publisher to the endpoint `settings` describe. Fails on settings that cannot work (an
    /// address that is not an http(s) URL, an empty routing key); connects only when sending.
    pub fn new(
        pool: PgPool,
        settings: &WebhookSettings,
        interval: Duration,
    ) -> Result<Self, OutboundError> {
        let invalid = |what: &str| OutboundError::WebhookSettings(what.to_string());
        let url = url::Url::parse(&settings.url)
            .ok()
            .filter(|url| matches!(url.scheme(), "https" | "http"))
            .ok_or_else(|| invalid("`url` is not an http(s) URL"))?;
        if settings.routing_key.trim().is_empty() {
            return Err(invalid("`routing_key` is empty"));
        }
        let timeout = Duration::from_millis(settings.timeout_ms.max(1));
        let client = reqwest::Client::builder()
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent("peer-outreach")
            .build()
            .map_err(|_| invalid("the HTTP client cannot be set up"))?;
        Ok(Self {
            pool,
            client,
            url,
            routing_key: settings.routing_key.clone(),
            interval,
            batch: DEFAULT_BATCH,
            retry_after: Duration::from_millis(250),
        })
    }

    /// Publishes until `shutdown` is cancelled, as the e-mail publisher does (see
    /// [`crate::email::EmailPublisher::run`]).
    pub async fn run(self, shutdown: CancellationToken) {
        outreach_rounds::run(
            &self,
            &self.pool,
            crate::OUTBOX_CHANNEL,
            self.interval,
            shutdown,
        )
        .await
    }

    /// Sends up to `batch` unpublished `webhook` rows, oldest first, one after the other: each
    /// is marked published once the endpoint answered 2xx, or has its attempts counted.
    pub async fn publish_round(&self) -> Result<Round, OutboundError> {
        crate::sequential_round(&self.pool, Channel::Webhook, self.batch, self).await
    }

    /// Sends one row, trying a transient failure again (with a growing pause) up to [`TRIES`]
    /// times.
    async fn send_with_retries(&self, row: &OutboxRow) -> Result<(), Failure> {
        let mut body = row.payload.clone();
        let Some(event) = body.as_object_mut() else {
            return Err(Failure::of_row("payload is not a JSON object"));
        };
        event.insert("routing_key".into(), self.routing_key.clone().into());
        let mut pause = self.retry_after;
        let mut tries = 0;
        loop {
            tries += 1;
            match self.post(row, &body).await {
                Ok(()) => return Ok(()),
                Err(Attempt::Refused(failure)) => return Err(failure),
                Err(Attempt::Transient(failure, asked)) => {
                    if tries >= TRIES {
                        return Err(failure);
                    }
                    let wait = asked.unwrap_or(pause).min(MAX_RETRY_AFTER);
                    tracing::debug!(id = %row.id, reason = %failure.reason, ?wait,
                        "page not delivered; trying again");
                    tokio::time::sleep(wait).await;
                    pause *= 2;
                }
            }
        }
    }

    /// One POST and its answer, read up to [`MAX_ANSWER`] bytes.
    async fn post(&self, row: &OutboxRow, body: &serde_json::Value) -> Result<(), Attempt> {
        let key = HeaderValue::from_str(&row.id.to_string()).expect("a UUID is a header value");
        let mut response = self
            .client
            .post(self.url.clone())
            .header("Idempotency-Key", key)
            .json(body)
            .send()
            .await
            .map_err(|error| {
                let class = if error.is_timeout() {
                    "timed out"
                } else if error.is_connect() {
                    "could not connect"
                } else {
                    "request failed"
                };
                Attempt::Transient(Failure::of_transport(class), None)
            })?;
        let status = response.status();
        let asked = retry_after(response.headers().get(RETRY_AFTER));
        // Read a little of the answer (so the connection can be reused), never all of it.
        let mut read = 0;
        while read < MAX_ANSWER {
            match response.chunk().await {
                Ok(Some(chunk)) => read += chunk.len(),
                _ => break,
            }
        }
        drop(response);
        if status.is_success() {
            return Ok(());
        }
        let failure = Failure {
            reason: format!("answered {}", status.as_u16()),
            ends_round: true,
        };
        if status == StatusCode::REQUEST_TIMEOUT
            || status == StatusCode::TOO_MANY_REQUESTS
            || status.is_server_error()
        {
            Err(Attempt::Transient(failure, asked))
        } else {
            Err(Attempt::Refused(Failure {
                ends_round: false,
                ..failure
            }))
        }
    }
}

impl crate::SendsOneByOne for WebhookPublisher {
    async fn send(&self, row: &OutboxRow) -> Result<(), Failure> {
        self.send_with_retries(row).await
    }
}

/// How one POST went wrong.
enum Attempt {
    /// Worth trying again soon (after the pause the server asked for, if any).
    Transient(Failure, Option<Duration>),
    /// The receiver refuses this event; trying again at once will not help.
    Refused(Failure),
}

impl Failure {
    fn of_transport(class: &str) -> Self {
        Failure {
            reason: format!("webhook {class}"),
            ends_round: true,
        }
    }
}

/// A `Retry-After` in seconds (the HTTP-date form is not honoured: the backoff applies).
fn retry_after(value: Option<&HeaderValue>) -> Option<Duration> {
    let seconds: u64 = value?.to_str().ok()?.trim().parse().ok()?;
    Some(Duration::from_secs(seconds))
}

impl outreach_rounds::Rounds for WebhookPublisher {
    const NAME: &'static str = "outbox publisher (webhook)";
    type Error = OutboundError;

    /// A round, then the backlog; a pause after a failed row.
    async fn round(&self) -> Result<outreach_rounds::After, OutboundError> {
        let round = self.publish_round().await?;
        crate::record_backlog(&self.pool, Channel::Webhook).await;
        Ok(crate::after_sequential(round, self.batch))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(url: &str) -> WebhookSettings {
        WebhookSettings {
            url: url.into(),
            routing_key: "R0UTING".into(),
            timeout_ms: 1000,
        }
    }

    fn lazy_pool() -> PgPool {
        sqlx::postgres::PgPoolOptions::new()
            .connect_lazy("postgres://postgres@127.0.0.1:1/unused")
            .unwrap()
    }

    #[test]
    fn the_routing_key_never_shows_in_debug_output() {
        let shown = format!("{:?}", settings("https://events.example/v2/enqueue"));
        assert!(!shown.contains("R0UTING"), "{shown}");
    }

    #[tokio::test]
    async fn settings_that_cannot_work_are_refused_at_start() {
        let interval = Duration::from_secs(1);
        assert!(
            WebhookPublisher::new(lazy_pool(), &settings("https://e.example/v2"), interval).is_ok()
        );
        for url in ["ftp://e.example/", "not a url", "file:///etc/passwd"] {
            assert!(
                WebhookPublisher::new(lazy_pool(), &settings(url), interval).is_err(),
                "{url}"
            );
        }
        let keyless = WebhookSettings {
            routing_key: " ".into(),
            ..settings("https://e.example/v2")
        };
        assert!(WebhookPublisher::new(lazy_pool(), &keyless, interval).is_err());
    }

    #[test]
    fn retry_after_is_read_in_seconds_only() {
        assert_eq!(
            retry_after(Some(&HeaderValue::from_static("2"))),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            retry_after(Some(&HeaderValue::from_static(
                "Wed, 21 Oct 2015 07:28:00 GMT"
            ))),
            None
        );
    }
}
