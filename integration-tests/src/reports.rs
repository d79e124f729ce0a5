//! Safety reports as a reporting system would publish them, clinical detail and all.

use serde_json::{json, Value};

pub const SOURCE: &str = "/datix/test-hospital";

/// An involved care team member of the given discipline; names and contacts follow the id.
pub fn staff(staff_id: &str, discipline: &str) -> Value {
    json!({
        "staff_id": staff_id,
        "name": { "given": format!("Given{staff_id}"), "family": format!("Family{staff_id}") },
        "role": format!("{discipline} on shift"),
        "discipline": discipline,
        "department": "Critical Care",
        "seniority": "mid_career",
        "contact": { "email": format!("{}@example.org", staff_id.to_lowercase()), "mobile": "+1 415 555 0100" },
        "preferred_channel": "email",
        "involvement": "primary"
    })
}

/// Every clinical field an incident report can carry, each holding `canary`.
pub fn clinical_fields(canary: &str) -> Value {
    json!({
        "category": format!("medication {canary}"),
        "occurred_at": "2026-11-20T13:40:00Z",
        "harm": { "level": "moderate", "description": format!("harm {canary}") },
        "patient": { "name": format!("Patient {canary}"), "mrn": format!("MRN-{canary}"), "date_of_birth": "1950-01-01" },
        "narrative": format!("narrative {canary}"),
        "event_description": format!("description {canary}"),
        "diagnosis": [format!("diagnosis {canary}")],
        "medications": [{ "name": format!("drug {canary}"), "dose": format!("dose {canary}"), "route": format!("route {canary}") }],
        "contributing_factors": [format!("factor {canary}")],
        "actions_taken": format!("actions {canary}")
    })
}

fn envelope(ty: &str, data: Value) -> Value {
    json!({
        "specversion": "1.0",
        "id": uuid::Uuid::new_v4().to_string(),
        "source": SOURCE,
        "type": ty,
        "time": "2026-11-20T14:03:00Z",
        "datacontenttype": "application/json",
        "data": data
    })
}

/// An incident naming `staff`, with ordinary clinical detail: a moderate harm, routine under the
/// default urgency policy.
pub fn incident(report_id: &str, staff: Vec<Value>) -> Value {
    incident_with_clinical_detail(report_id, staff, "ordinary")
}

/// An incident graded as a patient's death: urgent under the default urgency policy.
pub fn urgent_incident(report_id: &str, staff: Vec<Value>, canary: &str) -> Value {
    let mut event = incident_with_clinical_detail(report_id, staff, canary);
    event["data"]["harm"]["level"] = json!("death");
    event
}

pub fn incident_with_clinical_detail(report_id: &str, staff: Vec<Value>, canary: &str) -> Value {
    let mut data = clinical_fields(canary);
    let fields = data.as_object_mut().unwrap();
    fields.insert("report_id".into(), json!(report_id));
    fields.insert("reported_at".into(), json!("2026-11-20T14:03:00Z"));
    fields.insert(
        "location".into(),
        json!({ "campus": "Parnassus", "unit": "7 Long ICU", "room": format!("room {canary}") }),
    );
    fields.insert("involved_staff".into(), Value::Array(staff));
    envelope("health.safety.incident.reported.v1", data)
}

/// An anonymous I-report naming `staff`, graded a moderate harm (routine by default).
pub fn i_report(report_id: &str, staff: Vec<Value>) -> Value {
    envelope(
        "health.safety.ireport.filed.v1",
        json!({
            "report_id": report_id,
            "filed_at": "2026-11-20T14:03:00Z",
            "anonymous": true,
            "category": "fall",
            "harm": { "level": "moderate" },
            "location": { "campus": "Parnassus", "unit": "7 Long ICU" },
            "involved_staff": staff,
        }),
    )
}

pub fn amendment(report_id: &str, added: Vec<Value>, removed: Vec<&str>) -> Value {
    envelope(
        "health.safety.incident.amended.v1",
        json!({ "report_id": report_id, "amended_at": "2026-11-21T09:00:00Z", "staff_added": added, "staff_removed": removed }),
    )
}

pub fn withdrawal(report_id: &str) -> Value {
    envelope(
        "health.safety.incident.withdrawn.v1",
        json!({ "report_id": report_id, "withdrawn_at": "2026-11-21T10:00:00Z", "reason": "entered in error" }),
    )
}

/// The sample stream in `schemas/examples/`, in name order.
pub fn examples() -> Vec<Value> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../schemas/examples");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
        .iter()
        .map(|p| serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap())
        .collect()
}

/// Incidents `INC-{prefix}{n}` for each `n` in `range`, naming 1 to 3 nurses each, and how many
/// cases they call for together.
pub fn incidents(prefix: &str, range: std::ops::Range<usize>) -> (Vec<Value>, i64) {
    let mut cases = 0;
    let reports = range
        .map(|n| {
            let size = 1 + n % 3;
            cases += size as i64;
            incident(
                &format!("INC-{prefix}{n}"),
                (0..size)
                    .map(|s| staff(&format!("{prefix}{n}-{s}"), "nurse"))
                    .collect(),
            )
        })
        .collect();
    (reports, cases)
}
