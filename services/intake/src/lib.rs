//! Intake: the boundary between the hospital's safety-reporting stream and peer-outreach.
//!
//! Every inbound message is decoded (CloudEvents 1.0, structured or binary mode), validated
//! against its JSON Schema, and mapped into a domain command whose types have no field able to
//! hold clinical detail: patient identity, narratives, diagnoses, harm and the rest are dropped
//! here and go no further. Bad input goes to a dead-letter topic with the reason; transient
//! failures are retried, never skipped. This is the only crate that knows rdkafka and the
//! inbound schemas.

pub mod admin;
mod cloudevent;
mod consumer;
mod contract;
mod dead_letter;
mod decode;
mod error;
mod fhir;
mod inbound;
mod mapping;
mod record;
mod rejection;
pub mod sample;

pub use consumer::{Intake, IntakeSettings};
pub use contract::MessageType;
pub use decode::{decode, Decoded, Policies};
pub use error::IntakeError;
pub use fhir::{CampusRule, CodeRule, FhirMapping, HarmRule};
pub use record::InboundRecord;
pub use rejection::Rejection;
