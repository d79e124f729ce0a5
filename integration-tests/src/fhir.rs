//! HL7 FHIR messages as an EHR or a safety-reporting system would publish them: the examples
//! in `schemas/fhir/examples/`, wrapped or bare, and with clinical detail of the test's own.

use outreach_intake::sample::Encoded;
use serde_json::{json, Value};

pub const SOURCE: &str = "/ehr/fhir/test-hospital";

/// An example of `schemas/fhir/examples/`.
pub fn example(name: &str) -> Value {
    let path = format!(
        "{}/../schemas/fhir/examples/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A structured CloudEvent carrying `resource`.
pub fn cloudevent(resource: Value) -> Value {
    json!({
        "specversion": "1.0",
        "id": uuid::Uuid::new_v4().to_string(),
        "source": SOURCE,
        "type": "org.hl7.fhir.adverse-event",
        "datacontenttype": "application/fhir+json",
        "data": resource
    })
}

/// A bare FHIR record: the resource alone, with FHIR's media type.
pub fn bare(resource: &Value) -> Encoded {
    Encoded {
        headers: vec![("content-type".into(), "application/fhir+json".into())],
        payload: serde_json::to_vec(resource).unwrap(),
    }
}

/// The AdverseEvent of a Bundle (its first entry in the examples).
pub fn event_of(bundle: &mut Value) -> &mut Value {
    bundle["entry"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .map(|e| &mut e["resource"])
        .find(|r| r["resourceType"] == "AdverseEvent")
        .unwrap()
}

/// Plants `canary` in every clinical element an R4 AdverseEvent can carry.
pub fn r4_clinical(event: &mut Value, canary: &str) {
    let text = |what: &str| format!("{what} {canary}");
    event["text"] = json!({"status": "generated", "div": format!("<div xmlns=\"http://www.w3.org/1999/xhtml\">{}</div>", text("narrative"))});
    event["subject"] =
        json!({"reference": format!("Patient/{canary}"), "display": text("patient")});
    event["encounter"] =
        json!({"reference": format!("Encounter/{canary}"), "display": text("encounter")});
    event["event"] = json!({"text": text("event")});
    event["resultingCondition"] =
        json!([{"reference": format!("Condition/{canary}"), "display": text("condition")}]);
    event["outcome"] = json!({"text": text("outcome")});
    event["suspectEntity"] = json!([{"instance": {"reference": format!("Medication/{canary}"), "display": text("drug")},
        "causality": [{"assessment": {"text": text("causality")}}]}]);
    event["subjectMedicalHistory"] = json!([{"display": text("history")}]);
    event["referenceDocument"] = json!([{"display": text("document")}]);
}

/// Plants `canary` in every clinical element an R5 AdverseEvent can carry.
pub fn r5_clinical(event: &mut Value, canary: &str) {
    let text = |what: &str| format!("{what} {canary}");
    event["text"] = json!({"status": "generated", "div": format!("<div xmlns=\"http://www.w3.org/1999/xhtml\">{}</div>", text("narrative"))});
    event["subject"] =
        json!({"reference": format!("Patient/{canary}"), "display": text("patient")});
    event["encounter"] = json!({"reference": format!("Encounter/{canary}")});
    event["code"] = json!({"text": text("code")});
    event["resultingEffect"] =
        json!([{"reference": format!("Condition/{canary}"), "display": text("effect")}]);
    event["outcome"] = json!([{"text": text("outcome")}]);
    event["suspectEntity"] = json!([{"instanceCodeableConcept": {"text": text("suspect")}}]);
    event["contributingFactor"] = json!([{"itemCodeableConcept": {"text": text("factor")}}]);
    event["mitigatingAction"] = json!([{"itemCodeableConcept": {"text": text("mitigation")}}]);
    event["preventiveAction"] = json!([{"itemCodeableConcept": {"text": text("prevention")}}]);
    event["supportingInfo"] = json!([{"itemReference": {"reference": format!("Observation/{canary}"), "display": text("supporting")}}]);
    event["note"] = json!([{"text": text("note")}]);
}
