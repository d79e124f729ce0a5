//! Topic creation and broker reachability. Some brokers (tansu among them) do not create topics
//! on first use, and production clusters often forbid it, so the service creates its own when
//! configured to.

use std::sync::Arc;
use std::time::Duration;

use outreach_kafka::KafkaConnection;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::producer::{BaseProducer, FutureProducer, Producer};
use rdkafka::types::RDKafkaErrorCode;

use crate::IntakeError;

/// A producer that waits for every in-sync replica and gives up on a record after 30 s (the
/// caller retries): what both dead letters and sample events need.
pub(crate) fn reliable_producer(
    connection: &KafkaConnection,
    client_id: &str,
) -> Result<FutureProducer, IntakeError> {
    Ok(connection
        .client_config(client_id)
        .set("acks", "all")
        .set("message.timeout.ms", "30000")
        .create()?)
}

/// Creates each `(topic, partitions)` that does not exist yet.
pub async fn ensure_topics(
    connection: &KafkaConnection,
    topics: &[(&str, i32)],
) -> Result<(), IntakeError> {
    let admin: AdminClient<DefaultClientContext> =
        connection.client_config("peer-outreach-admin").create()?;
    let new_topics: Vec<_> = topics
        .iter()
        .map(|(name, partitions)| NewTopic::new(name, *partitions, TopicReplication::Fixed(1)))
        .collect();
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    for result in admin.create_topics(&new_topics, &options).await? {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => {
                return Err(IntakeError::Topic {
                    topic,
                    reason: code.to_string(),
                })
            }
        }
    }
    Ok(())
}

/// Answers whether the broker is reachable, for readiness checks.
#[derive(Clone)]
pub struct BrokerProbe {
    client: Arc<BaseProducer>,
}

impl BrokerProbe {
    pub fn new(connection: &KafkaConnection) -> Result<Self, IntakeError> {
        let client: BaseProducer = connection.client_config("peer-outreach-probe").create()?;
        Ok(Self {
            client: Arc::new(client),
        })
    }

    pub async fn reachable(&self) -> bool {
        let client = self.client.clone();
        tokio::task::spawn_blocking(move || {
            client
                .client()
                .fetch_metadata(None, Duration::from_secs(2))
                .is_ok()
        })
        .await
        .unwrap_or(false)
    }
}
