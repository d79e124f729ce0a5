//! A safety report on the stream becomes outreach cases on the API.

use integration_tests::reports::{amendment, examples, incident, staff, withdrawal};
use integration_tests::{events_of_type_in, eventually_every, staff_ids, TestBed};
use outreach_domain::EligibilityPolicy;
use outreach_intake::sample::Mode;
use peer_outreach::settings::Settings;
use std::time::Duration;

fn physicians_only(settings: &mut Settings) {
    settings.policy.eligibility = EligibilityPolicy::physicians_only();
}

#[tokio::test]
async fn a_physicians_only_program_opens_cases_for_the_physicians_named_and_no_one_else() {
    let bed = TestBed::with(physicians_only).await;
    let service = bed.start().await;
    bed.publish(
        &incident(
            "INC-100",
            vec![
                staff("P1", "physician"),
                staff("N1", "nurse"),
                staff("P2", "physician"),
                staff("R1", "pharmacist"),
            ],
        ),
        Mode::Structured,
    )
    .await;

    let cases = bed
        .wait_for_cases(&service, "two cases", |cases| cases.len() >= 2)
        .await;
    assert_eq!(staff_ids(&cases), ["P1", "P2"]);
    for case in &cases {
        assert_eq!(case["status"], "open");
        assert_eq!(case["trigger"], "incident");
        assert_eq!(case["campus"], "Parnassus");
        assert_eq!(case["report"]["report_id"], "INC-100");
    }
    // Nothing else arrives later: the ineligible members never get a case.
    let (_, one) = bed
        .get(
            &service,
            &format!("/v1/cases/{}", cases[0]["case_id"].as_str().unwrap()),
        )
        .await;
    assert_eq!(one["case_id"], cases[0]["case_id"]);
    let opened = bed.events_of_type("CaseOpened").await;
    assert_eq!(opened, 2);
    service.stop().await;
}

#[tokio::test]
async fn a_report_delivered_twice_opens_each_case_once() {
    // One partition, so the third report is read after both copies of the first.
    let bed = TestBed::with(|s| s.kafka.partitions = 1).await;
    let service = bed.start().await;
    let report = incident(
        "INC-200",
        vec![staff("A1", "nurse"), staff("A2", "physician")],
    );
    bed.publish(&report, Mode::Structured).await;
    bed.publish(&report, Mode::Binary).await;
    bed.publish(
        &incident("INC-201", vec![staff("A3", "nurse")]),
        Mode::Structured,
    )
    .await;

    let cases = bed
        .wait_for_cases(&service, "the third report's case", |cases| {
            cases.iter().any(|c| c["member"]["staff_id"] == "A3")
        })
        .await;
    assert_eq!(staff_ids(&cases), ["A1", "A2", "A3"]);
    let opened = bed.events_of_type("CaseOpened").await;
    assert_eq!(opened, 3, "no duplicate case in the event store either");
    service.stop().await;
}

#[tokio::test]
async fn a_service_killed_mid_stream_and_restarted_neither_loses_nor_duplicates_a_case() {
    // Small batches, so that the stream takes many transactions and the kill lands among them.
    let bed = TestBed::with(|s| s.kafka.max_batch_messages = 4).await;
    let reports = 200;
    for n in 0..reports {
        let report = incident(
            &format!("INC-3{n:03}"),
            vec![
                staff(&format!("K{n}a"), "nurse"),
                staff(&format!("K{n}b"), "physician"),
            ],
        );
        bed.publish(
            &report,
            if n % 2 == 0 {
                Mode::Structured
            } else {
                Mode::Binary
            },
        )
        .await;
    }

    let first = bed.start().await;
    // Watched in the event store itself, closely: the API's read model trails the intake, and
    // by the time it shows a case a fast service may have opened every other one.
    let store = bed.db().await;
    eventually_every(
        Duration::from_millis(2),
        "the first committed batch",
        || events_of_type_in(&store, "CaseOpened"),
        |opened| *opened > 0,
    )
    .await;
    first.kill().await; // mid-stream, dropping whatever it had in hand
    let opened_before_restart = bed.events_of_type("CaseOpened").await;
    assert!(
        opened_before_restart < 2 * reports as i64,
        "the kill came after the whole stream ({opened_before_restart} cases opened)"
    );

    let second = bed.start().await;
    let cases = bed
        .wait_for_cases(&second, "every case", |cases| cases.len() >= 2 * reports)
        .await;
    assert_eq!(cases.len(), 2 * reports);
    let mut ids = staff_ids(&cases);
    ids.dedup();
    assert_eq!(ids.len(), 2 * reports, "one case per member");
    let (opened, distinct): (i64, i64) = sqlx::query_as(
        "SELECT count(*), count(DISTINCT aggregate_id) FROM events WHERE event_type = 'CaseOpened'",
    )
    .fetch_one(&bed.db().await)
    .await
    .unwrap();
    assert_eq!((opened, distinct), (2 * reports as i64, 2 * reports as i64));
    second.stop().await;
}

