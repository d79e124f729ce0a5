//! The inbound contract: the JSON Schemas in `schemas/`, compiled into the binary.

use std::sync::OnceLock;

use jsonschema::{Registry, Validator};
use serde_json::Value;

/// The CloudEvent types intake accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageType {
    IncidentReported,
    IReportFiled,
    IncidentAmended,
    IncidentWithdrawn,
}

impl MessageType {
    pub const ALL: [MessageType; 4] = [
        MessageType::IncidentReported,
        MessageType::IReportFiled,
        MessageType::IncidentAmended,
        MessageType::IncidentWithdrawn,
    ];

    pub fn cloudevent_type(self) -> &'static str {
        match self {
            MessageType::IncidentReported => "health.safety.incident.reported.v1",
            MessageType::IReportFiled => "health.safety.ireport.filed.v1",
            MessageType::IncidentAmended => "health.safety.incident.amended.v1",
            MessageType::IncidentWithdrawn => "health.safety.incident.withdrawn.v1",
        }
    }

    pub fn from_cloudevent_type(ty: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.cloudevent_type() == ty)
    }

    /// The JSON Schema of this type's `data`.
    pub fn data_schema(self) -> &'static str {
        match self {
            MessageType::IncidentReported => INCIDENT_REPORTED,
            MessageType::IReportFiled => IREPORT_FILED,
            MessageType::IncidentAmended => INCIDENT_AMENDED,
            MessageType::IncidentWithdrawn => INCIDENT_WITHDRAWN,
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

const COMMON: &str = include_str!("../../../schemas/common.v1.schema.json");
const INCIDENT_REPORTED: &str = include_str!("../../../schemas/incident-reported.v1.schema.json");
const IREPORT_FILED: &str = include_str!("../../../schemas/ireport-filed.v1.schema.json");
const INCIDENT_AMENDED: &str = include_str!("../../../schemas/incident-amended.v1.schema.json");
const INCIDENT_WITHDRAWN: &str = include_str!("../../../schemas/incident-withdrawn.v1.schema.json");
#[cfg(test)]
const ENVELOPE: &str = include_str!("../../../schemas/cloudevent-envelope.schema.json");

fn parse(schema: &str) -> Value {
    serde_json::from_str(schema).expect("the schemas compiled into the binary are valid JSON")
}

fn compile(schema: &str) -> Validator {
    let common = parse(COMMON);
    let id = common["$id"]
        .as_str()
        .expect("common schema has an $id")
        .to_string();
    let registry = Registry::new()
        .add(id.as_str(), common)
        .and_then(|r| r.prepare())
        .expect("the common schema registers");
    jsonschema::draft202012::options()
        .with_registry(&registry)
        .build(&parse(schema))
        .expect("the schemas compiled into the binary are valid draft 2020-12")
}

/// The compiled data validators, built once.
pub fn validator(ty: MessageType) -> &'static Validator {
    static VALIDATORS: OnceLock<Vec<Validator>> = OnceLock::new();
    &VALIDATORS.get_or_init(|| {
        MessageType::ALL
            .iter()
            .map(|t| compile(t.data_schema()))
            .collect()
    })[ty.index()]
}

/// The structured-mode envelope validator: the service leaves envelopes to the cloudevents sdk.
#[cfg(test)]
pub fn envelope_validator() -> &'static Validator {
    static ENVELOPE_VALIDATOR: OnceLock<Validator> = OnceLock::new();
    ENVELOPE_VALIDATOR.get_or_init(|| compile(ENVELOPE))
}

/// Validates `data`, describing each failure by where it is and which keyword failed, never
/// by the value found there.
pub fn check(validator: &Validator, data: &Value) -> Result<(), Vec<String>> {
    let errors: Vec<String> = validator
        .iter_errors(data)
        .take(10)
        .map(|e| {
            let keyword = e
                .schema_path()
                .as_str()
                .rsplit('/')
                .next()
                .unwrap_or("")
                .to_string();
            let at = e.instance_path().as_str().to_string();
            format!(
                "{} fails `{}`",
                if at.is_empty() { "/" } else { &at },
                keyword
            )
        })
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn examples() -> Vec<(String, Value)> {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../schemas/examples");
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        files.sort();
        files
            .into_iter()
            .map(|p| {
                (
                    p.display().to_string(),
                    parse(&std::fs::read_to_string(&p).unwrap()),
                )
            })
            .collect()
    }

    #[test]
    fn every_example_matches_the_envelope_and_its_data_schema() {
        let examples = examples();
        assert!(examples.len() >= 4, "the examples are missing");
        for (path, event) in examples {
            check(envelope_validator(), &event).unwrap_or_else(|e| panic!("{path}: {e:?}"));
            if event["datacontenttype"]
                .as_str()
                .is_some_and(crate::fhir::is_fhir)
            {
                continue; // FHIR data: HL7's schema, checked on decoding (fhir::tests)
            }
            let ty = MessageType::from_cloudevent_type(event["type"].as_str().unwrap())
                .unwrap_or_else(|| panic!("{path}: unknown type"));
            check(validator(ty), &event["data"]).unwrap_or_else(|e| panic!("{path}: {e:?}"));
        }
    }

    #[test]
    fn every_type_has_an_example() {
        let examples = examples();
        for ty in MessageType::ALL {
            assert!(
                examples
                    .iter()
                    .any(|(_, e)| e["type"] == ty.cloudevent_type()),
                "no example of {}",
                ty.cloudevent_type()
            );
        }
    }

    #[test]
    fn a_violation_is_described_without_the_offending_value() {
        let data = serde_json::json!({
            "report_id": "INC-1", "withdrawn_at": "not a time",
            "reason": 42, "extra": "CANARY-VALUE"
        });
        let mut bad = data.clone();
        bad["report_id"] = serde_json::json!("CANARY VALUE WITH SPACES");
        let errors = check(validator(MessageType::IncidentWithdrawn), &bad).unwrap_err();
        assert!(
            errors.iter().any(|e| e.contains("/report_id")),
            "{errors:?}"
        );
        assert!(errors.iter().all(|e| !e.contains("CANARY")), "{errors:?}");
    }
}
