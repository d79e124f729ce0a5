//! One person across reports: a member already in an open case is not contacted twice by two
//! supporters, and a member who opted out of automatic outreach gets no case from incidents.

use integration_tests::reports::{incident, staff};
use integration_tests::{eventually, staff_ids, TestBed};
use outreach_intake::sample::Mode;
use serde_json::json;

#[tokio::test]
async fn a_member_named_in_a_second_report_stays_in_their_open_case() {
    let bed = TestBed::with(|s| s.kafka.partitions = 1).await;
    let service = bed.start().await;
    bed.put_on_roster(&service, "S1").await;
    bed.publish(
        &incident("INC-600", vec![staff("L1", "nurse")]),
        Mode::Structured,
    )
    .await;
    bed.publish(
        &incident(
            "INC-601",
            vec![staff("L1", "nurse"), staff("L2", "physician")],
        ),
        Mode::Structured,
    )
    .await;

    let cases = bed
        .wait_for_cases(&service, "L2's case", |c| {
            c.iter().any(|c| c["member"]["staff_id"] == "L2")
        })
        .await;
    assert_eq!(staff_ids(&cases), ["L1", "L2"], "one case for L1, not two");
    let l1 = cases
        .iter()
        .find(|c| c["member"]["staff_id"] == "L1")
        .unwrap();
    assert_eq!(l1["report"]["report_id"], "INC-600");
    assert_eq!(bed.events_of_type("TriggerLinked").await, 1);

    // Once that case is closed, the next report opens a new one.
    let id = l1["case_id"].as_str().unwrap();
    bed.post(
        &service,
        &format!("/v1/cases/{id}/assignment"),
        json!({"supporter_id": "S1"}),
        None,
    )
    .await;
    for _ in 0..3 {
        bed.post(
            &service,
            &format!("/v1/cases/{id}/contact-attempts"),
            json!({"channel": "phone", "outcome": "no_answer"}),
            None,
        )
        .await;
    }
    let (status, closed) = bed
        .post(
            &service,
            &format!("/v1/cases/{id}/closure"),
            json!({"reason": "unreachable"}),
            None,
        )
        .await;
    assert_eq!(status, 200, "{closed}");
    bed.publish(
        &incident("INC-602", vec![staff("L1", "nurse")]),
        Mode::Structured,
    )
    .await;
    let cases = bed
        .wait_for_cases(&service, "L1's second case", |c| {
            c.iter().filter(|c| c["member"]["staff_id"] == "L1").count() == 2
        })
        .await;
    assert_eq!(cases.len(), 3);

    // Reopening the first case now would give the member two open cases: refused.
    let (status, problem) = bed
        .post(
            &service,
            &format!("/v1/cases/{id}/reopening"),
            json!({}),
            None,
        )
        .await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["rule"], "member-has-an-open-case");
    service.stop().await;
}

#[tokio::test]
async fn a_member_who_opted_out_gets_no_case_from_an_incident_but_can_still_ask_for_support() {
    let bed = TestBed::with(|s| s.kafka.partitions = 1).await;
    let service = bed.start().await;
    let (status, answer) = bed
        .post(&service, "/v1/members/Q1/opt-out", json!({}), None)
        .await;
    assert_eq!(status, 200, "{answer}");

    bed.publish(
        &incident("INC-700", vec![staff("Q1", "nurse"), staff("Q2", "nurse")]),
        Mode::Structured,
    )
    .await;
    let cases = bed
        .wait_for_cases(&service, "Q2's case", |c| !c.is_empty())
        .await;
    assert_eq!(staff_ids(&cases), ["Q2"]);
    eventually(
        "the skipped outreach to be recorded",
        || bed.events_of_type("AutomaticOutreachSkipped"),
        |n| *n == 1,
    )
    .await;

    // Opting out of automatic outreach does not stop someone asking for support.
    let member = json!({
        "staff_id": "Q1",
        "name": {"given": "Quinn", "family": "Avery"},
        "role": "Registered nurse",
        "discipline": "nurse",
        "department": "Emergency",
        "contact": {"email": "q1@example.org"}
    });
    let (status, referral) = bed
        .post(
            &service,
            "/v1/referrals",
            json!({"referred_by": "self", "campus": "Parnassus", "unit": "ED", "member": member}),
            None,
        )
        .await;
    assert_eq!(status, 201, "{referral}");
    let cases = bed
        .wait_for_cases(&service, "Q1's self-referral", |c| c.len() == 2)
        .await;
    let q1 = cases
        .iter()
        .find(|c| c["member"]["staff_id"] == "Q1")
        .unwrap();
    assert_eq!(q1["trigger"], "self_referral");
    assert_eq!(q1["case_id"], referral["case_id"]);
    service.stop().await;
}

#[tokio::test]
async fn the_same_person_under_two_staff_ids_has_their_cases_merged_into_one() {
    let bed = TestBed::with(|s| s.kafka.partitions = 1).await;
    let service = bed.start().await;
    bed.publish(
        &incident("INC-800", vec![staff("M1", "nurse")]),
        Mode::Structured,
    )
    .await;
    bed.publish(
        &incident("INC-801", vec![staff("M1-AGENCY", "nurse")]),
        Mode::Structured,
    )
    .await;
    let cases = bed
        .wait_for_cases(&service, "both cases", |c| c.len() == 2)
        .await;
    let id_of = |staff_id: &str| {
        cases
            .iter()
            .find(|c| c["member"]["staff_id"] == staff_id)
            .unwrap()["case_id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (keep, duplicate) = (id_of("M1"), id_of("M1-AGENCY"));

    let (status, problem) = bed
        .post(
            &service,
            &format!("/v1/cases/{duplicate}/merge"),
            json!({"into": duplicate}),
            None,
        )
        .await;
    assert_eq!(
        (status, problem["rule"].as_str()),
        (422, Some("merge-into-itself")),
        "{problem}"
    );
    let (status, problem) = bed
        .post(
            &service,
            &format!("/v1/cases/{duplicate}/closure"),
            json!({"reason": "merged"}),
            None,
        )
        .await;
    assert_eq!(
        (status, problem["rule"].as_str()),
        (422, Some("close-reason-does-not-fit")),
        "{problem}"
    );

    let (status, merged) = bed
        .post(
            &service,
            &format!("/v1/cases/{duplicate}/merge"),
            json!({"into": keep}),
            Some(1),
        )
        .await;
    assert_eq!(status, 200, "{merged}");
    let closed = bed
        .wait_for_case(
            &service,
            &duplicate,
            "the duplicate to close as merged",
            |case| case["status"] == "closed",
        )
        .await;
    assert_eq!(closed["close_reason"], "merged");
    assert_eq!(
        bed.events_of_type("TriggerLinked").await,
        1,
        "the kept case took the duplicate's report over"
    );
    let (_, kept) = bed.get(&service, &format!("/v1/cases/{keep}")).await;
    assert_eq!(kept["status"], "open");
    service.stop().await;
}
