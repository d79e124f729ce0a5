//! The dead-letter topic: where refused messages go, with the reason and where they came from.
//!
//! A dead letter keeps only what identifies the message, never the message: the reason (built
//! from the contract, never from values), where it was (source topic, partition, offset), and
//! the CloudEvent id, source and type and the report id when the message shows them (read
//! best-effort, each bounded). The value is empty and the source's key and headers are not
//! copied (a binary-mode message carries its attributes and more in headers; a key may be
//! anything the source chose). So the dead-letter topic holds nothing clinical and nothing
//! personal, and forgets by its own retention.
//!
//! Replay needs the original record. Where a program wants that, `kafka.dead_letter_originals_topic`
//! names a topic of its own, with a short retention, to which the original key, value and headers
//! are written as well (with the same `dlq-*` headers): it holds the source's clinical detail
//! exactly as the incidents topic does, so it needs that topic's access controls. Unset (the
//! default), no original is kept anywhere. The service itself never reads either topic back.

use std::time::Duration;

use outreach_kafka::KafkaConnection;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde::Deserialize;
use serde_json::Value;

use crate::{InboundRecord, IntakeError, Rejection};

/// The longest identifier a dead letter repeats, in bytes: ids are short, and a hostile message
/// must not make its dead letter large.
const LONGEST_ID: usize = 200;

/// What identifies a message, as far as it shows: each field absent when the message does not
/// carry it readably.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    pub event_id: Option<String>,
    pub event_source: Option<String>,
    pub event_type: Option<String>,
    pub report_id: Option<String>,
}

/// The attributes of a structured-mode event, and its data; anything else is ignored unread.
#[derive(Deserialize)]
struct Structured {
    id: Option<Value>,
    source: Option<Value>,
    #[serde(rename = "type")]
    ty: Option<Value>,
    data: Option<Value>,
}

impl Identity {
    /// Reads the CloudEvent attributes (binary mode's `ce_` headers, or a structured event's
    /// fields) and `data.report_id` of a message no larger than `max_bytes`; a larger one is
    /// identified by its headers only, unread.
    pub fn of(record: &InboundRecord, max_bytes: usize) -> Identity {
        let header = |name: &str| record.header(name).and_then(bounded_bytes);
        let payload = record
            .payload
            .as_deref()
            .filter(|payload| payload.len() <= max_bytes);
        if record
            .header(crate::cloudevent::SPEC_VERSION_HEADER)
            .is_some()
        {
            return Identity {
                event_id: header("ce_id"),
                event_source: header("ce_source"),
                event_type: header("ce_type"),
                report_id: payload
                    .and_then(|p| serde_json::from_slice::<Value>(p).ok())
                    .and_then(|data| report_id(&data)),
            };
        }
        let Some(event) = payload.and_then(|p| serde_json::from_slice::<Structured>(p).ok()) else {
            return Identity::default();
        };
        Identity {
            event_id: event.id.as_ref().and_then(bounded_value),
            event_source: event.source.as_ref().and_then(bounded_value),
            event_type: event.ty.as_ref().and_then(bounded_value),
            report_id: event.data.as_ref().and_then(report_id),
        }
    }

    fn headers(&self) -> [(&'static str, Option<&str>); 4] {
        [
            ("dlq-event-id", self.event_id.as_deref()),
            ("dlq-event-source", self.event_source.as_deref()),
            ("dlq-event-type", self.event_type.as_deref()),
            ("dlq-report-id", self.report_id.as_deref()),
        ]
    }
}

/// `report_id` of the event's data (an object, or a string holding one).
fn report_id(data: &Value) -> Option<String> {
    match data {
        Value::String(text) => serde_json::from_str::<Value>(text)
            .ok()
            .filter(Value::is_object)
            .and_then(|data| report_id(&data)),
        _ => data.get("report_id").and_then(bounded_value),
    }
}

fn bounded_value(value: &Value) -> Option<String> {
    bounded(value.as_str()?)
}

fn bounded_bytes(bytes: &[u8]) -> Option<String> {
    bounded(std::str::from_utf8(bytes).ok()?)
}

/// A short identifier as a header value: on one line, at most [`LONGEST_ID`] bytes; an empty
/// or longer one is dropped rather than cut (a cut id identifies nothing).
fn bounded(text: &str) -> Option<String> {
    (!text.is_empty() && text.len() <= LONGEST_ID && !text.chars().any(char::is_control))
        .then(|| text.to_owned())
}

pub struct DeadLetters {
    producer: FutureProducer,
    topic: String,
    /// Where the originals go too, for replay; none by default.
    originals_topic: Option<String>,
}

impl DeadLetters {
    pub fn new(
        connection: &KafkaConnection,
        topic: &str,
        originals_topic: Option<&str>,
    ) -> Result<Self, IntakeError> {
        let producer = crate::admin::reliable_producer(connection, "peer-outreach-dead-letters")?;
        Ok(Self {
            producer,
            topic: topic.to_owned(),
            originals_topic: originals_topic.map(str::to_owned),
        })
    }

