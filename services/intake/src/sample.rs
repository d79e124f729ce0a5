//! Publishes sample events (the files in `schemas/examples/`) the way a safety-reporting system
//! would: for the local demo and for tests.

use std::path::Path;
use std::time::Duration;

use outreach_kafka::KafkaConnection;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::Value;

use crate::IntakeError;

/// How a CloudEvent travels on Kafka.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The record value is the whole event (`application/cloudevents+json`).
    Structured,
    /// Attributes in `ce_` headers, the value is the data.
    Binary,
}

pub struct Publisher {
    producer: FutureProducer,
    topic: String,
}

impl Publisher {
    pub fn new(connection: &KafkaConnection, topic: &str) -> Result<Self, IntakeError> {
        let producer =
            crate::admin::reliable_producer(connection, "peer-outreach-sample-publisher")?;
        Ok(Self {
            producer,
            topic: topic.to_string(),
        })
    }

    /// Publishes one event keyed by its report id, so that every event about one report stays
    /// in one partition, in order.
    pub async fn publish(&self, event: &Value, mode: Mode) -> Result<(), IntakeError> {
        self.publish_raw(report_key(event).as_deref(), &encode(event, mode)?)
            .await
    }

    /// Publishes bytes as they are, with the given headers: for bad-input tests.
    pub async fn publish_raw(
        &self,
        key: Option<&str>,
        record: &Encoded,
    ) -> Result<(), IntakeError> {
        let mut headers = OwnedHeaders::new();
        for (name, value) in &record.headers {
            headers = headers.insert(Header {
                key: name,
                value: Some(value.as_str()),
            });
        }
        let mut message: FutureRecord<'_, str, [u8]> = FutureRecord::to(&self.topic)
            .payload(record.payload.as_slice())
            .headers(headers);
        if let Some(key) = key {
            message = message.key(key);
        }
        self.producer
            .send(message, Duration::from_secs(30))
            .await
            .map(|_| ())
            .map_err(|(error, _)| IntakeError::Kafka(error))
    }

    /// Publishes every `*.json` file in `dir`, in name order. Returns how many were sent.
    pub async fn publish_dir(&self, dir: &Path, mode: Mode) -> Result<usize, IntakeError> {
        let sample_error = |path: &Path, reason: String| IntakeError::Sample {
            path: path.display().to_string(),
            reason,
        };
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .map_err(|e| sample_error(dir, e.to_string()))?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
            .collect();
        files.sort();
        for path in &files {
            let text =
                std::fs::read_to_string(path).map_err(|e| sample_error(path, e.to_string()))?;
            let event: Value =
                serde_json::from_str(&text).map_err(|e| sample_error(path, e.to_string()))?;
            self.publish(&event, mode).await?;
        }
        Ok(files.len())
    }
}

/// A record ready to send: headers and value.
#[derive(Debug, Clone)]
pub struct Encoded {
    pub headers: Vec<(String, String)>,
    pub payload: Vec<u8>,
}

pub fn encode(event: &Value, mode: Mode) -> Result<Encoded, IntakeError> {
    let json = |value: &Value| serde_json::to_vec(value).expect("a JSON value serialises");
    Ok(match mode {
        Mode::Structured => Encoded {
            headers: vec![("content-type".into(), "application/cloudevents+json".into())],
            payload: json(event),
        },
        Mode::Binary => {
            let attributes = event.as_object().ok_or_else(|| IntakeError::Sample {
                path: "<event>".into(),
                reason: "a CloudEvent is a JSON object".into(),
            })?;
            let mut headers: Vec<(String, String)> = attributes
                .iter()
                .filter(|(name, _)| !matches!(name.as_str(), "data" | "datacontenttype"))
                .filter_map(|(name, value)| {
                    value
                        .as_str()
                        .map(|v| (format!("ce_{name}"), v.to_string()))
                })
                .collect();
            // FHIR data keeps its media type (and any fhirVersion): it says how to read it.
            let content_type = event["datacontenttype"]
                .as_str()
                .unwrap_or("application/json");
            headers.push(("content-type".into(), content_type.into()));
            Encoded {
                headers,
                payload: json(&event["data"]),
            }
        }
    })
}

/// The report id, or for FHIR the AdverseEvent's logical id (alone or in a Bundle), so that
/// every version of one report lands in one partition.
fn report_key(event: &Value) -> Option<String> {
    let data = &event["data"];
    if let Some(id) = data["report_id"].as_str() {
        return Some(id.to_string());
    }
    let adverse_event = match data["resourceType"].as_str() {
        Some("AdverseEvent") => Some(data),
        Some("Bundle") => data["entry"]
            .as_array()?
            .iter()
            .map(|e| &e["resource"])
            .find(|r| r["resourceType"] == "AdverseEvent"),
        _ => None,
    }?;
    adverse_event["id"].as_str().map(String::from)
}