#[tokio::test]
async fn amendments_and_withdrawals_reach_the_right_cases() {
    let bed = TestBed::new().await;
    let service = bed.start().await;
    bed.publish(
        &incident(
            "INC-400",
            vec![staff("M1", "nurse"), staff("M2", "physician")],
        ),
        Mode::Structured,
    )
    .await;
    bed.publish(
        &amendment(
            "INC-400",
            vec![staff("M3", "respiratory_therapist")],
            vec!["M2"],
        ),
        Mode::Binary,
    )
    .await;
    bed.publish(
        &incident("INC-401", vec![staff("W1", "nurse")]),
        Mode::Structured,
    )
    .await;
    bed.publish(&withdrawal("INC-401"), Mode::Structured).await;

    let cases = bed
        .wait_for_cases(&service, "the withdrawal", |cases| {
            cases
                .iter()
                .any(|c| c["member"]["staff_id"] == "W1" && c["status"] == "cancelled")
        })
        .await;
    let status = |id: &str| {
        let case = cases
            .iter()
            .find(|c| c["member"]["staff_id"] == id)
            .unwrap_or_else(|| panic!("no case for {id}"));
        (
            case["status"].as_str().unwrap().to_string(),
            case["close_reason"].clone(),
        )
    };
    assert_eq!(staff_ids(&cases), ["M1", "M2", "M3", "W1"]);
    assert_eq!(status("M1").0, "open");
    assert_eq!(status("M3").0, "open");
    assert_eq!(
        status("M2"),
        ("cancelled".into(), "removed_from_report".into())
    );
    assert_eq!(
        status("W1"),
        ("cancelled".into(), "report_withdrawn".into())
    );

    let (_, open) = bed.get(&service, "/v1/cases?status=open").await;
    assert_eq!(open["cases"].as_array().unwrap().len(), 2);
    service.stop().await;
}

#[tokio::test]
async fn an_amendment_or_withdrawal_ahead_of_its_report_waits_for_it() {
    let bed = TestBed::new().await;
    let service = bed.start().await;
    // The reporting system's amendment and withdrawal overtake the reports they change.
    bed.publish(
        &amendment("INC-500", vec![staff("P3", "nurse")], vec!["P2"]),
        Mode::Binary,
    )
    .await;
    bed.publish(&withdrawal("INC-501"), Mode::Structured).await;
    bed.publish(
        &incident(
            "INC-500",
            vec![staff("P1", "nurse"), staff("P2", "physician")],
        ),
        Mode::Structured,
    )
    .await;
    bed.publish(
        &incident("INC-501", vec![staff("Q1", "nurse")]),
        Mode::Structured,
    )
    .await;

    let cases = bed
        .wait_for_cases(&service, "the reports and what overtook them", |cases| {
            let status = |id: &str| {
                cases
                    .iter()
                    .find(|c| c["member"]["staff_id"] == id)
                    .map(|c| c["status"].clone())
            };
            status("P2") == Some("cancelled".into())
                && status("Q1") == Some("cancelled".into())
                && status("P3").is_some()
        })
        .await;

    assert_eq!(staff_ids(&cases), ["P1", "P2", "P3", "Q1"]);
    let reason = |id: &str| {
        cases
            .iter()
            .find(|c| c["member"]["staff_id"] == id)
            .unwrap()["close_reason"]
            .clone()
    };
    assert_eq!(reason("P2"), "removed_from_report");
    assert_eq!(reason("Q1"), "report_withdrawn");
    let waiting: i64 = sqlx::query_scalar("SELECT count(*) FROM parked_report_commands")
        .fetch_one(&bed.db().await)
        .await
        .unwrap();
    assert_eq!(waiting, 0, "nothing is left waiting once its report came");
    service.stop().await;
}

#[tokio::test]
async fn the_sample_stream_yields_the_cases_a_program_manager_expects() {
    let bed = TestBed::new().await;
    let service = bed.start().await;
    for (n, event) in examples().iter().enumerate() {
        bed.publish(
            event,
            if n % 2 == 0 {
                Mode::Structured
            } else {
                Mode::Binary
            },
        )
        .await;
    }
    // 01: four staff, 04 adds one; 02: reporter and one involved; 03: two involved;
    // 05: three staff, then 06 withdraws it; 05b (HL7 FHIR): two contributors.
    let cases = bed
        .wait_for_cases(&service, "the withdrawn report's cases", |cases| {
            cases.iter().filter(|c| c["status"] == "cancelled").count() == 3 && cases.len() == 14
        })
        .await;
    assert_eq!(cases.len(), 14, "{cases:#?}");
    let open = cases.iter().filter(|c| c["status"] == "open").count();
    assert_eq!(open, 11);
    let i_reports = cases.iter().filter(|c| c["trigger"] == "i_report").count();
    assert_eq!(i_reports, 4);
    service.stop().await;
}

#[tokio::test]
async fn the_outreach_read_model_rebuilt_from_zero_equals_what_was_built_incrementally() {
    let bed = TestBed::new().await;
    let service = bed.start().await;
    for event in examples() {
        bed.publish(&event, Mode::Structured).await;
    }
    bed.wait_for_cases(&service, "the sample stream", |cases| {
        cases.iter().filter(|c| c["status"] == "cancelled").count() == 3 && cases.len() == 14
    })
    .await;
    service.stop().await;

    let db = bed.db().await;
    let snapshot = || async {
        let rows: Vec<(String,)> =
            sqlx::query_as("SELECT row_to_json(c)::text FROM outreach_cases c ORDER BY case_id")
                .fetch_all(&db)
                .await
                .unwrap();
        rows
    };
    let incremental = snapshot().await;
    assert_eq!(incremental.len(), 14);

    let projection =
        outreach_projections::by_name("outreach", &bed.settings.projection_setup()).unwrap();
    let runner =
        outreach_projections::ProjectionRunner::new(db.clone(), projection, Default::default());
    let mut progress = Vec::new();
    let applied = runner
        .rebuild(|done, total| progress.push((done, total)))
        .await
        .unwrap();
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(applied as i64, events);
    assert_eq!(progress.last(), Some(&(applied, applied)));
    assert_eq!(snapshot().await, incremental);
}
