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
    /// FHIR JSON without a `resourceType`.
    NotFhir,
    /// A FHIR resource other than an AdverseEvent or a Bundle (its type name, or a placeholder
    /// when what was sent is not a name).
    UnknownResourceType(String),
    /// A FHIR version other than R4 (4.0), R4B (4.3) and R5 (5.0): digits and dots only.
    UnsupportedFhirVersion(String),
    NoAdverseEvent,
    SeveralAdverseEvents,
    /// An AdverseEvent with neither a logical id nor a Bundle `fullUrl`.
    NoLogicalId,
    /// A contained (`#id`) or Bundle-internal (`urn:`) reference that leads nowhere, at this
    /// FHIR path.
    UnresolvableReference(String),
    /// No practitioner the event names has an identifier in the configured staff system.
    NoStaffIdentifier,
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
            Rejection::NotFhir => "not-fhir",
            Rejection::UnknownResourceType(_) => "unknown-resource-type",
            Rejection::UnsupportedFhirVersion(_) => "unsupported-fhir-version",
            Rejection::NoAdverseEvent => "no-adverse-event",
            Rejection::SeveralAdverseEvents => "several-adverse-events",
            Rejection::NoLogicalId => "no-logical-id",
            Rejection::UnresolvableReference(_) => "unresolvable-reference",
            Rejection::NoStaffIdentifier => "no-staff-identifier",
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
            Rejection::NotFhir => write!(f, "FHIR JSON without a resourceType"),
            Rejection::UnknownResourceType(ty) => write!(
                f,
                "FHIR resource type {ty} is neither an AdverseEvent nor a Bundle"
            ),
            Rejection::UnsupportedFhirVersion(version) => write!(
                f,
                "FHIR version {version:?} is not one of 4.0 (R4), 4.3 (R4B), 5.0 (R5)"
            ),
            Rejection::NoAdverseEvent => write!(f, "the Bundle holds no AdverseEvent"),
            Rejection::SeveralAdverseEvents => write!(
                f,
                "the Bundle holds more than one AdverseEvent: one report per message"
            ),
            Rejection::NoLogicalId => {
                write!(f, "the AdverseEvent has neither an id nor a Bundle fullUrl")
            }
            Rejection::UnresolvableReference(at) => {
                write!(
                    f,
                    "the reference at {at} resolves to nothing in the message"
                )
            }
            Rejection::NoStaffIdentifier => write!(
                f,
                "no Practitioner the AdverseEvent references (contributor, participant.actor, \
                 recorder, through PractitionerRole or CareTeam) has an identifier in the \
                 configured staff identifier system (fhir.staff_identifier_system)"
            ),
            Rejection::Refused { rule, detail } => write!(f, "refused by rule {rule}: {detail}"),
        }
    }
}
