//! From an incident on the stream to the supporter's assignment message on the outbound topic:
//! the roster kept through the API, the candidates ranked from the matching read model, the
//! assignment made by a manager (or automatically), the message carrying the member's name and
//! contact details and nothing clinical, and the supporter's slot freed when the case closes.

use integration_tests::reports::{incident_with_clinical_detail, staff};
use integration_tests::{eventually, roster_entry, TestBed, TopicRecord};
use outreach_intake::sample::Mode;
use serde_json::{json, Value};

const CANARY: &str = "Canary-Quokka-5150";

/// A nurse at Parnassus, the campus of the test incidents, in another department than theirs.
fn nurse_at_parnassus(staff_id: &str) -> Value {
    let mut entry = roster_entry(staff_id);
    entry["campus"] = json!("Parnassus");
    entry["discipline"] = json!("nurse");
    entry["seniority"] = json!("mid_career");
    entry
}

async fn bed(auto_assign: bool) -> TestBed {
    TestBed::with(|settings| {
        settings.matching.sweep_interval_ms = 100;
        settings.policy.matching.auto_assign.enabled = auto_assign;
        settings.policy.matching.auto_assign.threshold = 60;
    })
    .await
}

/// The one assignment message, read from the assignments topic.
async fn assignment_message(bed: &TestBed) -> TopicRecord {
    let topic = bed.settings.notifications.assignments_topic.clone();
    let mut records = bed.read_topic(&topic, 1).await;
    records.remove(0)
}

fn assert_tells_the_supporter_how_to_reach_the_member(message: &TopicRecord, case_id: &str) {
    assert_eq!(message.header("notice-kind"), "assignment");
    assert_eq!(message.key.as_deref(), Some(case_id));
    let payload = message.json();
    assert_eq!(payload["case_id"], case_id);
    assert_eq!(payload["supporter_id"], "S-PAR");
    assert_eq!(payload["member"]["given_name"], "GivenN1");
    assert_eq!(payload["member"]["family_name"], "FamilyN1");
    assert_eq!(payload["member"]["email"], "n1@example.org");
    assert_eq!(payload["member"]["mobile"], "+1 415 555 0100");
    let text = String::from_utf8_lossy(&message.payload);
    assert!(!text.contains(CANARY), "clinical detail in {text}");
    for clinical in ["patient", "narrative", "diagnosis", "harm", "room"] {
        assert!(!text.contains(clinical), "{clinical} in {text}");
    }
}

#[tokio::test]
async fn a_manager_assigns_the_top_candidate_and_the_supporter_is_told_how_to_reach_the_member() {
    let bed = bed(false).await;
    let service = bed.start().await;
    bed.put_on_roster(&service, "S-MB").await;
    let (status, body) = bed
        .post(
            &service,
            "/v1/supporters",
            nurse_at_parnassus("S-PAR"),
            None,
        )
        .await;
    assert_eq!(status, 201, "{body}");
    bed.publish(
        &incident_with_clinical_detail("INC-800", vec![staff("N1", "nurse")], CANARY),
        Mode::Structured,
    )
    .await;
    let cases = bed
        .wait_for_cases(&service, "the nurse's case", |cases| cases.len() == 1)
        .await;
    let case_id = cases[0]["case_id"].as_str().unwrap().to_string();

    let ranking = eventually(
        "both supporters ranked",
        || async {
            bed.get(&service, &format!("/v1/cases/{case_id}/candidates"))
                .await
                .1
        },
        |ranking| {
            ranking["candidates"]
                .as_array()
                .is_some_and(|c| c.len() == 2)
        },
    )
    .await;
    let top = &ranking["candidates"][0];
    assert_eq!(top["staff_id"], "S-PAR", "{ranking}");
    let reasons = top["reasons"].as_array().unwrap();
    for reason in [
        "same campus",
        "same discipline",
        "same seniority",
        "different department",
    ] {
        assert!(reasons.contains(&json!(reason)), "{reason}: {reasons:?}");
    }
    let (status, assigned) = bed
        .post(
            &service,
            &format!("/v1/cases/{case_id}/assignment"),
            json!({"supporter_id": "S-PAR"}),
            Some(1),
        )
        .await;
    assert_eq!(status, 200, "{assigned}");

    let message = assignment_message(&bed).await;
    assert_tells_the_supporter_how_to_reach_the_member(&message, &case_id);

    // The supporter holds the case until it closes; then the slot is theirs again.
    let supporter = eventually(
        "the supporter holds the case",
        || async { bed.get(&service, "/v1/supporters/S-PAR").await.1 },
        |supporter| supporter["open_cases"] == 1,
    )
    .await;
    assert_eq!(supporter["capacity"], 5);
    let (status, closed) = bed
        .post(
            &service,
            &format!("/v1/cases/{case_id}/closure"),
            json!({"reason": "withdrawn"}),
            None,
        )
        .await;
    assert_eq!(status, 200, "{closed}");
    eventually(
        "the slot is free again",
        || async { bed.get(&service, "/v1/supporters/S-PAR").await.1 },
        |supporter| supporter["open_cases"] == 0,
    )
    .await;
    service.stop().await;
}

