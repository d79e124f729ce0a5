#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    #[error("kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    #[error("topic {topic}: {reason}")]
    Topic { topic: String, reason: String },
    #[error("sample {path}: {reason}")]
    Sample { path: String, reason: String },
}
