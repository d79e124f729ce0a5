//! "A designated peer supporter, who will only be given contact information and no clinical
//! details": clinical detail is dropped at the boundary and exists nowhere in the service, nor
//! in anything it sends out: Kafka notices, e-mails (assignments, feedback invitations, resource
//! sheets, reminders, the managers' alerts, the director's e-mail, SMS pages) and the paging
//! webhook's bodies. Alerts and pages carry no member's name either.

use chrono::Datelike;
use integration_tests::dashboard::Session;
use integration_tests::fhir::{bare, cloudevent, event_of, example, r4_clinical, r5_clinical};
use integration_tests::logs::CapturedLogs;
use integration_tests::mail::{mails, smtp, Mail};
use integration_tests::reports::{incident_with_clinical_detail, staff, urgent_incident};
use integration_tests::{case_id_of, eventually, roster_entry, TestBed};
use outreach_domain::alerts::Span;
use outreach_domain::deadline::Allowance;
use outreach_domain::HarmLevel;
use outreach_intake::sample::Mode;
use outreach_outbound::WebhookSettings;
use outreach_test_support::{HttpReceiver, SmtpServer};
use peer_outreach::settings::SmsGatewaySettings;
use serde_json::json;

/// The subjects of every kind of e-mail the scenario below sends.
const SUBJECTS: [&str; 8] = [
    "Peer support: a colleague for you to reach out to",
    "Peer support: two questions, if you wish (anonymous)",
    "Peer support: places to turn to",
    "Peer support: first contact due soon",
    "Peer support: first contact overdue",
    "Peer support: a case is waiting for a supporter",
    "Peer support: an escalation",
    "Urgent peer support case",
];

/// Of those, the ones written for staff about a member, which name no member.
const NAMING_NO_ONE: [&str; 6] = [
    "Peer support: places to turn to",
    "Peer support: first contact due soon",
    "Peer support: first contact overdue",
    "Peer support: a case is waiting for a supporter",
    "Peer support: an escalation",
    "Urgent peer support case",
];

