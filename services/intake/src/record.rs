use rdkafka::message::{BorrowedMessage, Headers, Message};

/// A Kafka record as intake sees it: owned, and independent of rdkafka so that decoding can be
/// tested and fuzzed without a broker.
#[derive(Debug, Clone, Default)]
pub struct InboundRecord {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub headers: Vec<(String, Option<Vec<u8>>)>,
    pub payload: Option<Vec<u8>>,
}

impl InboundRecord {
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .and_then(|(_, value)| value.as_deref())
    }

    /// The headers whose values are text (trace context, CloudEvents attributes).
    pub fn text_headers(&self) -> impl Iterator<Item = (&str, &str)> {
        self.headers.iter().filter_map(|(key, value)| {
            Some((key.as_str(), std::str::from_utf8(value.as_deref()?).ok()?))
        })
    }

    pub fn from_kafka(message: &BorrowedMessage<'_>) -> Self {
        Self {
            topic: message.topic().to_string(),
            partition: message.partition(),
            offset: message.offset(),
            key: message.key().map(<[u8]>::to_vec),
            headers: message
                .headers()
                .map(|headers| {
                    headers
                        .iter()
                        .map(|h| (h.key.to_string(), h.value.map(<[u8]>::to_vec)))
                        .collect()
                })
                .unwrap_or_default(),
            payload: message.payload().map(<[u8]>::to_vec),
        }
    }
}
