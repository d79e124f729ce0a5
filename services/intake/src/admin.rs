//! Topic creation and broker reachability. Some brokers (tansu among them) do not create topics
//! on first use, and production clusters often forbid it, so the service creates its own when
//! configured to.

use std::sync::Arc;
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseProducer, FutureProducer, Producer};
use rdkafka::types::RDKafkaErrorCode;

use crate::IntakeError;

/// A producer that waits for every in-sync replica and gives up on a record after 30 s (the
/// caller retries): what both dead letters and sample events need.
pub(crate) fn reliable_producer(
    brokers: &str,
    client_id: &str,
) -> Result<FutureProducer, IntakeError> {
    Ok(ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("client.id", client_id)
        .set("acks", "all")
        .set("message.timeout.ms", "30000")
        .create()?)
}

/// Creates each `(topic, partitions)` that does not exist yet.
pub async fn ensure_topics(brokers: &str, topics: &[(&str, i32)]) -> Result<(), IntakeError> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()?;
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
    pub fn new(brokers: &str) -> Result<Self, IntakeError> {
        let client: BaseProducer = ClientConfig::new()
            .set("bootstrap.servers", brokers)
            .set("client.id", "peer-outreach-probe")
            .create()?;
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
