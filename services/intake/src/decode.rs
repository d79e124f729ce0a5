//! One inbound record to one domain command, or a rejection with its reason. Pure: no broker,
//! no database, so it is unit-tested and fuzzed on its own.

use chrono::{DateTime, Utc};
use outreach_domain::ReportCommand;

use crate::cloudevent::envelope;
use crate::contract::{self, MessageType};
use crate::{fhir, InboundRecord, Rejection};

pub use crate::mapping::Policies;

#[derive(Debug)]
pub struct Decoded {
    /// The CloudEvent id and source: safe to log, and recorded with the resulting events.
    pub event_id: String,
    pub event_source: String,
    /// The CloudEvent type, or which FHIR the message was (`hl7.fhir.r4.AdverseEvent`).
    pub event_type: &'static str,
    pub command: ReportCommand,
}

pub fn decode(
    record: &InboundRecord,
    policies: &Policies,
    max_bytes: usize,
    received_at: DateTime<Utc>,
) -> Result<Decoded, Rejection> {
    let payload = record.payload.as_deref().unwrap_or_default();
    if payload.len() > max_bytes {
        return Err(Rejection::TooLarge {
            size: payload.len(),
            limit: max_bytes,
        });
    }
    if payload.is_empty() {
        return Err(Rejection::Empty);
    }
    if let Some(content_type) = bare_fhir(record) {
        // No CloudEvent envelope: the FHIR resource alone, identified by where it was read.
        let data: serde_json::Value =
            serde_json::from_slice(payload).map_err(|e| Rejection::NotJson {
                line: e.line(),
                column: e.column(),
            })?;
        let source = &policies.fhir.bare_record_source;
        let (version, command) =
            fhir::to_command(&data, &content_type, source, policies, received_at)?;
        return Ok(Decoded {
            event_id: format!("{}/{}/{}", record.topic, record.partition, record.offset),
            event_source: source.clone(),
            event_type: version.event_type(),
            command,
        });
    }
    let envelope = envelope(record, payload)?;
    if let Some(content_type) = envelope
        .content_type
        .as_deref()
        .filter(|c| fhir::is_fhir(c))
    {
        let (version, command) = fhir::to_command(
            &envelope.data,
            content_type,
            &envelope.source,
            policies,
            received_at,
        )?;
        return Ok(Decoded {
            event_id: envelope.id,
            event_source: envelope.source,
            event_type: version.event_type(),
            command,
        });
    }
    let message_type = MessageType::from_cloudevent_type(&envelope.ty)
        .ok_or_else(|| Rejection::UnknownType(envelope.ty.chars().take(200).collect()))?;
    contract::check(contract::validator(message_type), &envelope.data)
        .map_err(Rejection::SchemaViolation)?;
    let command = crate::mapping::to_command(
        message_type,
        &envelope.source,
        envelope.data,
        policies,
        received_at,
    )?;
    Ok(Decoded {
        event_id: envelope.id,
        event_source: envelope.source,
        event_type: message_type.cloudevent_type(),
        command,
    })
}

/// The content type of a bare FHIR record: FHIR JSON by its `content-type` header, with no
/// CloudEvent attributes in headers (a structured CloudEvent says `cloudevents+json`).
fn bare_fhir(record: &InboundRecord) -> Option<String> {
    if record.header("ce_specversion").is_some() {
        return None;
    }
    let content_type = std::str::from_utf8(record.header("content-type")?).ok()?;
    fhir::is_fhir(content_type).then(|| content_type.to_string())
}

#[cfg(test)]
mod tests {
    use outreach_domain::EligibilityPolicy;
    use serde_json::{json, Value};

    use super::*;

    const LIMIT: usize = 1 << 20;

