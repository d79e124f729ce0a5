//! Outbox publishers: what the service recorded for the outside world goes out from here, at
//! least once (architecture rule 4).
//!
//! A reaction (a process manager, such as the director notices) records its message in the
//! `outbox` table in the same transaction as the change that caused it, on one of two channels.
//! [`OutboxPublisher`] sends each unpublished `kafka` row to Kafka and marks it published only
//! once the broker acknowledged it (`acks=all`); [`EmailPublisher`] sends the `email` rows
//! through SMTP (see [`email`]). A crash between the acknowledgement and the mark, or a send
//! that timed out after all, sends a row again, so every Kafka message carries its row id as the
//! `idempotency-key` header and consumers dedupe on it.
//!
//! Several instances may publish at once: a round locks the rows it takes (`FOR UPDATE SKIP
//! LOCKED`), so each row is in the hands of one publisher at a time and the others take the next
//! ones. Rows are taken oldest first; a row that failed is tried again in a later round, so a
//! retried message may arrive after a newer one of the same case: consumers order by the
//! payload's own times, not by arrival.
//!
//! Each publisher also records the `peer_outreach.outbox.backlog` gauge for its own channel
//! (attribute `channel`) after every round: it knows when the backlog changes, and the
//! projections crate, which runs the other gauges, knows no Kafka and has no business reading
//! the outbox's delivery state. A channel no publisher serves (e-mail without SMTP configured)
//! is not measured: its rows wait.
//!
//! Logs and spans name rows by id and kind only: payloads are never logged (the assignment
//! kinds carry the member's contact details).

pub mod email;

use std::collections::HashMap;
use std::time::Duration;

use futures::future::join_all;
use outreach_kafka::KafkaConnection;
use outreach_telemetry::metrics::{attribute, metrics};
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use sqlx::postgres::PgListener;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub use email::{EmailPublisher, SmtpSettings, SmtpTls};

/// The content type of a structured-mode CloudEvent (CloudEvents Kafka protocol binding).
const CLOUDEVENTS_JSON: &str = "application/cloudevents+json; charset=UTF-8";

/// The channel the outbox's trigger notifies on every insert.
const OUTBOX_CHANNEL: &str = "peer_outreach_outbox";

/// How an outbox row leaves the service: its `channel` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    Kafka,
    Email,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Kafka => "kafka",
            Channel::Email => "email",
        }
    }
}

/// Rows sent per round, unless told otherwise; a full round is followed at once by the next.
pub const DEFAULT_BATCH: i64 = 100;

/// How long librdkafka keeps trying to deliver one message before the round counts it failed.
const MESSAGE_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum OutboundError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("kafka: {0}")]
    Kafka(#[from] KafkaError),
    #[error("notifications.smtp: {0}")]
    SmtpSettings(String),
}

/// Sends the outbox's `kafka` rows to Kafka: to `topic`, or to a topic of their own for the
/// kinds in `topics_by_kind`.
pub struct OutboxPublisher {
    pub pool: PgPool,
    pub producer: FutureProducer,
    pub topic: String,
    /// Kinds that go to a topic of their own, e.g. assignment notices, which carry contact
    /// details, kept off the director's facts-only topic.
    pub topics_by_kind: HashMap<String, String>,
    /// How long to wait for new rows (or a notification of them) between rounds.
    pub interval: Duration,
    /// Rows sent per round.
    pub batch: i64,
}

/// What one round did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Round {
    pub published: usize,
    pub failed: usize,
}

#[derive(sqlx::FromRow)]
struct OutboxRow {
    id: Uuid,
    kind: String,
    topic_key: String,
    payload: serde_json::Value,
}

impl OutboxPublisher {
    /// A publisher to `topic` on the cluster with an `acks=all` producer of its own.
    pub fn new(
        pool: PgPool,
        connection: &KafkaConnection,
        topic: impl Into<String>,
        interval: Duration,
    ) -> Result<Self, OutboundError> {
        Ok(Self {
            pool,
            producer: producer(connection, "peer-outreach-outbox")?,
            topic: topic.into(),
            topics_by_kind: HashMap::new(),
            interval,
            batch: DEFAULT_BATCH,
        })
    }

    /// Sends rows of `kind` to `topic` instead of the default one.
    pub fn with_topic_for(mut self, kind: impl Into<String>, topic: impl Into<String>) -> Self {
        self.topics_by_kind.insert(kind.into(), topic.into());
        self
    }

    /// The topic a row of `kind` goes to.
    fn topic_for(&self, kind: &str) -> &str {
        self.topics_by_kind.get(kind).unwrap_or(&self.topic)
    }

    /// Publishes until `shutdown` is cancelled: a round every `interval`, at once when new rows
    /// are notified, and again straight away after a full round. Stopping abandons the round in
    /// hand: its rows stay unpublished and go out again later (consumers dedupe).
    pub async fn run(self, shutdown: CancellationToken) {
        let mut listener = self.listen().await;
        let mut backoff = Duration::from_millis(100);
        while !shutdown.is_cancelled() {
            let round = tokio::select! {
                round = self.publish_round() => round,
                _ = shutdown.cancelled() => break,
            };
            match round {
                Ok(round) => {
                    backoff = Duration::from_millis(100);
                    self.record_backlog().await;
                    if round.failed == 0 && round.published as i64 == self.batch {
                        continue;
                    }
                }
                Err(error) => {
                    tracing::error!(topic = %self.topic, %error, "outbox round failed; will retry");
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = shutdown.cancelled() => break,
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                    continue;
                }
            }
            tokio::select! {
                _ = wait_for_notification(&mut listener) => {}
                _ = tokio::time::sleep(self.interval) => {}
                _ = shutdown.cancelled() => break,
            }
        }
        tracing::info!(topic = %self.topic, "outbox publisher stopped");
    }

