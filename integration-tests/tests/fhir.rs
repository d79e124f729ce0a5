//! HL7 FHIR AdverseEvents on the incidents topic, in every form intake accepts, through the
//! real service: cases open as for the native events, later versions amend, entered-in-error
//! withdraws, and bad FHIR is dead-lettered with its own reason.

use integration_tests::fhir::{bare, cloudevent, event_of, example};
use integration_tests::{case_of, staff_ids, TestBed};
use outreach_intake::sample::{encode, Mode};
use serde_json::json;

#[tokio::test]
async fn fhir_reports_open_cases_in_every_form_and_later_versions_amend_or_withdraw_them() {
    let bed = TestBed::new().await;
    let service = bed.start().await;

    // An R4 event with contained practitioners, as a structured CloudEvent; an R5 fall in a
    // collection Bundle, bare; a transaction Bundle as a binary CloudEvent; an R4B
    // subscription notification, bare.
    bed.publish(
        &cloudevent(example("r4-medication-error-contained.json")),
        Mode::Structured,
    )
    .await;
    let fall = example("r5-fall-collection.json");
    bed.publish_raw(Some("fall-2026-0977"), &bare(&fall)).await;
    bed.publish(&cloudevent(example("r4-transaction.json")), Mode::Binary)
        .await;
    let notification = example("r4b-subscription-notification.json");
    bed.publish_raw(Some("ae-88120"), &bare(&notification))
        .await;

    let cases = bed
        .wait_for_cases(&service, "the ten staff's cases", |c| c.len() == 10)
        .await;
    assert_eq!(
        staff_ids(&cases),
        [
            "E10077", "E10412", "E11020", "E20771", "E20790", "E30412", "E31877", "E40211",
            "E40388", "E50019"
        ]
    );
    let physician = case_of(&cases, "E10077");
    assert_eq!(physician["campus"], "Parnassus");
    assert_eq!(physician["unit"], "7 Long ICU");
    assert_eq!(physician["report"]["report_id"], "med-error-2026-0412");
    assert_eq!(physician["member"]["role"], "Attending physician");
    assert_eq!(
        physician["member"]["contact"]["email"],
        "m.lindqvist@hospital.example"
    );
    let witness = case_of(&cases, "E40388");
    assert_eq!(witness["member"]["involvement"], "witness");
    assert_eq!(witness["unit"], "4 West Medical", "the room is not kept");
    assert_eq!(witness["report"]["source"], "urn:peer-outreach:fhir");
    assert_eq!(
        case_of(&cases, "E31877")["member"]["involvement"],
        "reporter"
    );

    // Version 4 of the fall: the witness is gone, a night nurse was there too.
    let mut v4 = fall.clone();
    let event = event_of(&mut v4);
    event["meta"]["versionId"] = json!("4");
    let participants = event["participant"].as_array_mut().unwrap();
    participants.remove(1);
    participants.push(json!({"actor": {"reference": "Practitioner/rn-dubois"}}));
    v4["entry"].as_array_mut().unwrap().push(json!({
        "fullUrl": "https://ehr.hospital.example/fhir/Practitioner/rn-dubois",
        "resource": {"resourceType": "Practitioner", "id": "rn-dubois",
            "identifier": [{"system": "urn:peer-outreach:staff-id", "value": "E40999"}],
            "name": [{"family": "Dubois", "given": ["Claire"]}],
            "telecom": [{"system": "email", "value": "claire.dubois@hospital.example"}]}
    }));
    bed.publish_raw(Some("fall-2026-0977"), &bare(&v4)).await;
    let cases = bed
        .wait_for_cases(
            &service,
            "the night nurse's case, the witness's cancelled",
            |c| {
                c.len() == 11
                    && c.iter()
                        .any(|c| c["member"]["staff_id"] == "E40388" && c["status"] == "cancelled")
            },
        )
        .await;
    assert_eq!(case_of(&cases, "E40999")["status"], "open");

    // The same version again, then version 5, entered in error: the fall's cases end.
    bed.publish_raw(Some("fall-2026-0977"), &bare(&v4)).await;
    let mut v5 = v4.clone();
    let event = event_of(&mut v5);
    event["meta"]["versionId"] = json!("5");
    event["status"] = json!("entered-in-error");
    bed.publish_raw(Some("fall-2026-0977"), &bare(&v5)).await;
    let cases = bed
        .wait_for_cases(&service, "the fall's cases cancelled", |c| {
            c.iter().filter(|c| c["status"] == "cancelled").count() == 5
        })
        .await;
    service.stop().await;
    assert_eq!(cases.len(), 11, "{cases:#?}");
    for staff_id in ["E40211", "E40388", "E10412", "E50019", "E40999"] {
        assert_eq!(
            case_of(&cases, staff_id)["status"],
            "cancelled",
            "{staff_id}"
        );
    }
    assert_eq!(
        bed.events_of_type("CaseOpened").await,
        11,
        "each case opened once"
    );
    assert_eq!(
        bed.events_of_type("StaffAdded").await,
        1,
        "the repeated version added no one"
    );
    // Four reports recorded at their version, and version 4 of the fall; the repeat of 4
    // and the withdrawal record none.
    assert_eq!(bed.events_of_type("ReportRevised").await, 5);
}

