//! The consumer loop: at-least-once delivery, exactly-once effect.
//!
//! A message's offset is stored only after its commands are committed (or it is dead-lettered),
//! so a crash at any point redelivers it; the deterministic case ids make the redelivery a
//! no-op. A transient failure is retried with backoff for as long as it takes: never skipped,
//! never dead-lettered.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use futures::FutureExt;
use outreach_command_side::{CommandError, CommandSide, Handled, ReportMessage};
use outreach_kafka::KafkaConnection;
use outreach_rounds::Backoff;
use outreach_telemetry::metrics::{attribute, metrics};
use rdkafka::consumer::{CommitMode, Consumer, ConsumerContext, StreamConsumer};
use rdkafka::statistics::Statistics;
use rdkafka::ClientContext;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::dead_letter::{DeadLetters, Identity};
use crate::{decode, Decoded, InboundRecord, IntakeError, Policies, Rejection};

#[derive(Debug, Clone)]
pub struct IntakeSettings {
    pub connection: KafkaConnection,
    pub group_id: String,
    pub topic: String,
    pub dead_letter_topic: String,
    /// Where the originals of dead letters go too, for replay; none by default.
    pub dead_letter_originals_topic: Option<String>,
    pub max_message_bytes: usize,
    pub policies: Policies,
    /// How often librdkafka reports statistics (consumer lag per partition).
    pub statistics_interval_ms: u64,
    /// How long the broker may hold a fetch that has no new data: the floor of intake latency on
    /// brokers that do not answer early when data arrives.
    pub fetch_wait_max_ms: u64,
    /// librdkafka's `max.poll.interval.ms`.
    pub max_poll_interval_ms: u64,
    /// librdkafka's `session.timeout.ms`.
    pub session_timeout_ms: u64,
    /// librdkafka's `group.instance.id`, for static group membership; none by default.
    pub group_instance_id: Option<String>,
    /// At most this many messages are decided and stored in one transaction.
    pub max_batch_messages: usize,
    /// librdkafka's `debug` contexts, for diagnosing the group protocol; none by default.
    pub librdkafka_debug: Option<String>,
}

pub struct Intake {
    consumer: StreamConsumer<IntakeContext>,
    dead_letters: DeadLetters,
    commands: Arc<CommandSide>,
    settings: IntakeSettings,
}

const MAX_BACKOFF: Duration = Duration::from_secs(30);

impl Intake {
    pub fn new(settings: IntakeSettings, commands: Arc<CommandSide>) -> Result<Self, IntakeError> {
        let mut config = settings.connection.client_config("peer-outreach-intake");
        if let Some(contexts) = &settings.librdkafka_debug {
            config.set("debug", contexts);
        }
        if let Some(instance) = &settings.group_instance_id {
            // Static membership (KIP-345): a restarted instance takes its own place back.
            config.set("group.instance.id", instance);
        }
        let consumer: StreamConsumer<IntakeContext> = config
            .set("group.id", &settings.group_id)
            .set("auto.offset.reset", "earliest")
            // Offsets are stored by hand once a message's effect is committed, and committed
            // in the background from there.
            .set("enable.auto.commit", "true")
            .set("enable.auto.offset.store", "false")
            .set("auto.commit.interval.ms", "1000")
            .set(
                "session.timeout.ms",
                settings.session_timeout_ms.to_string(),
            )
            // How long handling one message may take before the consumer counts as stuck and
            // its partitions go to another instance; also how long a restart waits on a broker
            // that holds a crashed member's partitions for the whole rebalance timeout (tansu).
            .set(
                "max.poll.interval.ms",
                settings.max_poll_interval_ms.to_string(),
            )
            .set(
                "statistics.interval.ms",
                settings.statistics_interval_ms.to_string(),
            )
            .set("fetch.wait.max.ms", settings.fetch_wait_max_ms.to_string())
            .create_with_context(IntakeContext)?;
        let dead_letters = DeadLetters::new(
            &settings.connection,
            &settings.dead_letter_topic,
            settings.dead_letter_originals_topic.as_deref(),
        )?;
        Ok(Self {
            consumer,
            dead_letters,
            commands,
            settings,
        })
    }

