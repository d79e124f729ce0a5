//! FHIR through the whole decoding pipeline: records as a source would publish them, in every
//! form intake accepts, to the command they map to or the reason they are refused.

use chrono::{DateTime, Utc};
use outreach_domain::{HarmLevel, InvolvedMember, ReportCommand, TriggerPolicy};
use outreach_events::{Discipline, Involvement, Seniority};
use serde_json::{json, Value};

use super::{CampusRule, CodeRule, FhirMapping};
use crate::{decode, InboundRecord, Policies, Rejection};

pub fn fhir_example(name: &str) -> Value {
    let path = format!(
        "{}/../../schemas/fhir/examples/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_790_000_000, 0).unwrap()
}

/// A bare FHIR record: the resource as the value, FHIR's media type as the content type.
pub fn bare(resource: &Value) -> InboundRecord {
    InboundRecord {
        topic: "incidents".into(),
        headers: vec![(
            "content-type".into(),
            Some(b"application/fhir+json".to_vec()),
        )],
        payload: Some(serde_json::to_vec(resource).unwrap()),
        ..Default::default()
    }
}

fn cloudevent(resource: &Value, content_type: &str) -> Value {
    json!({
        "specversion": "1.0", "id": "ev-1", "source": "/ehr/fhir", "type": "org.hl7.fhir.notification",
        "datacontenttype": content_type, "data": resource
    })
}

fn structured(resource: &Value) -> InboundRecord {
    InboundRecord {
        topic: "incidents".into(),
        headers: vec![(
            "content-type".into(),
            Some(b"application/cloudevents+json".to_vec()),
        )],
        payload: Some(serde_json::to_vec(&cloudevent(resource, super::MEDIA_TYPE)).unwrap()),
        ..Default::default()
    }
}

fn binary(resource: &Value, content_type: &str) -> InboundRecord {
    let header = |k: &str, v: &str| (k.to_string(), Some(v.as_bytes().to_vec()));
    InboundRecord {
        topic: "incidents".into(),
        headers: vec![
            header("ce_specversion", "1.0"),
            header("ce_id", "ev-2"),
            header("ce_source", "/ehr/fhir"),
            header("ce_type", "org.hl7.fhir.notification"),
            header("content-type", content_type),
        ],
        payload: Some(serde_json::to_vec(resource).unwrap()),
        ..Default::default()
    }
}

/// The hospital of the realistic messages: staff ids in the default system, a few codes.
pub fn hospital() -> Policies {
    let rule = |system: &str, code: &str, discipline: Discipline| CodeRule {
        system: system.into(),
        code: code.into(),
        discipline: Some(discipline),
        department: None,
        seniority: None,
    };
    Policies {
        fhir: FhirMapping {
            codes: vec![
                rule(
                    "http://terminology.hl7.org/CodeSystem/v2-0360",
                    "RN",
                    Discipline::Nurse,
                ),
                rule(
                    "http://terminology.hl7.org/CodeSystem/v2-0360",
                    "MD",
                    Discipline::Physician,
                ),
                rule("http://snomed.info/sct", "158965000", Discipline::Physician),
                rule(
                    "http://terminology.hl7.org/CodeSystem/practitioner-role",
                    "nurse",
                    Discipline::Nurse,
                ),
            ],
            campuses: vec![CampusRule {
                name: "UCSF Mission Bay".into(),
                campus: "Mission Bay".into(),
            }],
            ..FhirMapping::default()
        },
        ..Policies::default()
    }
}

fn decoded(record: &InboundRecord, policies: &Policies) -> Result<ReportCommand, Rejection> {
    decode(record, policies, 1 << 20, now()).map(|d| d.command)
}

struct Recorded {
    report_id: String,
    source: String,
    outreach: bool,
    campus: String,
    unit: String,
    members: Vec<InvolvedMember>,
}

fn recorded(command: ReportCommand) -> Recorded {
    match command {
        ReportCommand::Record {
            report,
            outreach,
            campus,
            unit,
            members,
            ..
        } => Recorded {
            report_id: report.report_id,
            source: report.source,
            outreach,
            campus,
            unit,
            members,
        },
        other => panic!("expected a report to record, got {other:?}"),
    }
}

fn who(members: &[InvolvedMember]) -> Vec<(&str, Involvement)> {
    members
        .iter()
        .map(|m| (m.profile.staff_id.as_str(), m.profile.involvement))
        .collect()
}

#[test]
fn the_specifications_r4_example_names_no_staff_and_is_refused_with_its_reason() {
    let example = fhir_example("hl7-r4/AdverseEvent-example.json");
    for record in [bare(&example), structured(&example)] {
        assert_eq!(
            decoded(&record, &hospital()),
            Err(Rejection::NoStaffIdentifier)
        );
    }
}

#[test]
fn the_specifications_r4_example_with_its_practitioner_opens_a_case_for_the_recorder() {
    // The example's recorder is Practitioner/example; the specification's own Practitioner
    // and PractitionerRole examples carry him, with the hospital's staff system his.
    let bundle = json!({
        "resourceType": "Bundle", "type": "collection",
        "entry": [
            {"fullUrl": "http://acme.org/fhir/AdverseEvent/example", "resource": fhir_example("hl7-r4/AdverseEvent-example.json")},
            {"fullUrl": "http://acme.org/fhir/Practitioner/example", "resource": fhir_example("hl7-r4/Practitioner-example.json")},
            {"fullUrl": "http://acme.org/fhir/PractitionerRole/example", "resource": fhir_example("hl7-r4/PractitionerRole-example.json")}
        ]
    });
    let mut policies = hospital();
    policies.fhir.staff_identifier_system = "http://www.acme.org/practitioners".into();
    let report = recorded(decoded(&bare(&bundle), &policies).unwrap());
    assert_eq!(report.report_id, "example");
    assert_eq!(who(&report.members), [("23", Involvement::Reporter)]);
    let contact = &report.members[0].contact;
    assert_eq!(
        (contact.given_name.as_str(), contact.family_name.as_str()),
        ("Adam", "Careful")
    );
    assert_eq!(
        contact.email.as_deref(),
        Some("adam.southern@example.org"),
        "the role's work contact"
    );
}

#[test]
fn the_specifications_r4b_example_told_by_its_content_type_names_no_staff_either() {
    let example = fhir_example("hl7-r4b/AdverseEvent-example.json");
    let record = binary(&example, "application/fhir+json; fhirVersion=4.3");
    assert_eq!(
        decoded(&record, &hospital()),
        Err(Rejection::NoStaffIdentifier)
    );
}

#[test]
fn the_specifications_r5_example_names_no_staff_and_is_refused_with_its_reason() {
    let example = fhir_example("hl7-r5/AdverseEvent-example.json");
    for record in [bare(&example), structured(&example)] {
        assert_eq!(
            decoded(&record, &hospital()),
            Err(Rejection::NoStaffIdentifier)
        );
    }
}

#[test]
fn the_specifications_r5_example_with_its_practitioner_opens_a_case_for_the_recorder() {
    // R5's example names its recorder Practitioner/example, as R4's does; the R5 examples'
    // Practitioner carries him, without any telecom.
    let bundle = json!({
        "resourceType": "Bundle", "type": "collection",
        "entry": [
            {"fullUrl": "http://acme.org/fhir/AdverseEvent/example", "resource": fhir_example("hl7-r5/AdverseEvent-example.json")},
            {"fullUrl": "http://acme.org/fhir/Practitioner/example", "resource": fhir_example("hl7-r5/Practitioner-example.json")}
        ]
    });
    let mut policies = hospital();
    policies.fhir.staff_identifier_system = "http://www.acme.org/practitioners".into();
    let decoded = decode(&bare(&bundle), &policies, 1 << 20, now()).unwrap();
    assert_eq!(
        decoded.event_type, "hl7.fhir.r5.AdverseEvent",
        "told by its shape"
    );
    let report = recorded(decoded.command);
    assert_eq!(report.report_id, "example");
    assert_eq!(who(&report.members), [("23", Involvement::Reporter)]);
    let contact = &report.members[0].contact;
    assert_eq!(
        (contact.given_name.as_str(), contact.family_name.as_str()),
        ("Adam", "Careful")
    );
    assert_eq!(contact.email, None);

    // Read as R5, it is checked against R5's schema: R4's `contributor` is not R5.
    let mut r4_element = fhir_example("hl7-r5/AdverseEvent-example.json");
    r4_element["contributor"] = json!([{"reference": "Practitioner/example"}]);
    assert!(matches!(
        decode(&bare(&r4_element), &policies, 1 << 20, now()),
        Err(Rejection::SchemaViolation(_))
    ));
}

#[test]
fn an_r4_medication_error_names_its_contributors_and_recorder_once_each() {
    let event = fhir_example("r4-medication-error-contained.json");
    let report = recorded(decoded(&structured(&event), &hospital()).unwrap());
    assert_eq!(
        (report.source.as_str(), report.report_id.as_str()),
        ("/ehr/fhir", "med-error-2026-0412")
    );
    assert_eq!(
        who(&report.members),
        [
            ("E10077", Involvement::Primary),
            ("E30412", Involvement::Primary)
        ],
        "the recorder is also a contributor: named once, as first named"
    );
    let physician = &report.members[0];
    assert_eq!(physician.profile.discipline, Discipline::Physician);
    assert_eq!(physician.profile.role, "Attending physician");
    assert_eq!(physician.profile.department, "Critical care medicine");
    assert_eq!(
        physician.contact.email.as_deref(),
        Some("m.lindqvist@hospital.example"),
        "work before home"
    );
    assert_eq!(physician.contact.phone.as_deref(), Some("+1 415 555 0177"));
    let nurse = &report.members[1];
    assert_eq!(nurse.profile.discipline, Discipline::Nurse);
    assert_eq!(nurse.contact.mobile.as_deref(), Some("+1 415 555 0142"));
    assert_eq!(
        (report.campus.as_str(), report.unit.as_str()),
        ("Parnassus", "7 Long ICU")
    );
    assert!(report.outreach);
}

#[test]
fn an_r5_fall_names_performer_witness_the_care_team_and_keeps_no_room() {
    let bundle = fhir_example("r5-fall-collection.json");
    for record in [
        bare(&bundle),
        binary(&bundle, "application/fhir+json; fhirVersion=5.0"),
    ] {
        let report = recorded(decoded(&record, &hospital()).unwrap());
        assert_eq!(
            who(&report.members),
            [
                ("E40211", Involvement::Primary),
                ("E40388", Involvement::Witness),
                ("E10412", Involvement::Other),
                ("E50019", Involvement::Other),
            ],
            "the patient participant is never followed; the recorder is the performer"
        );
        assert_eq!(report.members[0].profile.role, "Charge nurse");
        assert_eq!(report.members[0].profile.department, "Internal Medicine");
        assert_eq!(
            report.members[0].contact.phone.as_deref(),
            Some("+1 415 555 0190")
        );
        assert_eq!(
            report.members[1].contact.mobile.as_deref(),
            Some("+1 415 555 0133")
        );
        assert_eq!(report.unit, "4 West Medical", "the room is clinical detail");
        assert_eq!(
            report.campus, "Mission Bay",
            "mapped from the managing organization"
        );
    }
}

#[test]
fn a_transaction_resolves_its_urn_references() {
    let report =
        recorded(decoded(&bare(&fhir_example("r4-transaction.json")), &hospital()).unwrap());
    assert_eq!(
        report.report_id,
        "urn:uuid:6a1d3c55-20b9-4a8f-8f0e-0d8d1f4f3b22"
    );
    assert_eq!(
        who(&report.members),
        [
            ("E20771", Involvement::Primary),
            ("E20790", Involvement::Primary)
        ]
    );
    assert_eq!(
        (report.campus.as_str(), report.unit.as_str()),
        ("Unknown", "Unknown")
    );
}

#[test]
fn a_subscription_notification_is_read_as_r4b() {
    let record = structured(&fhir_example("r4b-subscription-notification.json"));
    let decoded = decode(&record, &hospital(), 1 << 20, now()).unwrap();
    assert_eq!(decoded.event_type, "hl7.fhir.r4b.AdverseEvent");
    let report = recorded(decoded.command);
    assert_eq!(
        who(&report.members),
        [
            ("E11020", Involvement::Primary),
            ("E31877", Involvement::Reporter)
        ]
    );
    assert_eq!(report.campus, "Mount Zion");
}

#[test]
fn a_message_bundle_is_read_past_its_header() {
    let message = json!({
        "resourceType": "Bundle", "type": "message", "timestamp": "2026-11-03T09:12:00Z",
        "entry": [
            {"fullUrl": "urn:uuid:2f0c7a52-7d0e-4c55-9a37-59e4f1d0a001", "resource": {
                "resourceType": "MessageHeader",
                "eventCoding": {"system": "http://hospital.example/fhir/events", "code": "adverse-event-reported"},
                "source": {"endpoint": "https://ehr.hospital.example/fhir"},
                "focus": [{"reference": "urn:uuid:2f0c7a52-7d0e-4c55-9a37-59e4f1d0a002"}]
            }},
            {"fullUrl": "urn:uuid:2f0c7a52-7d0e-4c55-9a37-59e4f1d0a002",
             "resource": fhir_example("r4-medication-error-contained.json")}
        ]
    });
    let decoded = decode(&structured(&message), &hospital(), 1 << 20, now()).unwrap();
    assert_eq!(decoded.event_type, "hl7.fhir.r4.AdverseEvent");
    let report = recorded(decoded.command);
    assert_eq!(report.report_id, "med-error-2026-0412");
    assert_eq!(
        who(&report.members),
        [
            ("E10077", Involvement::Primary),
            ("E30412", Involvement::Primary)
        ]
    );
}

/// Which FHIR a message is: the content type's `fhirVersion` says, else a versioned HL7 core
/// profile, else the shape; the version chosen decides which of HL7's schemas checks it.
#[test]
fn the_version_is_told_by_the_content_type_else_a_core_profile_else_the_shape() {
    let policies = hospital();
    let event_type =
        |record: &InboundRecord| decode(record, &policies, 1 << 20, now()).map(|d| d.event_type);
    let r4 = fhir_example("r4-medication-error-contained.json");
    assert_eq!(
        event_type(&bare(&r4)),
        Ok("hl7.fhir.r4.AdverseEvent"),
        "by shape"
    );
    assert_eq!(
        event_type(&binary(&r4, "application/fhir+json; fhirVersion=4.3")),
        Ok("hl7.fhir.r4b.AdverseEvent"),
        "by the content type"
    );
    let mut profiled_r5 = fhir_example("r5-fall-collection.json");
    profiled_r5["entry"][0]["resource"]["meta"]["profile"] =
        json!(["http://hl7.org/fhir/StructureDefinition/AdverseEvent|5.0.0"]);
    assert_eq!(
        event_type(&bare(&profiled_r5)),
        Ok("hl7.fhir.r5.AdverseEvent")
    );
    // An R4-shaped event that a core profile (or the content type) calls R5 is checked as R5,
    // and R4's `contributor` is not R5's: told by the profile, not the shape.
    let mut r4_called_r5 = r4.clone();
    r4_called_r5["meta"]["profile"] =
        json!(["http://hl7.org/fhir/StructureDefinition/AdverseEvent|5.0.0"]);
    assert!(matches!(
        event_type(&bare(&r4_called_r5)),
        Err(Rejection::SchemaViolation(_))
    ));
    assert!(matches!(
        event_type(&binary(&r4, "application/fhir+json; fhirVersion=5.0")),
        Err(Rejection::SchemaViolation(_))
    ));
    // The content type's word beats the profile's.
    assert_eq!(
        event_type(&binary(
            &r4_called_r5,
            "application/fhir+json; fhirVersion=4.0"
        )),
        Ok("hl7.fhir.r4.AdverseEvent")
    );
}

/// The code map sets discipline and seniority from a role's codes or a practitioner's
/// qualifications, and the department from a role's specialty; what no rule (or word) sets takes
/// the configured defaults.
#[test]
fn the_code_map_sets_discipline_department_and_seniority_and_the_defaults_fill_the_rest() {
    let event = fhir_example("r4-medication-error-contained.json");
    let mut policies = hospital();
    policies.fhir.codes = vec![
        CodeRule {
            system: "http://terminology.hl7.org/CodeSystem/v2-0360".into(),
            code: "RN".into(),
            discipline: Some(Discipline::Nurse),
            department: None,
            seniority: Some(Seniority::Senior),
        },
        CodeRule {
            system: "http://snomed.info/sct".into(),
            code: "408478003".into(),
            discipline: None,
            department: Some("Adult ICU".into()),
            seniority: None,
        },
    ];
    policies.fhir.default_discipline = Discipline::Pharmacist;
    policies.fhir.default_department = "Not given".into();
    let report = recorded(decoded(&bare(&event), &policies).unwrap());
    let (physician, nurse) = (&report.members[0].profile, &report.members[1].profile);
    assert_eq!(
        (
            physician.discipline,
            physician.department.as_str(),
            physician.seniority
        ),
        (Discipline::Pharmacist, "Adult ICU", None),
        "no rule for the role's code: the default discipline; the specialty's rule"
    );
    assert_eq!(
        (nurse.discipline, nurse.department.as_str(), nurse.seniority),
        (Discipline::Nurse, "Not given", Some(Seniority::Senior)),
        "by the qualification; no role, no specialty: the default department"
    );
}

#[test]
fn each_version_carries_its_revision_and_entered_in_error_withdraws() {
    let bundle = fhir_example("r5-fall-collection.json");
    match decoded(&bare(&bundle), &hospital()).unwrap() {
        ReportCommand::Record { revision, .. } => {
            assert_eq!(revision.unwrap().version_id.as_deref(), Some("3"))
        }
        other => panic!("{other:?}"),
    }
    let mut withdrawn = bundle.clone();
    withdrawn["entry"][0]["resource"]["status"] = json!("entered-in-error");
    assert!(matches!(
        decoded(&bare(&withdrawn), &hospital()),
        Ok(ReportCommand::Withdraw { report, .. }) if report.report_id == "fall-2026-0977"
    ));
    let deleted = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"request": {"method": "DELETE", "url": "AdverseEvent/med-error-2026-0412"}}
    ]});
    assert!(matches!(
        decoded(&bare(&deleted), &hospital()),
        Ok(ReportCommand::Withdraw { report, .. }) if report.report_id == "med-error-2026-0412"
    ));
}