    /// Sends up to `batch` unpublished `kafka` rows, oldest first, in one transaction that holds
    /// their locks: each is marked published once the broker acknowledged it, or has its attempts
    /// counted and is left for a later round.
    pub async fn publish_round(&self) -> Result<Round, OutboundError> {
        let mut tx = self.pool.begin().await?;
        let rows: Vec<OutboxRow> = sqlx::query_as(
            "SELECT id, kind, topic_key, payload
               FROM outbox
              WHERE published_at IS NULL AND channel = 'kafka'
              ORDER BY created_at
              LIMIT $1
                FOR UPDATE SKIP LOCKED",
        )
        .bind(self.batch)
        .fetch_all(&mut *tx)
        .await?;
        if rows.is_empty() {
            tx.rollback().await?;
            return Ok(Round::default());
        }
        // All sent before any is awaited: one round trip for the batch, not one per row.
        let outcomes = join_all(rows.iter().map(|row| self.send(row))).await;
        let (mut published, mut failed) = (Vec::new(), Vec::new());
        for (row, outcome) in rows.iter().zip(outcomes) {
            match outcome {
                Ok(()) => published.push(row.id),
                Err(error) => {
                    tracing::warn!(id = %row.id, kind = %row.kind, %error,
                        "outbox message not acknowledged; will retry");
                    failed.push(row.id);
                }
            }
        }
        let round = finish_round(tx, &published, &failed).await?;
        tracing::debug!(topic = %self.topic, published = round.published, failed = round.failed,
            "outbox round committed");
        Ok(round)
    }

    /// Sends one row and waits for the broker's acknowledgement.
    async fn send(&self, row: &OutboxRow) -> Result<(), KafkaError> {
        let id = row.id.to_string();
        let payload = serde_json::to_vec(&row.payload).expect("a JSON value serialises");
        let mut headers = OwnedHeaders::new()
            .insert(Header {
                key: "idempotency-key",
                value: Some(&id),
            })
            .insert(Header {
                key: "notice-kind",
                value: Some(&row.kind),
            });
        // A row that is a whole CloudEvent (the statistics publications) goes out in the Kafka
        // binding's structured mode, which the content type announces.
        if row.payload.get("specversion").is_some() {
            headers = headers.insert(Header {
                key: "content-type",
                value: Some(CLOUDEVENTS_JSON),
            });
        }
        let record = FutureRecord::to(self.topic_for(&row.kind))
            .key(&row.topic_key)
            .payload(&payload)
            .headers(headers);
        self.producer
            .send(record, Duration::from_secs(5))
            .await
            .map(|_| ())
            .map_err(|(error, _)| error)
    }

    async fn record_backlog(&self) {
        record_backlog(&self.pool, Channel::Kafka).await
    }

    async fn listen(&self) -> Option<PgListener> {
        listen(&self.pool).await
    }
}

/// Ends a round in its transaction: the rows sent are marked published, the failed ones count
/// an attempt, and the rest stay as they were, to be taken again.
pub(crate) async fn finish_round(
    mut tx: sqlx::Transaction<'_, sqlx::Postgres>,
    published: &[Uuid],
    failed: &[Uuid],
) -> Result<Round, sqlx::Error> {
    if !published.is_empty() {
        sqlx::query("UPDATE outbox SET published_at = now() WHERE id = ANY($1)")
            .bind(published)
            .execute(&mut *tx)
            .await?;
    }
    if !failed.is_empty() {
        sqlx::query("UPDATE outbox SET attempts = attempts + 1 WHERE id = ANY($1)")
            .bind(failed)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(Round {
        published: published.len(),
        failed: failed.len(),
    })
}

/// A listener for the outbox's insert notifications; `None` (polling only) if it cannot listen.
async fn listen(pool: &PgPool) -> Option<PgListener> {
    outreach_projections::listen(pool, OUTBOX_CHANNEL).await
}

/// How many outbox rows of `channel` are not published yet.
pub async fn backlog(pool: &PgPool, channel: Channel) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT count(*) FROM outbox WHERE published_at IS NULL AND channel = $1")
        .bind(channel.as_str())
        .fetch_one(pool)
        .await
}

/// Records `channel`'s backlog in the `peer_outreach.outbox.backlog` gauge.
async fn record_backlog(pool: &PgPool, channel: Channel) {
    match backlog(pool, channel).await {
        Ok(rows) => metrics()
            .outbox_backlog
            .record(rows, &[attribute("channel", channel.as_str())]),
        Err(error) => tracing::warn!(channel = channel.as_str(), %error,
            "could not measure the outbox backlog"),
    }
}

/// A producer that waits for every in-sync replica and gives up on a message after
/// [`MESSAGE_TIMEOUT`] (the next round retries it).
pub fn producer(
    connection: &KafkaConnection,
    client_id: &str,
) -> Result<FutureProducer, KafkaError> {
    connection
        .client_config(client_id)
        .set("acks", "all")
        .set(
            "message.timeout.ms",
            MESSAGE_TIMEOUT.as_millis().to_string(),
        )
        .create()
}

async fn wait_for_notification(listener: &mut Option<PgListener>) {
    match listener {
        // On a lost connection recv reconnects; an error just falls back to polling.
        Some(listener) => {
            if listener.recv().await.is_err() {
                std::future::pending::<()>().await
            }
        }
        None => std::future::pending::<()>().await,
    }
}