#[tokio::test]
async fn the_specifications_examples_and_bad_fhir_are_dead_lettered_with_their_own_reasons() {
    // HL7's R4 and R5 AdverseEvent examples alone name no staff: each dead-lettered with
    // `no-staff-identifier`, nothing else happening; R4's with the specification's Practitioner
    // and PractitionerRole opens its recorder's case.
    let bed = TestBed::with(|s| {
        s.kafka.partitions = 1;
        // The specification's examples identify practitioners in this system.
        s.fhir.staff_identifier_system = "http://www.acme.org/practitioners".into();
    })
    .await;
    let service = bed.start().await;
    let spec_event = example("hl7-r4/AdverseEvent-example.json");
    let mut unresolvable = example("r4-medication-error-contained.json");
    unresolvable["contributor"][0]["reference"] = json!("#nobody");
    let bad = [
        (bare(&spec_event), "no-staff-identifier"),
        (
            bare(&json!({"resourceType": "Bundle", "type": "collection", "entry": []})),
            "no-adverse-event",
        ),
        (
            bare(&json!({"resourceType": "Patient", "name": [{"family": "Doe"}]})),
            "unknown-resource-type",
        ),
        (bare(&json!({"kind": "incident"})), "not-fhir"),
        (bare(&unresolvable), "unresolvable-reference"),
        // R5's, as a structured CloudEvent: its recorder too is only a reference to the server.
        (
            encode(
                &cloudevent(example("hl7-r5/AdverseEvent-example.json")),
                Mode::Structured,
            )
            .unwrap(),
            "no-staff-identifier",
        ),
    ];
    for (record, _) in &bad {
        bed.publish_raw(Some("bad"), record).await;
    }
    // The same example with the specification's Practitioner and PractitionerRole.
    let with_staff = json!({"resourceType": "Bundle", "type": "collection", "entry": [
        {"fullUrl": "http://acme.org/fhir/AdverseEvent/example", "resource": spec_event},
        {"fullUrl": "http://acme.org/fhir/Practitioner/example", "resource": example("hl7-r4/Practitioner-example.json")},
        {"fullUrl": "http://acme.org/fhir/PractitionerRole/example", "resource": example("hl7-r4/PractitionerRole-example.json")}
    ]});
    bed.publish(&cloudevent(with_staff), Mode::Structured).await;

    let cases = bed
        .wait_for_cases(&service, "the recorder's case", |c| !c.is_empty())
        .await;
    let letters = bed.dead_letters(bad.len()).await;
    service.stop().await;
    assert_eq!(staff_ids(&cases), ["23"]);
    assert_eq!(cases[0]["member"]["involvement"], "reporter");
    assert_eq!(
        cases[0]["member"]["contact"]["email"],
        "adam.southern@example.org"
    );
    for (letter, (record, code)) in letters.iter().zip(&bad) {
        assert_eq!(letter.header("dlq-reason-code"), *code);
        // By default the dead letter keeps what identifies the message, not the message.
        assert!(letter.payload.is_empty() && !record.payload.is_empty());
        let reason = letter.header("dlq-reason");
        for value in ["rash", "Patient/example", "Doe", "#nobody", "incident"] {
            assert!(!reason.contains(value), "{reason} quotes the message");
        }
    }
    assert!(letters[4]
        .header("dlq-reason")
        .contains("AdverseEvent.contributor[0]"));
    assert_eq!(
        bed.events_of_type("ReportRecorded").await,
        1,
        "a refused message records nothing"
    );
}
