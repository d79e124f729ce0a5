//! "A designated peer supporter, who will only be given contact information and no clinical
//! details": clinical detail is dropped at the boundary and exists nowhere in the service, nor
//! in anything it sends out.

use chrono::Datelike;
use integration_tests::fhir::{bare, cloudevent, event_of, example, r4_clinical, r5_clinical};
use integration_tests::logs::CapturedLogs;
use integration_tests::reports::{incident_with_clinical_detail, staff};
use integration_tests::{eventually, TestBed};
use outreach_intake::sample::Mode;
use outreach_outbound::{SmtpSettings, SmtpTls};
use outreach_test_support::SmtpServer;
use serde_json::json;

#[tokio::test]
async fn clinical_detail_reaches_no_table_no_log_line_no_response_no_topic_and_no_email() {
    let logs = CapturedLogs::install();
    let smtp = SmtpServer::start();
    let bed = TestBed::with(|settings| {
        settings.notifications.smtp = Some(SmtpSettings {
            host: "127.0.0.1".into(),
            port: smtp.port,
            from: "Peer Support Program <peer-support@hospital.example>".into(),
            username: None,
            password: None,
            tls: SmtpTls::None,
        });
        settings.notifications.publish_interval_ms = 100;
    })
    .await;
    let canary = format!("CANARY{}", bed.id.to_uppercase());
    let service = bed.start().await;
    // Two reports, different people: one member, one open case would otherwise link them.
    let first = vec![staff("S1", "physician"), staff("S2", "nurse")];
    let second = vec![staff("S3", "pharmacist"), staff("S4", "nurse")];
    bed.publish(
        &incident_with_clinical_detail("INC-CANARY-1", first, &canary),
        Mode::Structured,
    )
    .await;
    bed.publish(
        &incident_with_clinical_detail("INC-CANARY-2", second, &canary),
        Mode::Binary,
    )
    .await;

    // And in HL7 FHIR: every clinical element of an R4 and of an R5 AdverseEvent, the room it
    // happened in, and a Patient resource carried in the Bundle.
    let mut r4 = example("r4-medication-error-contained.json");
    r4_clinical(&mut r4, &canary);
    bed.publish(&cloudevent(r4), Mode::Binary).await;
    let mut fall = example("r5-fall-collection.json");
    r5_clinical(event_of(&mut fall), &canary);
    let entries = fall["entry"].as_array_mut().unwrap();
    for entry in entries.iter_mut() {
        if entry["resource"]["id"] == "room-712" {
            entry["resource"]["name"] = json!(format!("Room {canary}"));
        }
    }
    entries.push(
        json!({"fullUrl": format!("https://ehr.hospital.example/fhir/Patient/{canary}"),
        "resource": {"resourceType": "Patient", "id": canary.clone(),
            "name": [{"family": format!("Patient {canary}")}], "birthDate": "1950-01-01"}}),
    );
    bed.publish_raw(Some("fall-2026-0977"), &bare(&fall)).await;

    let cases = bed
        .wait_for_cases(&service, "ten cases", |cases| cases.len() == 10)
        .await;

    // Every response the API gives about these cases.
    let mut responses = vec![serde_json::to_string(&cases).unwrap()];
    for case in &cases {
        let (_, one) = bed
            .get(
                &service,
                &format!("/v1/cases/{}", case["case_id"].as_str().unwrap()),
            )
            .await;
        responses.push(one.to_string());
    }
    for path in ["/v1/cases?status=open", "/readyz", "/openapi.json"] {
        responses.push(bed.get(&service, path).await.1.to_string());
    }

    // Everything the service sends out: an assignment (a Kafka notice and an e-mail to the
    // supporter), an escalation (a notice to the director), a completed case (a feedback
    // invitation by e-mail to the member), and last quarter's statistics.
    bed.put_on_roster(&service, "SUP1").await;
    let case_id = cases
        .iter()
        .find(|c| c["member"]["staff_id"] == "S1")
        .expect("S1's case")["case_id"]
        .as_str()
        .unwrap();
    for (what, body) in [
        ("assignment", json!({"supporter_id": "SUP1"})),
        (
            "contact-attempts",
            json!({"channel": "phone", "outcome": "reached"}),
        ),
        (
            "escalations",
            json!({"category": "danger_to_self_or_others"}),
        ),
        ("acceptance", json!({})),
        (
            "encounters",
            json!({"held_on": chrono::Utc::now().date_naive(), "modality": "video", "format": "individual", "duration": "30_to_60_minutes"}),
        ),
        ("closure", json!({"reason": "completed"})),
    ] {
        let (status, answer) = bed
            .post(&service, &format!("/v1/cases/{case_id}/{what}"), body, None)
            .await;
        assert_eq!(status, 200, "{what}: {answer}");
    }
    let (status, published) = bed
        .post(
            &service,
            "/v1/statistics/publications",
            json!({"period": last_quarter()}),
            None,
        )
        .await;
    assert!(
        status == 201 || status == 202 || status == 200,
        "{status}: {published}"
    );
    let settings = &bed.settings.notifications;
    let mut sent: Vec<String> = Vec::new();
    for (topic, count) in [
        (&settings.assignments_topic, 1),
        (&settings.topic, 1),
        (&settings.statistics_topic, 1),
    ] {
        for record in bed.read_topic(topic, count).await {
            sent.push(format!(
                "{topic}: {:?} {}",
                record.headers,
                String::from_utf8_lossy(&record.payload)
            ));
        }
    }
    let emails = eventually(
        "the assignment e-mail and the feedback invitation",
        || async { smtp.messages() },
        |messages| messages.len() >= 2,
    )
    .await;
    service.stop().await;
    assert!(
        sent[0].contains("GivenS") && emails.iter().any(|m| m.contains("GivenS")),
        "the assignment went out with the member's name: {sent:?}"
    );
    for message in sent.iter().chain(&emails) {
        assert!(
            !message.contains(&canary),
            "a message sent out holds clinical detail: {message}"
        );
    }
    for response in &responses {
        assert!(
            !response.contains(&canary),
            "an API response holds clinical detail: {response}"
        );
    }
    // The members' names did arrive: the canary is absent because it was dropped, not because
    // nothing was stored.
    assert!(responses[0].contains("GivenS1"));
    assert!(
        responses[0].contains("Adaeze") && responses[0].contains("Kenji"),
        "the FHIR reports' staff arrived too"
    );

    // Every row of every table, as text: as the owner, who sees every table (the service's
    // role is not even shown those it holds no privilege on).
    let db = bed.owner_db().await;
    let tables: Vec<(String, String)> = sqlx::query_as(
        "SELECT table_schema, table_name FROM information_schema.tables
          WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema')",
    )
    .fetch_all(&db)
    .await
    .unwrap();
    assert!(
        tables.iter().any(|(_, t)| t == "events")
            && tables.iter().any(|(_, t)| t == "outreach_cases")
    );
    for (schema, table) in &tables {
        let hits: i64 = sqlx::query_scalar(&format!(
            "SELECT count(*) FROM \"{schema}\".\"{table}\" t WHERE t::text LIKE '%' || $1 || '%'"
        ))
        .bind(&canary)
        .fetch_one(&db)
        .await
        .unwrap();
        assert_eq!(hits, 0, "table {schema}.{table} holds clinical detail");
    }

    let logged = logs.text();
    assert!(
        logged.contains("message applied"),
        "the service logged its work"
    );
    assert!(
        !logged.contains(&canary),
        "a log line holds clinical detail"
    );
}

/// The quarter before this one, e.g. `2026-Q3`: over, so it may be published.
fn last_quarter() -> String {
    let today = chrono::Utc::now().date_naive();
    let quarter = (today.month0() / 3) as i32; // 0-based: this quarter
    let (year, previous) = if quarter == 0 {
        (today.year() - 1, 4)
    } else {
        (today.year(), quarter)
    };
    format!("{year}-Q{previous}")
}