#[tokio::test]
async fn clinical_detail_reaches_no_table_no_log_line_no_response_no_topic_and_no_email() {
    let logs = CapturedLogs::install();
    let smtp_server = SmtpServer::start();
    let pager = HttpReceiver::start().await;
    let (smtp_port, pager_url) = (smtp_server.port, pager.url());
    let mut bed = TestBed::with(|settings| {
        settings.notifications.smtp = Some(smtp(smtp_port));
        settings.notifications.publish_interval_ms = 100;
        // Every new sink: pages by webhook and SMS, the managers' alerts (an urgent case overdue
        // at once, a case waiting for a supporter at once), a reminder as soon as a case is
        // assigned, the director's e-mail.
        settings.paging.webhook = Some(WebhookSettings {
            url: pager_url,
            routing_key: "canary-routing-key".into(),
            timeout_ms: 2000,
        });
        settings.paging.sms = Some(SmsGatewaySettings {
            address: "{phone}@sms.hospital.example".into(),
        });
        settings.alerts.managers = vec!["managers@hospital.example".into()];
        settings.alerts.director = vec!["director@hospital.example".into()];
        settings.alerts.remind_before = Span::Minutes(100_000);
        settings.alerts.unassigned_after = Span::Minutes(0);
        settings.alerts.watch_interval_ms = 100;
        settings.policy.urgency.first_contact = Allowance::Minutes(0);
        // Only a death is urgent here, so the FHIR reports below (graded severe) stay routine
        // and the pages are exactly the urgent report's.
        settings.policy.urgency.harm = [HarmLevel::Death].into();
        settings.deadline_watch.watch_interval_ms = 100;
    })
    .await;
    let canary = format!("CANARY{}", bed.id.to_uppercase());
    integration_tests::dashboard::serve_dashboard(&mut bed).await;
    let service = bed.start().await;
    // The supporter on call, to be paged for the urgent report's cases.
    let mut on_call = roster_entry("SUP-CALL");
    let today = chrono::Utc::now().date_naive();
    on_call["phone"] = json!("+1 415 555 0177");
    on_call["availability"] = json!({"weekly_hours": [], "on_call": [
        {"starts": today - chrono::Days::new(3), "ends": today + chrono::Days::new(3)}]});
    let (status, body) = bed.post(&service, "/v1/supporters", on_call, None).await;
    assert_eq!(status, 201, "{body}");
    eventually(
        "the on-call supporter in the roster read model",
        || async {
            sqlx::query_scalar::<_, i64>("SELECT count(*) FROM roster_supporters")
                .fetch_one(&bed.db().await)
                .await
                .unwrap()
        },
        |n| *n == 1,
    )
    .await;
    // Two reports, different people: one member, one open case would otherwise link them. The
    // first is graded a death: urgent.
    let first = vec![staff("S1", "physician"), staff("S2", "nurse")];
    let second = vec![staff("S3", "pharmacist"), staff("S4", "nurse")];
    bed.publish(
        &urgent_incident("INC-CANARY-1", first, &canary),
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
    // The urgent cases are overdue at once: acting before the deadline watch noticed them
    // would race it.
    eventually(
        "the urgent cases' deadlines noticed",
        || bed.events_of_type("FirstContactDeadlinePassed"),
        |n| *n == 2,
    )
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
    // supporter), an escalation (a notice to the director, and an e-mail), a completed case (a
    // feedback invitation by e-mail to the member), a decline (the resource sheet), a case
    // assigned and not yet contacted (a reminder), one left unassigned (the managers' alert),
    // the urgent cases (pages, resolved by first contact, and the managers' overdue alerts),
    // and last quarter's statistics.
    bed.put_on_roster(&service, "SUP1").await;
    let case_id = &case_id_of(&cases, "S1");
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
    let declining = case_id_of(&cases, "S3");
    for (what, body) in [
        ("assignment", json!({"supporter_id": "SUP1"})),
        (
            "contact-attempts",
            json!({"channel": "email", "outcome": "reached"}),
        ),
        ("decline", json!({})),
    ] {
        let (status, answer) = bed
            .post(
                &service,
                &format!("/v1/cases/{declining}/{what}"),
                body,
                None,
            )
            .await;
        assert_eq!(status, 200, "{what}: {answer}");
    }
    let (status, answer) = bed
        .post(
            &service,
            &format!("/v1/cases/{}/assignment", case_id_of(&cases, "S4")),
            json!({"supporter_id": "SUP1"}),
            None,
        )
        .await;
    assert_eq!(status, 200, "{answer}");
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
        (&settings.assignments_topic, 3),
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
    let mail = eventually(
        "an e-mail of every kind",
        || async { mails(&smtp_server) },
        |mails: &Vec<Mail>| {
            SUBJECTS
                .iter()
                .all(|subject| mails.iter().any(|m| m.subject == *subject))
        },
    )
    .await;
    let pages = eventually(
        "two pages and a resolve",
        || async { pager.received() },
        |pages| {
            let action = |a: &str| pages.iter().filter(|p| p.body["event_action"] == a).count();
            action("trigger") == 2 && action("resolve") == 1
        },
    )
    .await;
    // What a member reads on their own: their page (as the member of the first case, and as
    // one with none), and the feedback page each invitation's link leads to.
    let site = format!("http://{}", service.addr);
    for staff_id in ["S1", "E-NOBODY"] {
        let member = Session::sign_in(&site, "care_team_member", staff_id).await;
        let (status, page) = member.get("/dashboard/my-support").await;
        assert_eq!(status, 200, "{page}");
        assert!(page.contains("Your request"), "{page}");
        responses.push(page);
    }
    let links: Vec<String> = mail
        .iter()
        .map(|m| m.raw.replace("=\r\n", "").replace("=\n", ""))
        .filter_map(|raw| {
            let at = raw.find(&format!("{site}/feedback/"))?;
            Some(raw[at..at + site.len() + "/feedback/".len() + 64].to_owned())
        })
        .collect();
    assert!(!links.is_empty(), "a feedback invitation with its link");
    for link in links {
        let page = reqwest::get(&link)
            .await
            .expect("the feedback page answers");
        assert_eq!(page.status(), 200, "{link}");
        let page = page.text().await.unwrap();
        assert!(page.contains("How helpful was the peer support?"), "{page}");
        responses.push(page);
    }
    service.stop().await;
    let emails: Vec<String> = mail.iter().map(|m| m.raw.clone()).collect();
    assert!(
        sent[0].contains("GivenS") && emails.iter().any(|m| m.contains("GivenS")),
        "the assignment went out with the member's name: {sent:?}"
    );
    // Alerts, pages, sheets and the director's e-mail name no one (in what they say: a sheet
    // is addressed to its member).
    let naming_no_one = mail
        .iter()
        .filter(|m| NAMING_NO_ONE.contains(&m.subject.as_str()))
        .map(|m| format!("{}\n{}", m.subject, m.body))
        .chain(pages.iter().map(|p| p.raw.clone()));
    for message in naming_no_one {
        for name in ["GivenS", "FamilyS", "@example.org"] {
            assert!(!message.contains(name), "{name} in {message}");
        }
    }
    let pages: Vec<String> = pages.into_iter().map(|p| p.raw).collect();
    for message in sent.iter().chain(&emails).chain(&pages) {
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
