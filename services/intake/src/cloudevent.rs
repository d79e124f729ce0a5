//! CloudEvents 1.0 on Kafka, in both modes: structured (the record value is the whole event)
//! and binary (attributes in `ce_` headers, the value is the data). Parsing is the
//! cloudevents-sdk's; this module only adapts an [`InboundRecord`] to it. (The sdk's own
//! rdkafka binding pins another rdkafka and unwraps on missing headers, so it is not used.)

use cloudevents::event::Data;
use cloudevents::message::{
    BinaryDeserializer, BinarySerializer, Encoding, MessageAttributeValue, MessageDeserializer,
    StructuredDeserializer, StructuredSerializer,
};
use cloudevents::{AttributesReader, AttributesWriter, Event};
use serde_json::Value;

use crate::{InboundRecord, Rejection};

pub(crate) const SPEC_VERSION_HEADER: &str = "ce_specversion";

/// The attributes intake uses, and the data, still unvalidated.
#[derive(Debug)]
pub struct Envelope {
    pub id: String,
    pub source: String,
    pub ty: String,
    /// `datacontenttype`: FHIR data (`application/fhir+json`) is read as FHIR, whatever the
    /// `type`.
    pub content_type: Option<String>,
    pub data: Value,
}

pub fn envelope(record: &InboundRecord, payload: &[u8]) -> Result<Envelope, Rejection> {
    let event = if record.header(SPEC_VERSION_HEADER).is_some() {
        BinaryDeserializer::into_event(BinaryRecord { record, payload }).map_err(describe)?
    } else {
        let mut value: Value = serde_json::from_slice(payload).map_err(|e| Rejection::NotJson {
            line: e.line(),
            column: e.column(),
        })?;
        // The sdk reads `data` as JSON only for a bare `+json` media type: parameters (FHIR's
        // `fhirVersion`) are set aside for it and restored after.
        let parameters = strip_parameters(&mut value);
        let mut event = serde_json::from_value::<Event>(value).map_err(|e| {
            // "missing field `id`" is safe to repeat; other serde messages may quote values.
            let message = e.to_string();
            Rejection::NotACloudEvent(if message.starts_with("missing field") {
                message
            } else {
                "an attribute is missing or malformed (specversion must be 1.0; id, source and type are required)"
                    .into()
            })
        })?;
        if let Some(content_type) = parameters {
            event.set_datacontenttype(Some(content_type));
        }
        event
    };
    let data = match event.data() {
        Some(Data::Json(value)) => value.clone(),
        Some(Data::String(text)) => {
            serde_json::from_str(text).map_err(|_| Rejection::DataNotJson)?
        }
        Some(Data::Binary(bytes)) => {
            serde_json::from_slice(bytes).map_err(|_| Rejection::DataNotJson)?
        }
        None => return Err(Rejection::DataNotJson),
    };
    if let Some(content_type) = event.datacontenttype() {
        if !is_json(content_type) {
            return Err(Rejection::DataNotJson);
        }
    }
    if !data.is_object() {
        return Err(Rejection::DataNotJson);
    }
    Ok(Envelope {
        id: event.id().to_string(),
        source: event.source().to_string(),
        ty: event.ty().to_string(),
        content_type: event.datacontenttype().map(str::to_string),
        data,
    })
}

/// Replaces a structured event's `datacontenttype` by its essence when it has parameters, and
/// returns the whole of it.
fn strip_parameters(event: &mut Value) -> Option<String> {
    let attribute = event.get_mut("datacontenttype")?;
    let content_type = attribute.as_str()?.to_string();
    let (essence, _) = content_type.split_once(';')?;
    *attribute = Value::String(essence.trim().to_string());
    Some(content_type)
}

fn is_json(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json" || essence.ends_with("+json")
}

fn describe(error: cloudevents::message::Error) -> Rejection {
    use cloudevents::message::Error;
    Rejection::NotACloudEvent(match error {
        // Messages that could quote data are replaced by a description of their kind.
        Error::SerdeJsonError { .. } | Error::Other { .. } | Error::IOError { .. } => {
            "a header could not be read".into()
        }
        other => other.to_string(),
    })
}

struct BinaryRecord<'a> {
    record: &'a InboundRecord,
    payload: &'a [u8],
}

impl MessageDeserializer for BinaryRecord<'_> {
    fn encoding(&self) -> Encoding {
        Encoding::BINARY
    }
}

impl StructuredDeserializer for BinaryRecord<'_> {
    fn deserialize_structured<R: Sized, V: StructuredSerializer<R>>(
        self,
        _visitor: V,
    ) -> cloudevents::message::Result<R> {
        Err(cloudevents::message::Error::WrongEncoding {})
    }
}

impl BinaryDeserializer for BinaryRecord<'_> {
    fn deserialize_binary<R: Sized, V: BinarySerializer<R>>(
        self,
        mut visitor: V,
    ) -> cloudevents::message::Result<R> {
        let text = |bytes: &[u8]| {
            String::from_utf8(bytes.to_vec()).map_err(|e| cloudevents::message::Error::Other {
                source: Box::new(e),
            })
        };
        let spec_version = self.record.header(SPEC_VERSION_HEADER).unwrap_or_default();
        let spec_version = text(spec_version)?.as_str().try_into()?;
        let attributes = cloudevents::event::SpecVersion::attribute_names(&spec_version);
        visitor = visitor.set_spec_version(spec_version)?;
        if let Some(content_type) = self.record.header("content-type") {
            visitor = visitor.set_attribute(
                "datacontenttype",
                MessageAttributeValue::String(text(content_type)?),
            )?;
        }
        for (key, value) in &self.record.headers {
            let Some(name) = key.strip_prefix("ce_") else {
                continue;
            };
            let Some(value) = value else { continue };
            if name == "specversion" {
                continue;
            }
            let value = MessageAttributeValue::String(text(value)?);
            visitor = if attributes.contains(&name) {
                visitor.set_attribute(name, value)?
            } else {
                visitor.set_extension(name, value)?
            };
        }
        visitor.end_with_data(self.payload.to_vec())
    }
}