    /// Sends the dead letter (and the original, where originals are kept), each acknowledged
    /// by the broker before this returns. A retry after a failure may send either again.
    pub async fn send(
        &self,
        record: &InboundRecord,
        rejection: &Rejection,
        identity: &Identity,
    ) -> Result<(), IntakeError> {
        let reason = rejection.to_string();
        let partition = record.partition.to_string();
        let offset = record.offset.to_string();
        let mut fields = vec![
            ("dlq-reason", Some(reason.as_str())),
            ("dlq-reason-code", Some(rejection.code())),
            ("dlq-source-topic", Some(record.topic.as_str())),
            ("dlq-source-partition", Some(partition.as_str())),
            ("dlq-source-offset", Some(offset.as_str())),
        ];
        fields.extend(identity.headers());
        if let Some(originals) = &self.originals_topic {
            let headers = record
                .headers
                .iter()
                .fold(OwnedHeaders::new(), |h, (key, value)| {
                    h.insert(Header {
                        key,
                        value: value.as_deref(),
                    })
                });
            let mut original: FutureRecord<'_, [u8], [u8]> =
                FutureRecord::to(originals).headers(with(headers, &fields));
            if let Some(key) = &record.key {
                original = original.key(key.as_slice());
            }
            if let Some(payload) = &record.payload {
                original = original.payload(payload.as_slice());
            }
            self.deliver(original).await?;
        }
        // The trace context of the message's span, so that the dead letter joins its trace.
        let trace = outreach_telemetry::trace_context_of(&tracing::Span::current());
        fields.extend(trace.iter().map(|(k, v)| (k.as_str(), Some(v.as_str()))));
        let headers = with(OwnedHeaders::new(), &fields);
        self.deliver(FutureRecord::to(&self.topic).headers(headers))
            .await
    }

    async fn deliver(&self, record: FutureRecord<'_, [u8], [u8]>) -> Result<(), IntakeError> {
        self.producer
            .send(record, Duration::from_secs(30))
            .await
            .map(|_| ())
            .map_err(|(error, _)| IntakeError::Kafka(error))
    }
}

/// `headers` with each field that has a value.
fn with(headers: OwnedHeaders, fields: &[(&str, Option<&str>)]) -> OwnedHeaders {
    fields
        .iter()
        .fold(headers, |headers, &(key, value)| match value {
            Some(value) => headers.insert(Header {
                key,
                value: Some(value),
            }),
            None => headers,
        })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn structured(event: &Value) -> InboundRecord {
        InboundRecord {
            payload: Some(serde_json::to_vec(event).unwrap()),
            ..Default::default()
        }
    }

    #[test]
    fn a_structured_event_is_identified_by_its_attributes_and_report_id() {
        let record = structured(&json!({
            "specversion": "1.0", "id": "ev-1", "source": "/datix", "type": "x.y",
            "data": {"report_id": "INC-1", "patient": {"name": "never read"}}
        }));
        assert_eq!(
            Identity::of(&record, 1 << 20),
            Identity {
                event_id: Some("ev-1".into()),
                event_source: Some("/datix".into()),
                event_type: Some("x.y".into()),
                report_id: Some("INC-1".into()),
            }
        );
    }

    #[test]
    fn a_binary_event_is_identified_by_its_headers_and_data() {
        let header = |k: &str, v: &str| (k.to_owned(), Some(v.as_bytes().to_vec()));
        let record = InboundRecord {
            headers: vec![
                header("ce_specversion", "1.0"),
                header("ce_id", "ev-2"),
                header("ce_source", "/datix"),
                header("ce_type", "x.y"),
                header("ce_subject", "someone's name"),
            ],
            payload: Some(br#"{"report_id": "IR-2"}"#.to_vec()),
            ..Default::default()
        };
        let identity = Identity::of(&record, 1 << 20);
        assert_eq!(identity.event_id.as_deref(), Some("ev-2"));
        assert_eq!(identity.report_id.as_deref(), Some("IR-2"));
        assert!(!format!("{identity:?}").contains("someone"));
    }

    #[test]
    fn what_cannot_be_read_or_is_too_long_is_left_out() {
        assert_eq!(
            Identity::of(&structured(&json!("not an event")), 1 << 20),
            Identity::default()
        );
        let record = InboundRecord {
            payload: Some(b"INC-1, <not json>".to_vec()),
            ..Default::default()
        };
        assert_eq!(Identity::of(&record, 1 << 20), Identity::default());
        let long = "x".repeat(LONGEST_ID + 1);
        let record = structured(&json!({
            "id": long, "source": 7, "type": "a\nb", "data": {"report_id": "INC-3"}
        }));
        assert_eq!(
            Identity::of(&record, 1 << 20),
            Identity {
                report_id: Some("INC-3".into()),
                ..Identity::default()
            }
        );
        // Over the size limit: not parsed at all.
        assert_eq!(Identity::of(&record, 10), Identity::default());
    }

    #[test]
    fn data_given_as_a_json_string_is_read_too() {
        let record = structured(&json!({"id": "e", "data": "{\"report_id\": \"INC-4\"}"}));
        assert_eq!(
            Identity::of(&record, 1 << 20).report_id.as_deref(),
            Some("INC-4")
        );
    }
}
