//! The dead-letter topic: where refused messages go, with the reason and where they came from.
//!
//! The record keeps the original key, value and headers so that, once the cause is fixed, it can
//! be replayed onto the source topic. The value holds the source's clinical detail exactly as the
//! source topic already does, so the dead-letter topic needs the same access controls; the
//! service itself never reads it back, logs it or stores it.

use std::time::Duration;

use outreach_kafka::KafkaConnection;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};

use crate::{InboundRecord, IntakeError, Rejection};

pub struct DeadLetters {
    producer: FutureProducer,
    topic: String,
}

impl DeadLetters {
    pub fn new(connection: &KafkaConnection, topic: &str) -> Result<Self, IntakeError> {
        let producer = crate::admin::reliable_producer(connection, "peer-outreach-dead-letters")?;
        Ok(Self {
            producer,
            topic: topic.to_string(),
        })
    }

    pub async fn send(
        &self,
        record: &InboundRecord,
        rejection: &Rejection,
    ) -> Result<(), IntakeError> {
        let reason = rejection.to_string();
        let partition = record.partition.to_string();
        let offset = record.offset.to_string();
        let mut headers = OwnedHeaders::new();
        for (key, value) in &record.headers {
            headers = headers.insert(Header {
                key,
                value: value.as_deref(),
            });
        }
        for (key, value) in [
            ("dlq-reason", reason.as_str()),
            ("dlq-reason-code", rejection.code()),
            ("dlq-source-topic", record.topic.as_str()),
            ("dlq-source-partition", partition.as_str()),
            ("dlq-source-offset", offset.as_str()),
        ] {
            headers = headers.insert(Header {
                key,
                value: Some(value),
            });
        }
        let mut dead_letter: FutureRecord<'_, [u8], [u8]> =
            FutureRecord::to(&self.topic).headers(headers);
        if let Some(key) = &record.key {
            dead_letter = dead_letter.key(key.as_slice());
        }
        if let Some(payload) = &record.payload {
            dead_letter = dead_letter.payload(payload.as_slice());
        }
        self.producer
            .send(dead_letter, Duration::from_secs(30))
            .await
            .map(|_| ())
            .map_err(|(error, _)| IntakeError::Kafka(error))
    }
}