    pub async fn run(self, shutdown: CancellationToken) -> Result<(), IntakeError> {
        self.consumer.subscribe(&[&self.settings.topic])?;
        tracing::info!(topic = %self.settings.topic, group = %self.settings.group_id, "intake started");
        let mut backoff = Backoff::up_to(MAX_BACKOFF);
        loop {
            let received = tokio::select! {
                received = self.consumer.recv() => received,
                _ = shutdown.cancelled() => break,
            };
            let first = match received {
                Ok(message) => InboundRecord::from_kafka(&message),
                Err(error) => {
                    tracing::warn!(%error, "could not receive from the broker; retrying");
                    if !backoff.wait(&shutdown).await {
                        break;
                    }
                    continue;
                }
            };
            backoff.reset();
            // What has arrived already joins the batch; nothing waits for more, so a quiet
            // stream gets one message at a time and a backlog many per transaction.
            let mut records = vec![first];
            while records.len() < self.settings.max_batch_messages.max(1) {
                match self.consumer.recv().now_or_never() {
                    Some(Ok(message)) => records.push(InboundRecord::from_kafka(&message)),
                    Some(Err(_)) | None => break,
                }
            }
            if !self.process(&records, &shutdown).await {
                break; // shutting down mid-retry: the offsets stay, the messages come again
            }
            for record in &records {
                self.consumer
                    .store_offset(&record.topic, record.partition, record.offset)?;
            }
        }
        if let Err(error) = self.consumer.commit_consumer_state(CommitMode::Sync) {
            tracing::debug!(%error, "no offsets to commit at shutdown");
        }
        tracing::info!("intake stopped");
        Ok(())
    }

    /// Handles a batch of records to completion: their commands applied in one transaction
    /// (see `CommandSide::handle_reports`), the ones refused or unreadable dead-lettered.
    /// Returns false only if shutdown interrupted it.
    async fn process(&self, records: &[InboundRecord], shutdown: &CancellationToken) -> bool {
        let mut batch: Vec<Handling> = records.iter().map(|record| self.decode(record)).collect();
        let messages: Vec<ReportMessage> = batch.iter().filter_map(Handling::message).collect();
        let Some(outcomes) = self.apply(&messages, shutdown).await else {
            return false;
        };
        // One outcome per message, in order: the decoded records, in order.
        let decoded = batch.iter_mut().filter(|handling| handling.is_decoded());
        for (handling, outcome) in decoded.zip(outcomes) {
            handling.settle(outcome);
        }
        for handling in &batch {
            let Fate::Rejected(rejection) = &handling.fate else {
                continue;
            };
            if !self
                .dead_letter(handling.record, rejection, shutdown)
                .instrument(handling.span.clone())
                .await
            {
                return false;
            }
        }
        true
    }

    /// A record of a batch, decoded or rejected, in its span.
    fn decode<'r>(&self, record: &'r InboundRecord) -> Handling<'r> {
        let span = message_span(record);
        let fate = match decode(
            record,
            &self.settings.policies,
            self.settings.max_message_bytes,
            Utc::now(),
        ) {
            Err(rejection) => Fate::Rejected(rejection),
            Ok(decoded) => {
                span.record("cloudevents.event_id", decoded.event_id.as_str());
                span.record("cloudevents.event_type", decoded.event_type);
                Fate::Decoded(decoded)
            }
        };
        Handling { record, span, fate }
    }

    /// Applies the messages' commands, retrying while the event store is unavailable. Returns
    /// one outcome per message, or `None` if shutdown came first.
    async fn apply(
        &self,
        messages: &[ReportMessage],
        shutdown: &CancellationToken,
    ) -> Option<Vec<Result<Handled, CommandError>>> {
        let mut outcomes = Vec::with_capacity(messages.len());
        while outcomes.len() < messages.len() {
            let rest = &messages[outcomes.len()..];
            match retry(shutdown, "apply the messages' commands", || {
                self.commands.handle_reports(rest)
            })
            .await?
            {
                Ok(handled) => outcomes.extend(handled),
                // Not transient, so not expected of a batch: each message left gets the reason.
                Err(error) => outcomes.extend(rest.iter().map(|_| {
                    Err(CommandError::Refused {
                        rule: "unexpected-refusal",
                        detail: error.to_string(),
                    })
                })),
            }
        }
        Some(outcomes)
    }

    /// Sends a record to the dead-letter topic with its reason. Returns false only if shutdown
    /// interrupted it.
    async fn dead_letter(
        &self,
        record: &InboundRecord,
        rejection: &Rejection,
        shutdown: &CancellationToken,
    ) -> bool {
        let identity = Identity::of(record, self.settings.max_message_bytes);
        let sent = retry(shutdown, "dead-letter a message", || {
            self.dead_letters.send(record, rejection, &identity)
        })
        .await;
        if sent.is_none() {
            return false;
        }
        tracing::Span::current().record("outcome", "dead_lettered");
        metrics().messages.add(
            1,
            &[
                attribute("outcome", "dead_lettered"),
                attribute("reason", rejection.code()),
            ],
        );
        tracing::warn!(
            topic = %record.topic, partition = record.partition, offset = record.offset,
            reason_code = rejection.code(), reason = %rejection, "message dead-lettered"
        );
        true
    }
}

/// One record of a batch on its way through, and what has become of it so far.
struct Handling<'r> {
    record: &'r InboundRecord,
    span: tracing::Span,
    fate: Fate,
}