#[test]
fn a_history_bundle_is_read_at_its_newest_version() {
    let v1 = fhir_example("r4-medication-error-contained.json");
    let mut v2 = v1.clone();
    v2["meta"]["versionId"] = json!("2");
    v2["contributor"] = json!([{"reference": "#rn"}]);
    let history = json!({"resourceType": "Bundle", "type": "history", "entry": [
        {"fullUrl": "https://ehr.example/fhir/AdverseEvent/med-error-2026-0412", "resource": v1},
        {"fullUrl": "https://ehr.example/fhir/AdverseEvent/med-error-2026-0412", "resource": v2}
    ]});
    match decoded(&bare(&history), &hospital()).unwrap() {
        ReportCommand::Record {
            members, revision, ..
        } => {
            assert_eq!(revision.unwrap().version_id.as_deref(), Some("2"));
            assert_eq!(who(&members), [("E30412", Involvement::Primary)]);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn severity_and_seriousness_reach_the_trigger_policy_only_as_its_decision() {
    let policies = |minimum_harm| Policies {
        trigger: TriggerPolicy {
            minimum_harm,
            ..TriggerPolicy::default()
        },
        ..hospital()
    };
    let mut mild = fhir_example("r4-transaction.json");
    let outreach = |record: &InboundRecord, minimum| {
        recorded(decoded(record, &policies(minimum)).unwrap()).outreach
    };
    assert!(outreach(&bare(&mild), HarmLevel::Mild));
    assert!(!outreach(&bare(&mild), HarmLevel::Moderate), "graded mild");
    mild["entry"][1]["resource"]["seriousness"] = json!({"coding": [{"system": "http://terminology.hl7.org/CodeSystem/adverse-event-seriousness", "code": "serious"}]});
    assert!(
        outreach(&bare(&mild), HarmLevel::Severe),
        "serious raises it to severe"
    );
    let mut near_miss = fhir_example("r4-transaction.json");
    near_miss["entry"][1]["resource"]["actuality"] = json!("potential");
    near_miss["entry"][1]["resource"]
        .as_object_mut()
        .unwrap()
        .remove("severity");
    assert!(
        !outreach(&bare(&near_miss), HarmLevel::Mild),
        "a near miss harmed no one"
    );
    let mut r5 = fhir_example("r5-fall-collection.json");
    r5["entry"][0]["resource"]["seriousness"] = json!({"coding": [{"code": "non-serious"}]});
    r5["entry"][0]["resource"]["extension"] = json!([{"url": "http://hl7.org/fhir/StructureDefinition/adverseevent-severity", "valueCodeableConcept": {"coding": [{"code": "moderate"}]}}]);
    assert!(outreach(&bare(&r5), HarmLevel::Moderate));
    assert!(
        !outreach(&bare(&r5), HarmLevel::Severe),
        "R5's severity extension"
    );
}

#[test]
fn bad_fhir_is_refused_with_a_reason_of_its_own_that_names_paths_never_values() {
    let policies = hospital();
    let refused = |value: &Value| decoded(&bare(value), &policies).unwrap_err();
    assert_eq!(refused(&json!({"id": "x"})), Rejection::NotFhir);
    assert_eq!(
        refused(&json!({"resourceType": "Patient", "name": [{"family": "Canary"}]})),
        Rejection::UnknownResourceType("Patient".into())
    );
    assert_eq!(
        refused(&json!({"resourceType": "Bundle", "type": "collection", "entry": []})),
        Rejection::NoAdverseEvent
    );
    let mut two = fhir_example("r4b-subscription-notification.json");
    let mut other = two["entry"][1].clone();
    other["resource"]["id"] = json!("ae-88121");
    two["entry"].as_array_mut().unwrap().push(other);
    assert_eq!(refused(&two), Rejection::SeveralAdverseEvents);
    let mut broken = fhir_example("r4-medication-error-contained.json");
    broken["contributor"][0]["reference"] = json!("#nobody");
    assert_eq!(
        refused(&broken),
        Rejection::UnresolvableReference("AdverseEvent.contributor[0]".into())
    );
    let mut dangling = fhir_example("r4-transaction.json");
    dangling["entry"][1]["resource"]["contributor"][0]["reference"] =
        json!("urn:uuid:00000000-0000-0000-0000-000000000000");
    assert_eq!(
        refused(&dangling),
        Rejection::UnresolvableReference("AdverseEvent.contributor[0]".into())
    );
    let mut outsiders = fhir_example("r4-medication-error-contained.json");
    outsiders["contained"][0]["identifier"][0]["system"] = json!("http://other.example/ids");
    outsiders["contained"][1]["identifier"] = json!([]);
    assert_eq!(refused(&outsiders), Rejection::NoStaffIdentifier);
    assert!(matches!(
        decoded(&binary(&fhir_example("r5-fall-collection.json"), "application/fhir+json; fhirVersion=3.0"), &policies),
        Err(Rejection::UnsupportedFhirVersion(v)) if v == "3.0"
    ));
    let mut r3 = fhir_example("r4-medication-error-contained.json");
    r3["meta"]["profile"] = json!(["http://hl7.org/fhir/StructureDefinition/AdverseEvent|3.0.2"]);
    assert_eq!(
        refused(&r3),
        Rejection::UnsupportedFhirVersion("3.0.2".into())
    );
    let mut profiled = fhir_example("r4-medication-error-contained.json");
    profiled["meta"]["profile"] =
        json!(["http://hospital.example/fhir/StructureDefinition/incident|7.1.0"]);
    assert!(
        decoded(&bare(&profiled), &policies).is_ok(),
        "an IG's own version is not FHIR's"
    );
    let mut misshapen = fhir_example("r4-medication-error-contained.json");
    misshapen["subject"] = json!({"reference": 42, "display": "Canary Jane"});
    misshapen["outcome"] = json!("Canary");
    match refused(&misshapen) {
        Rejection::SchemaViolation(errors) => {
            let text = errors.join("; ");
            assert!(text.contains("/subject/reference"), "{text}");
            assert!(!text.contains("Canary"), "{text}");
        }
        other => panic!("{other:?}"),
    }
    // R5 is checked against HL7's R5 schema: a clinical element of the wrong shape is refused
    // though it is never read, and R4's element names are not R5's.
    let mut misshapen_r5 = fhir_example("r5-fall-collection.json");
    misshapen_r5["entry"][0]["resource"]["note"] = json!("Canary fell");
    misshapen_r5["entry"][7]["resource"]["physicalType"] =
        misshapen_r5["entry"][7]["resource"]["form"].clone();
    match refused(&misshapen_r5) {
        Rejection::SchemaViolation(errors) => {
            let text = errors.join("; ");
            assert!(text.contains("/entry/0/resource/note"), "{text}");
            assert!(
                text.contains("/entry/7/resource fails `additionalProperties`"),
                "{text}"
            );
            assert!(!text.contains("Canary"), "{text}");
        }
        other => panic!("{other:?}"),
    }
    let mut no_id = fhir_example("r4-medication-error-contained.json");
    no_id.as_object_mut().unwrap().remove("id");
    assert_eq!(refused(&no_id), Rejection::NoLogicalId);
}

#[test]
fn no_clinical_element_survives_into_the_command() {
    for (name, clinical) in [
        (
            "r4-medication-error-contained.json",
            vec![
                "Jane Doe",
                "Tenfold",
                "Heparin",
                "Retroperitoneal",
                "Atrial",
                "00418832",
                "p-00418832",
                "e-7731",
            ],
        ),
        (
            "r5-fall-collection.json",
            vec![
                "Robert Roe",
                "Room 712",
                "zolpidem",
                "Fractured",
                "Family informed",
                "X-ray",
                "morse",
                "Bed rail",
                "p-55120",
            ],
        ),
        (
            "r4-transaction.json",
            vec!["Roe", "1951", "00992211", "Wrong-site"],
        ),
    ] {
        let command = format!(
            "{:?}",
            decoded(&bare(&fhir_example(name)), &hospital()).unwrap()
        );
        for text in clinical {
            assert!(
                !command.contains(text),
                "{name}: {text:?} reached the command"
            );
        }
    }
}

#[test]
fn the_demos_fhir_sample_opens_cases_with_the_default_configuration() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../schemas/examples/05b-fhir-r4-adverse-event-medication-error.json"
    );
    let event: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    for mode in [crate::sample::Mode::Structured, crate::sample::Mode::Binary] {
        let encoded = crate::sample::encode(&event, mode).unwrap();
        let record = InboundRecord {
            topic: "incidents".into(),
            headers: encoded
                .headers
                .into_iter()
                .map(|(k, v)| (k, Some(v.into_bytes())))
                .collect(),
            payload: Some(encoded.payload),
            ..Default::default()
        };
        let decoded = decode(&record, &Policies::default(), 1 << 20, now()).unwrap();
        assert_eq!(decoded.event_type, "hl7.fhir.r4.AdverseEvent");
        let report = recorded(decoded.command);
        assert_eq!(report.source, "/epic/fhir/parnassus");
        assert_eq!(report.members.len(), 2);
        assert_eq!(report.campus, "Parnassus");
    }
}

#[test]
fn care_teams_that_name_themselves_are_expanded_once() {
    let mut fall = fhir_example("r5-fall-collection.json");
    let team = fall["entry"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|e| e["resource"]["resourceType"] == "CareTeam")
        .unwrap();
    let participants = team["resource"]["participant"].as_array_mut().unwrap();
    for _ in 0..2000 {
        participants.push(json!({"member": {"reference": "CareTeam/rapid-response"}}));
    }
    // Expanded at each mention, three levels deep, this would be 2000^3 follows.
    let report = recorded(decoded(&bare(&fall), &hospital()).unwrap());
    assert_eq!(report.members.len(), 4);
}