#[tokio::test]
async fn with_automatic_assignment_on_a_new_case_goes_to_its_top_candidate() {
    let bed = bed(true).await;
    let service = bed.start().await;
    let (status, body) = bed
        .post(
            &service,
            "/v1/supporters",
            nurse_at_parnassus("S-PAR"),
            None,
        )
        .await;
    assert_eq!(status, 201, "{body}");
    bed.put_on_roster(&service, "S-MB").await;
    bed.publish(
        &incident_with_clinical_detail("INC-801", vec![staff("N1", "nurse")], CANARY),
        Mode::Binary,
    )
    .await;
    let cases = bed
        .wait_for_cases(&service, "the nurse's case", |cases| cases.len() == 1)
        .await;
    let case_id = cases[0]["case_id"].as_str().unwrap().to_string();

    let case = bed
        .wait_for_case(&service, &case_id, "assigned automatically", |case| {
            case["status"] == "assigned"
        })
        .await;

    assert_eq!(case["supporter_id"], "S-PAR");
    let message = assignment_message(&bed).await;
    assert_tells_the_supporter_how_to_reach_the_member(&message, &case_id);
    service.stop().await;
}

/// A colleague's referral of someone the program has no record of waits for a manager to
/// confirm the contact details: automatic assignment does not pass it over meanwhile, and
/// assigns it once they are confirmed, telling the supporter the confirmed details.
#[tokio::test]
async fn with_automatic_assignment_a_contact_to_confirm_is_assigned_once_confirmed() {
    let bed = bed(true).await;
    let service = bed.start().await;
    let (status, body) = bed
        .post(
            &service,
            "/v1/supporters",
            nurse_at_parnassus("S-PAR"),
            None,
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let colleague = bed.token(outreach_auth::Role::CareTeamMember, Some("E55"));
    let referred = reqwest::Client::new()
        .post(format!("http://{}/v1/referrals", service.addr))
        .bearer_auth(&colleague)
        .json(&json!({
            "referred_by": "colleague", "campus": "Parnassus", "unit": "ED",
            "member": {
                "staff_id": "N1", "name": {"given": "GivenN1", "family": "FamilyN1"},
                "role": "Nurse", "discipline": "nurse", "department": "Emergency",
                "contact": {"email": "n1@example.org"}}}))
        .send()
        .await
        .expect("the API answers");
    assert_eq!(referred.status().as_u16(), 202);
    let cases = bed
        .wait_for_cases(&service, "the referred nurse's case", |cases| {
            cases.len() == 1
        })
        .await;
    let case_id = cases[0]["case_id"].as_str().unwrap().to_string();
    bed.wait_for_case(&service, &case_id, "held for confirmation", |case| {
        case["contact_to_confirm"] == true
    })
    .await;

    let (status, body) = bed
        .post(
            &service,
            &format!("/v1/cases/{case_id}/contact-confirmation"),
            json!({}),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");

    let case = bed
        .wait_for_case(&service, &case_id, "assigned automatically", |case| {
            case["status"] == "assigned"
        })
        .await;
    assert_eq!(case["supporter_id"], "S-PAR");
    let message = assignment_message(&bed).await;
    assert_eq!(message.json()["member"]["email"], "n1@example.org");
    let refused: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM auto_assignments WHERE case_id = $1::uuid AND outcome <> 'assigned'",
    )
    .bind(&case_id)
    .fetch_one(&bed.db().await)
    .await
    .unwrap();
    assert_eq!(refused, 0);
    service.stop().await;
}
