//! Outbox publishers: what the service recorded for the outside world goes out from here, at
//! least once (architecture rule 4).
//!
//! A reaction (a process manager, such as the director notices) records its message in the
//! `outbox` table in the same transaction as the change that caused it, on one of three
//! channels. [`OutboxPublisher`] sends each unpublished `kafka` row to Kafka and marks it
//! published only once the broker acknowledged it (`acks=all`); [`EmailPublisher`] sends the
//! `email` rows through SMTP (see [`email`]) and [`WebhookPublisher`] the `webhook` rows (pages)
//! over HTTPS (see [`webhook`]). A crash between the acknowledgement and the mark, or a send
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
pub mod webhook;

use std::collections::HashMap;
use std::time::Duration;

use futures::future::join_all;
use outreach_kafka::KafkaConnection;
use outreach_rounds::{After, Rounds};
use outreach_telemetry::metrics::{attribute, metrics};
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub use email::{is_email_address, EmailPublisher, SmtpSettings, SmtpTls};
pub use webhook::{WebhookPublisher, WebhookSettings};

/// The content type of a structured-mode CloudEvent (CloudEvents Kafka protocol binding).
const CLOUDEVENTS_JSON: &str = "application/cloudevents+json; charset=UTF-8";

/// The channel the outbox's trigger notifies on every insert.
pub(crate) const OUTBOX_CHANNEL: &str = "peer_outreach_outbox";

/// How an outbox row leaves the service: its `channel` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    Kafka,
    Email,
    Webhook,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Kafka => "kafka",
            Channel::Email => "email",
            Channel::Webhook => "webhook",
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
    #[error("paging.webhook: {0}")]
    WebhookSettings(String),
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
pub(crate) struct OutboxRow {
    id: Uuid,
    kind: String,
    topic_key: String,
    payload: serde_json::Value,
}

/// Why a row was not sent, in words that hold no address or content.
#[derive(Debug)]
pub(crate) struct Failure {
    pub reason: String,
    /// The far end is unavailable, not refusing this one message: stop the round.
    pub ends_round: bool,
}

impl Failure {
    /// This row cannot be sent as it is (the same on every try); the round goes on.
    pub fn of_row(reason: &str) -> Self {
        Failure {
            reason: reason.to_string(),
            ends_round: false,
        }
    }
}

/// A channel whose rows go out one at a time (e-mail, webhook).
pub(crate) trait SendsOneByOne {
    /// Sends one row and waits until the far end took it.
    fn send(
        &self,
        row: &OutboxRow,
    ) -> impl std::future::Future<Output = Result<(), Failure>> + Send;
}

/// One round of such a channel: locks up to `batch` unpublished rows of `channel`, oldest first
/// (`FOR UPDATE SKIP LOCKED`, so several instances share the work), sends each, and in the same
/// transaction marks published those sent and counts an attempt on the others, which stay
/// queued. A failure that [ends the round](Failure::ends_round) leaves the rows not yet tried
/// untouched.
pub(crate) async fn sequential_round(
    pool: &PgPool,
    channel: Channel,
    batch: i64,
    sender: &impl SendsOneByOne,
) -> Result<Round, OutboundError> {
    let mut tx = pool.begin().await?;
    let rows: Vec<OutboxRow> = sqlx::query_as(
        "SELECT id, kind, topic_key, payload
           FROM outbox
          WHERE published_at IS NULL AND channel = $1
          ORDER BY created_at
          LIMIT $2
            FOR UPDATE SKIP LOCKED",
    )
    .bind(channel.as_str())
    .bind(batch)
    .fetch_all(&mut *tx)
    .await?;
    if rows.is_empty() {
        tx.rollback().await?;
        return Ok(Round::default());
    }
    let (mut published, mut failed) = (Vec::new(), Vec::new());
    for row in &rows {
        match sender.send(row).await {
            Ok(()) => published.push(row.id),
            Err(failure) => {
                tracing::warn!(id = %row.id, kind = %row.kind, channel = channel.as_str(),
                    reason = %failure.reason, "outbox message not delivered; will retry");
                failed.push(row.id);
                if failure.ends_round {
                    break;
                }
            }
        }
    }
    // A feedback invitation, once sent, keeps neither the address nor the link: the token is
    // then in the member's mailbox only (see outreach_projections::feedback_links).
    if !published.is_empty() {
        sqlx::query(
            r#"UPDATE outbox SET payload = '{"sent": true}'::jsonb
                WHERE id = ANY($1) AND kind = $2"#,
        )
        .bind(&published)
        .bind(outreach_projections::FEEDBACK_INVITATION)
        .execute(&mut *tx)
        .await?;
    }
    let round = finish_round(tx, &published, &failed).await?;
    tracing::debug!(
        channel = channel.as_str(),
        published = round.published,
        failed = round.failed,
        "outbox round committed"
    );
    Ok(round)
}

/// What follows a round of a channel whose rows go out one at a time: a pause if a row failed
/// (the far end refuses or cannot be reached, and is not to be asked twice a second), another
/// round at once if it was full.
pub(crate) fn after_sequential(round: Round, batch: i64) -> After {
    if round.failed > 0 {
        After::Pause
    } else if round.published as i64 == batch {
        After::Again
    } else {
        After::Wait
    }
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
        outreach_rounds::run(&self, &self.pool, OUTBOX_CHANNEL, self.interval, shutdown).await
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
}

impl Rounds for OutboxPublisher {
    const NAME: &'static str = "outbox publisher (kafka)";
    type Error = OutboundError;

    /// A round, then the backlog. A row the broker did not acknowledge was tried for
    /// [`MESSAGE_TIMEOUT`] already: the next round comes at the usual time, without a pause.
    async fn round(&self) -> Result<After, OutboundError> {
        let round = self.publish_round().await?;
        record_backlog(&self.pool, Channel::Kafka).await;
        Ok(
            if round.failed == 0 && round.published as i64 == self.batch {
                After::Again
            } else {
                After::Wait
            },
        )
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

/// How many outbox rows of `channel` are not published yet.
pub async fn backlog(pool: &PgPool, channel: Channel) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT count(*) FROM outbox WHERE published_at IS NULL AND channel = $1")
        .bind(channel.as_str())
        .fetch_one(pool)
        .await
}

/// Records `channel`'s backlog in the `peer_outreach.outbox.backlog` gauge.
pub(crate) async fn record_backlog(pool: &PgPool, channel: Channel) {
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