/// Where a record of a batch stands.
enum Fate {
    /// Decoded: its command is for the command side.
    Decoded(Decoded),
    /// Applied, or parked until its report comes.
    Done,
    /// For the dead-letter topic, with this reason.
    Rejected(Rejection),
}

impl Handling<'_> {
    fn is_decoded(&self) -> bool {
        matches!(self.fate, Fate::Decoded(_))
    }

    /// Its command for the command side, if it was decoded: with what caused it, in its span.
    fn message(&self) -> Option<ReportMessage> {
        let Fate::Decoded(decoded) = &self.fate else {
            return None;
        };
        let metadata = HashMap::from([
            ("event_id".to_string(), decoded.event_id.clone()),
            ("event_source".to_string(), decoded.event_source.clone()),
            ("event_type".to_string(), decoded.event_type.to_string()),
        ]);
        Some(ReportMessage {
            command: decoded.command.clone(),
            metadata,
            span: self.span.clone(),
        })
    }

    /// Takes in what the command side made of its command: done, or to be dead-lettered.
    fn settle(&mut self, outcome: Result<Handled, CommandError>) {
        let Fate::Decoded(decoded) = &self.fate else {
            return;
        };
        let record = self.record;
        let _entered = self.span.enter();
        self.fate = match outcome {
            Ok(handled) => {
                // Parked: an amendment or withdrawal ahead of its report waits for it.
                let (outcome, case_commands) = match handled {
                    Handled::Applied { case_commands } => ("applied", case_commands),
                    Handled::Parked => ("parked", 0),
                };
                tracing::Span::current().record("outcome", outcome);
                metrics().messages.add(1, &[attribute("outcome", outcome)]);
                tracing::info!(
                    topic = %record.topic, partition = record.partition, offset = record.offset,
                    event_id = %decoded.event_id, event_type = decoded.event_type,
                    case_commands, "message {outcome}"
                );
                Fate::Done
            }
            Err(CommandError::Refused { rule, detail }) => {
                Fate::Rejected(Rejection::Refused { rule, detail })
            }
            // Any other lasting refusal (none is expected from intake's commands) is
            // still dead-lettered with its reason, never dropped.
            Err(other) => Fate::Rejected(Rejection::Refused {
                rule: "unexpected-refusal",
                detail: other.to_string(),
            }),
        };
    }
}

/// The span of one inbound message, continuing the producer's trace if it sent one.
fn message_span(record: &InboundRecord) -> tracing::Span {
    let span = tracing::info_span!(
        "intake.message",
        otel.kind = "consumer",
        messaging.system = "kafka",
        messaging.destination.name = %record.topic,
        messaging.kafka.partition = record.partition,
        messaging.kafka.offset = record.offset,
        cloudevents.event_id = tracing::field::Empty,
        cloudevents.event_type = tracing::field::Empty,
        outcome = tracing::field::Empty,
    );
    outreach_telemetry::continue_trace(&span, record.text_headers());
    span
}

/// Reports librdkafka's per-partition consumer lag as a metric.
pub struct IntakeContext;

impl ClientContext for IntakeContext {
    fn stats(&self, statistics: Statistics) {
        for (topic, stats) in statistics.topics {
            for (partition, stats) in stats.partitions {
                // -1 until librdkafka knows both the high watermark and our position.
                if partition >= 0 && stats.consumer_lag >= 0 {
                    metrics().consumer_lag.record(
                        stats.consumer_lag,
                        &[
                            attribute("topic", topic.clone()),
                            attribute("partition", i64::from(partition)),
                        ],
                    );
                }
            }
        }
    }
}

impl ConsumerContext for IntakeContext {}

/// Something that may fail for a while (a database restart, a broker election) and then work.
trait Transient {
    fn is_transient(&self) -> bool;
}

impl Transient for CommandError {
    fn is_transient(&self) -> bool {
        CommandError::is_transient(self)
    }
}

impl Transient for IntakeError {
    fn is_transient(&self) -> bool {
        true
    }
}

/// Runs `attempt` until it succeeds or fails for good, backing off between transient failures.
/// Returns `None` if shutdown came first.
async fn retry<T, E, F, Fut>(
    shutdown: &CancellationToken,
    what: &str,
    mut attempt: F,
) -> Option<Result<T, E>>
where
    E: Transient + std::fmt::Display,
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
{
    let mut backoff = Backoff::up_to(MAX_BACKOFF);
    loop {
        match attempt().await {
            Err(error) if error.is_transient() => {
                tracing::warn!(%error, retry_in_ms = backoff.current().as_millis() as u64, "could not {what}; retrying");
                if !backoff.wait(shutdown).await {
                    return None;
                }
            }
            outcome => return Some(outcome),
        }
    }
}