    fn example(name: &str) -> Value {
        let path = format!(
            "{}/../../schemas/examples/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    fn structured(event: &Value) -> InboundRecord {
        InboundRecord {
            topic: "incidents".into(),
            headers: vec![(
                "content-type".into(),
                Some(b"application/cloudevents+json".to_vec()),
            )],
            payload: Some(serde_json::to_vec(event).unwrap()),
            ..Default::default()
        }
    }

    fn binary(event: &Value) -> InboundRecord {
        let header =
            |k: &str, v: &Value| (k.to_string(), Some(v.as_str().unwrap().as_bytes().to_vec()));
        InboundRecord {
            topic: "incidents".into(),
            headers: vec![
                header("ce_specversion", &event["specversion"]),
                header("ce_id", &event["id"]),
                header("ce_source", &event["source"]),
                header("ce_type", &event["type"]),
                header("ce_time", &event["time"]),
                ("content-type".into(), Some(b"application/json".to_vec())),
            ],
            payload: Some(serde_json::to_vec(&event["data"]).unwrap()),
            ..Default::default()
        }
    }

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_790_000_000, 0).unwrap()
    }

    fn decode_with(record: &InboundRecord, policies: &Policies) -> Result<Decoded, Rejection> {
        decode(record, policies, LIMIT, now())
    }

    fn recorded_members(decoded: &Decoded) -> Vec<(String, bool)> {
        match &decoded.command {
            ReportCommand::Record { members, .. } => members
                .iter()
                .map(|m| (m.profile.staff_id.clone(), m.eligible))
                .collect(),
            other => panic!("expected a report to record, got {other:?}"),
        }
    }

    #[test]
    fn an_incident_names_its_staff_in_either_mode() {
        let event = example("01-incident-reported-medication-error.json");
        let structured = decode_with(&structured(&event), &Policies::default()).unwrap();
        let binary = decode_with(&binary(&event), &Policies::default()).unwrap();
        assert_eq!(structured.command, binary.command);
        assert_eq!(structured.event_id, event["id"].as_str().unwrap());
        assert_eq!(recorded_members(&structured).len(), 4);
        assert!(recorded_members(&structured)
            .iter()
            .all(|(_, eligible)| *eligible));
    }

    #[test]
    fn a_physicians_only_program_marks_other_disciplines_ineligible() {
        let event = example("01-incident-reported-medication-error.json");
        let policies = Policies {
            eligibility: EligibilityPolicy::physicians_only(),
            ..Default::default()
        };
        let decoded = decode_with(&structured(&event), &policies).unwrap();
        let eligible: Vec<_> = recorded_members(&decoded)
            .into_iter()
            .filter(|(_, e)| *e)
            .collect();
        assert_eq!(eligible.len(), 1, "only the attending physician is served");
    }

    #[test]
    fn a_named_i_report_reporter_is_offered_support_too() {
        let event = example("02-ireport-filed-fall.json");
        let decoded = decode_with(&structured(&event), &Policies::default()).unwrap();
        let involved = event["data"]["involved_staff"].as_array().unwrap().len();
        assert_eq!(recorded_members(&decoded).len(), involved + 1);
    }

    fn urgent(decoded: &Decoded) -> bool {
        match &decoded.command {
            ReportCommand::Record { urgent, .. } => *urgent,
            other => panic!("expected a report to record, got {other:?}"),
        }
    }

    /// Only the decision is kept: the command has a flag, and no harm level or category.
    #[test]
    fn a_severe_harm_or_a_listed_category_makes_a_report_urgent() {
        let severe = example("01-incident-reported-medication-error.json");
        let moderate = example("05-incident-reported-rapid-response.json");
        let fall = example("02-ireport-filed-fall.json");
        let defaults = Policies::default();
        assert!(urgent(
            &decode_with(&structured(&severe), &defaults).unwrap()
        ));
        assert!(!urgent(
            &decode_with(&structured(&moderate), &defaults).unwrap()
        ));
        assert!(!urgent(
            &decode_with(&structured(&fall), &defaults).unwrap()
        ));
        let listed = Policies {
            urgency: outreach_domain::UrgencyPolicy {
                categories: ["Rapid_Response".to_string()].into(),
                ..outreach_domain::UrgencyPolicy::never()
            },
            ..Default::default()
        };
        let decoded = decode_with(&structured(&moderate), &listed).unwrap();
        assert!(urgent(&decoded));
        let command = format!("{:?}", decoded.command);
        assert!(!command.contains("rapid_response"), "{command}");
        assert!(!command.contains("moderate"), "{command}");
        assert!(!urgent(
            &decode_with(&structured(&severe), &listed).unwrap()
        ));
    }

    #[test]
    fn no_clinical_detail_survives_into_the_command() {
        let event = example("01-incident-reported-medication-error.json");
        let decoded = decode_with(&structured(&event), &Policies::default()).unwrap();
        let command = format!("{:?}", decoded.command);
        let data = &event["data"];
        for clinical in [
            &data["patient"]["name"],
            &data["patient"]["mrn"],
            &data["narrative"],
            &data["location"]["room"],
            &data["harm"]["description"],
            &data["diagnosis"][0],
            &data["medications"][0]["name"],
            &data["contributing_factors"][0],
            &data["actions_taken"],
        ] {
            let text = clinical
                .as_str()
                .expect("the example holds this clinical field");
            assert!(!command.contains(text), "{text:?} reached the command");
        }
    }

    #[test]
    fn bad_input_is_rejected_with_a_reason() {
        let event = example("01-incident-reported-medication-error.json");
        let policies = Policies::default();
        let record = |payload: &[u8]| InboundRecord {
            payload: Some(payload.to_vec()),
            ..Default::default()
        };

        assert!(matches!(
            decode_with(&record(b"{not json"), &policies),
            Err(Rejection::NotJson { .. })
        ));
        assert!(matches!(
            decode_with(&record(b""), &policies),
            Err(Rejection::Empty)
        ));
        assert!(matches!(
            decode(&structured(&event), &policies, 100, now()),
            Err(Rejection::TooLarge { limit: 100, .. })
        ));
        let mut unknown = event.clone();
        unknown["type"] = json!("health.safety.parking.ticket.v1");
        assert!(matches!(
            decode_with(&structured(&unknown), &policies),
            Err(Rejection::UnknownType(_))
        ));
        let mut no_id = event.clone();
        no_id.as_object_mut().unwrap().remove("id");
        assert!(matches!(
            decode_with(&structured(&no_id), &policies),
            Err(Rejection::NotACloudEvent(_))
        ));
        let mut bad = event.clone();
        bad["data"]["involved_staff"][0]["discipline"] = json!("astronaut");
        match decode_with(&structured(&bad), &policies) {
            Err(Rejection::SchemaViolation(errors)) => {
                assert!(
                    errors
                        .iter()
                        .any(|e| e.contains("/involved_staff/0/discipline")),
                    "{errors:?}"
                );
                assert!(
                    errors.iter().all(|e| !e.contains("astronaut")),
                    "{errors:?}"
                );
            }
            other => panic!("expected a schema violation, got {other:?}"),
        }
        let mut text_data = binary(&event);
        text_data.payload = Some(b"plain text".to_vec());
        assert!(matches!(
            decode_with(&text_data, &policies),
            Err(Rejection::DataNotJson)
        ));
    }

    /// Whatever arrives, decoding answers: a command, or a rejection whose reason quotes no
    /// value of the event's data (where clinical detail lives). It never panics.
    mod properties {
        use proptest::prelude::*;

        use super::*;

        const CANARY: &str = "Canary-Okapi-7331";

        /// Every path into an event's `data`, objects and arrays included.
        fn paths(value: &Value, at: Vec<String>, out: &mut Vec<Vec<String>>) {
            out.push(at.clone());
            match value {
                Value::Object(map) => {
                    for (key, inner) in map {
                        let mut next = at.clone();
                        next.push(key.clone());
                        paths(inner, next, out);
                    }
                }
                Value::Array(items) => {
                    for (i, inner) in items.iter().enumerate() {
                        let mut next = at.clone();
                        next.push(i.to_string());
                        paths(inner, next, out);
                    }
                }
                _ => {}
            }
        }

        fn replace(value: &mut Value, path: &[String], with: Value) {
            match path.split_first() {
                None => *value = with,
                Some((head, rest)) => {
                    let inner = match value {
                        Value::Object(map) => map.get_mut(head),
                        Value::Array(items) => {
                            head.parse::<usize>().ok().and_then(|i| items.get_mut(i))
                        }
                        _ => None,
                    };
                    if let Some(inner) = inner {
                        replace(inner, rest, with);
                    }
                }
            }
        }

        fn odd_value(choice: u8) -> Value {
            match choice % 8 {
                0 => json!(CANARY),
                1 => json!(format!("{CANARY} {}", "x".repeat(300))),
                2 => json!(null),
                3 => json!(-1.5e300),
                4 => json!([CANARY, 7, {"nested": CANARY}]),
                5 => json!({ CANARY: CANARY }),
                6 => json!(true),
                _ => json!(""),
            }
        }

        const EXAMPLES: [&str; 6] = [
            "01-incident-reported-medication-error.json",
            "02-ireport-filed-fall.json",
            "03-ireport-filed-anonymous.json",
            "04-incident-amended-staff-added.json",
            "05-incident-reported-rapid-response.json",
            "06-incident-withdrawn-duplicate.json",
        ];

        const FHIR_EXAMPLES: [&str; 6] = [
            "hl7-r4/AdverseEvent-example.json",
            "hl7-r5/AdverseEvent-example.json",
            "r4-medication-error-contained.json",
            "r4-transaction.json",
            "r4b-subscription-notification.json",
            "r5-fall-collection.json",
        ];

        proptest! {
            #![proptest_config(ProptestConfig {
                cases: 512,
                failure_persistence: None,
                ..ProptestConfig::default()
            })]

            #[test]
            fn a_mangled_event_is_decoded_or_rejected_without_quoting_its_data(
                which in 0..EXAMPLES.len(),
                mutations in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
                binary_mode in any::<bool>(),
            ) {
                let mut event = example(EXAMPLES[which]);
                for (index, choice) in mutations {
                    let mut all = Vec::new();
                    paths(&event["data"], Vec::new(), &mut all);
                    let path = index.get(&all).clone();
                    replace(&mut event["data"], &path, odd_value(choice));
                }
                let record = if binary_mode && event["data"].is_object() {
                    binary(&event)
                } else {
                    structured(&event)
                };
                if let Err(rejection) = decode_with(&record, &Policies::default()) {
                    let reason = rejection.to_string();
                    prop_assert!(!reason.contains(CANARY), "{} quotes the data", reason);
                    prop_assert!(!rejection.code().is_empty());
                }
            }

            #[test]
            fn a_mangled_fhir_message_is_decoded_or_rejected_without_quoting_it(
                which in 0..FHIR_EXAMPLES.len(),
                mutations in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
                enveloped in any::<bool>(),
            ) {
                let mut resource = crate::fhir::tests::fhir_example(FHIR_EXAMPLES[which]);
                // Elements whose values outreach keeps (or compares): a canary there may
                // rightly reach the command. Anywhere else it must not.
                const KEPT: [&str; 12] = ["identifier", "name", "telecom", "code", "specialty",
                    "qualification", "id", "meta", "fullUrl", "reference", "resourceType", "contained"];
                let mut touched_kept = false;
                for (index, choice) in mutations {
                    let mut all = Vec::new();
                    paths(&resource, Vec::new(), &mut all);
                    let path = index.get(&all).clone();
                    touched_kept |= path.is_empty()
                        || path.last().is_some_and(|p| p == "entry" || p.parse::<usize>().is_ok() && path.len() <= 2)
                        || path.iter().any(|p| KEPT.contains(&p.as_str()));
                    replace(&mut resource, &path, odd_value(choice));
                }
                let record = if enveloped {
                    structured(&json!({
                        "specversion": "1.0", "id": "e", "source": "/ehr", "type": "fhir",
                        "datacontenttype": "application/fhir+json", "data": resource
                    }))
                } else {
                    crate::fhir::tests::bare(&resource)
                };
                match decode_with(&record, &crate::fhir::tests::hospital()) {
                    Err(rejection) => {
                        let reason = rejection.to_string();
                        prop_assert!(!reason.contains(CANARY), "{} quotes the message", reason);
                        prop_assert!(!rejection.code().is_empty());
                    }
                    Ok(decoded) => {
                        let command = format!("{:?}", decoded.command);
                        prop_assert!(touched_kept || !command.contains(CANARY),
                            "a clinical element reached the command: {}", command);
                    }
                }
            }

            #[test]
            fn any_bytes_and_headers_are_decoded_or_rejected(
                payload in proptest::collection::vec(any::<u8>(), 0..512),
                headers in proptest::collection::vec(
                    (prop::sample::select(vec!["content-type", "ce_specversion", "ce_id",
                        "ce_source", "ce_type", "ce_time", "traceparent", "other"]),
                     proptest::option::of(proptest::collection::vec(any::<u8>(), 0..40))),
                    0..6),
            ) {
                let record = InboundRecord {
                    topic: "incidents".into(),
                    headers: headers.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
                    payload: Some(payload),
                    ..Default::default()
                };
                if let Err(rejection) = decode_with(&record, &Policies::default()) {
                    prop_assert!(!rejection.code().is_empty());
                }
            }
        }
    }
}
