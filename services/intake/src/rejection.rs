//! Why a message was refused. Every reason is built from the contract (paths, keywords, type
//! names), never from the message's values, because those may be clinical or personal.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    TooLarge {
        size: usize,
        limit: usize,
    },
    Empty,
    NotJson {
        line: usize,
        column: usize,
    },
    NotACloudEvent(String),
    UnknownType(String),
    DataNotJson,
    SchemaViolation(Vec<String>),
    /// A domain rule refused the command the message mapped to.
    Refused {
        rule: &'static str,
        detail: String,
    },
}

impl Rejection {
    /// A short stable code, carried in the dead-letter record's `dlq-reason-code` header.
    pub fn code(&self) -> &'static str {
        match self {
            Rejection::TooLarge { .. } => "too-large",
            Rejection::Empty => "empty",
            Rejection::NotJson { .. } => "not-json",
            Rejection::NotACloudEvent(_) => "not-a-cloudevent",
            Rejection::UnknownType(_) => "unknown-type",
            Rejection::DataNotJson => "data-not-json",
            Rejection::SchemaViolation(_) => "schema-violation",
            Rejection::Refused { .. } => "refused",
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejection::TooLarge { size, limit } => {
                write!(f, "message of {size} bytes is over the {limit}-byte limit")
            }
            Rejection::Empty => write!(f, "message has no payload"),
            Rejection::NotJson { line, column } => {
                write!(
                    f,
                    "payload is not JSON (syntax error at line {line}, column {column})"
                )
            }
            Rejection::NotACloudEvent(why) => write!(f, "not a CloudEvents 1.0 event: {why}"),
            Rejection::UnknownType(ty) => write!(f, "unknown event type {ty:?}"),
            Rejection::DataNotJson => write!(f, "event data is not a JSON object"),
            Rejection::SchemaViolation(errors) => {
                write!(f, "data does not match its schema: {}", errors.join("; "))
            }
            Rejection::Refused { rule, detail } => write!(f, "refused by rule {rule}: {detail}"),
        }
    }
}
