//! The urgent path: a report graded as a death opens urgent cases, due within the urgent
//! allowance on the clock, and pages the supporter on call from the roster's on-call weeks at
//! once, through the paging webhook (a small HTTP receiver in this process stands in for the
//! paging service) and by e-mail to their SMS gateway address. The page says "urgent peer
//! support case at CAMPUS, first contact due by TIME" with the link and nothing more, and is
//! resolved when first contact is recorded. Nobody on call: the managers are alerted at once.

use std::time::Instant;

use chrono::{DateTime, Utc};
use integration_tests::dashboard::{serve_dashboard, Session};
use integration_tests::mail::{mails, smtp, Mail};
use integration_tests::reports::{incident, staff, urgent_incident};
use integration_tests::{eventually, roster_entry, TestBed};
use outreach_intake::sample::Mode;
use outreach_outbound::WebhookSettings;
use outreach_test_support::{HttpReceiver, SmtpServer};
use peer_outreach::settings::SmsGatewaySettings;
use peer_outreach::Service;
use serde_json::{json, Value};

const MANAGERS: [&str; 2] = ["pm-one@hospital.example", "pm-two@hospital.example"];

/// A test bed paging through `receiver` and the SMS gateway of `server`, with two managers.
async fn bed(receiver: &HttpReceiver, server: &SmtpServer) -> TestBed {
    let (url, port) = (receiver.url(), server.port);
    TestBed::with(|settings| {
        settings.notifications.smtp = Some(smtp(port));
        settings.notifications.publish_interval_ms = 100;
        settings.paging.webhook = Some(WebhookSettings {
            url,
            routing_key: "urgent-routing-key".into(),
            timeout_ms: 2000,
        });
        settings.paging.sms = Some(SmsGatewaySettings {
            address: "{phone}@sms.hospital.example".into(),
        });
        settings.alerts.managers = MANAGERS.map(String::from).to_vec();
    })
    .await
}

/// Puts `staff_id` on the roster at Parnassus with a phone, on call this week when `on_call`
/// (otherwise available every week but on nobody's rota).
async fn on_roster(bed: &TestBed, service: &Service, staff_id: &str, on_call: bool) {
    let mut entry = roster_entry(staff_id);
    entry["campus"] = json!("Parnassus");
    entry["phone"] = json!("+1 (415) 555-0142");
    let today = Utc::now().date_naive();
    let week = if on_call {
        json!([{"starts": today - chrono::Days::new(3), "ends": today + chrono::Days::new(3)}])
    } else {
        json!([])
    };
    entry["availability"] = json!({"weekly_hours": [], "on_call": week});
    let (status, body) = bed.post(service, "/v1/supporters", entry, None).await;
    assert_eq!(status, 201, "{body}");
    // The program alerts read the roster from the matching read model.
    eventually(
        "the supporter in the roster read model",
        || async {
            sqlx::query_scalar::<_, i64>(
                "SELECT count(*) FROM roster_supporters WHERE staff_id = $1",
            )
            .bind(staff_id)
            .fetch_one(&bed.db().await)
            .await
            .unwrap()
        },
        |n| *n == 1,
    )
    .await;
}

fn pages(receiver: &HttpReceiver) -> Vec<Value> {
    receiver.received().into_iter().map(|r| r.body).collect()
}

#[tokio::test]
async fn an_urgent_report_pages_the_on_call_supporter_within_seconds_and_first_contact_resolves_the_page(
) {
    let receiver = HttpReceiver::start().await;
    let server = SmtpServer::start();
    let bed = bed(&receiver, &server).await;
    let canary = format!("CANARY{}", bed.id.to_uppercase());
    let service = bed.start().await;
    on_roster(&bed, &service, "S-CALL", true).await;

    let published = Instant::now();
    bed.publish(
        &urgent_incident("INC-URGENT", vec![staff("U1", "nurse")], &canary),
        Mode::Structured,
    )
    .await;
    let paged = eventually(
        "the page",
        || async { pages(&receiver) },
        |pages| !pages.is_empty(),
    )
    .await;
    // Measured, not asserted (timings belong in benchmarks): printed with --no-capture.
    println!(
        "paged {} ms after the report was published",
        published.elapsed().as_millis()
    );
    let cases = bed
        .wait_for_cases(&service, "the urgent case", |cases| cases.len() == 1)
        .await;
    let case = &cases[0];
    let case_id = case["case_id"].as_str().unwrap().to_string();
    // The urgent allowance, on the clock: 30 minutes.
    let time = |v: &Value| v.as_str().unwrap().parse::<DateTime<Utc>>().unwrap();
    assert_eq!(
        time(&case["first_contact_due"]) - time(&case["opened_at"]),
        chrono::Duration::minutes(30)
    );

    let page = &paged[0];
    assert_eq!(page["routing_key"], "urgent-routing-key");
    assert_eq!(page["event_action"], "trigger");
    assert_eq!(page["dedup_key"], case_id.as_str());
    assert_eq!(page["payload"]["source"], "peer-outreach");
    assert_eq!(page["payload"]["severity"], "critical");
    assert_eq!(
        page["payload"]["custom_details"]["on_call_supporter"],
        "S-CALL"
    );
    let summary = page["payload"]["summary"].as_str().unwrap();
    assert!(
        summary.starts_with("urgent peer support case at Parnassus, first contact due by "),
        "{summary}"
    );
    assert_eq!(
        page["links"][0]["href"],
        format!("http://127.0.0.1:8080/dashboard/cases/{case_id}")
    );
    // Nothing more: no name, no contact detail, nothing clinical.
    let sms = eventually(
        "the SMS page",
        || async { mails(&server) },
        |mails: &Vec<Mail>| {
            mails
                .iter()
                .any(|m| m.to == "14155550142@sms.hospital.example")
        },
    )
    .await;
    let sms = sms
        .iter()
        .find(|m| m.to == "14155550142@sms.hospital.example")
        .unwrap();
    assert!(sms.body.contains(summary), "{}", sms.body);
    assert!(sms.body.contains(&format!("/dashboard/my-cases/{case_id}")));
    for text in [page.to_string(), sms.raw.clone()] {
        for absent in [
            canary.as_str(),
            "GivenU1",
            "FamilyU1",
            "u1@example.org",
            "INC-URGENT",
            "7 Long ICU",
            "death",
        ] {
            assert!(!text.contains(absent), "{absent} in {text}");
        }
    }
    // A supporter on call was paged: the managers were not alerted.
    assert!(!mails(&server)
        .iter()
        .any(|m| MANAGERS.contains(&m.to.as_str())));

    // First contact resolves the page (one resolve, whatever follows).
    for (what, body) in [
        ("assignment", json!({"supporter_id": "S-CALL"})),
        (
            "contact-attempts",
            json!({"channel": "phone", "outcome": "no_answer"}),
        ),
        (
            "contact-attempts",
            json!({"channel": "phone", "outcome": "reached"}),
        ),
    ] {
        let (status, answer) = bed
            .post(&service, &format!("/v1/cases/{case_id}/{what}"), body, None)
            .await;
        assert_eq!(status, 200, "{what}: {answer}");
    }
    let resolved = eventually(
        "the resolve",
        || async { pages(&receiver) },
        |pages| pages.iter().any(|p| p["event_action"] == "resolve"),
    )
    .await;
    let resolves: Vec<_> = resolved
        .iter()
        .filter(|p| p["event_action"] == "resolve")
        .collect();
    assert_eq!(resolves.len(), 1, "{resolved:?}");
    assert_eq!(
        *resolves[0],
        json!({"routing_key": "urgent-routing-key", "event_action": "resolve", "dedup_key": case_id})
    );
    service.stop().await;
}

#[tokio::test]
async fn no_one_on_call_alerts_the_managers_at_once() {
    let receiver = HttpReceiver::start().await;
    let server = SmtpServer::start();
    let bed = bed(&receiver, &server).await;
    let canary = format!("CANARY{}", bed.id.to_uppercase());
    let service = bed.start().await;
    // On the roster, but on nobody's rota this week.
    on_roster(&bed, &service, "S-OFF", false).await;

    bed.publish(
        &urgent_incident("INC-UNSTAFFED", vec![staff("U2", "physician")], &canary),
        Mode::Structured,
    )
    .await;
    let alerts = eventually(
        "the managers' alerts",
        || async { mails(&server) },
        |mails: &Vec<Mail>| {
            MANAGERS
                .iter()
                .all(|manager| mails.iter().any(|m| m.to == *manager))
        },
    )
    .await;
    let cases = bed
        .wait_for_cases(&service, "the urgent case", |cases| cases.len() == 1)
        .await;
    let case_id = cases[0]["case_id"].as_str().unwrap();
    for alert in &alerts {
        assert_eq!(alert.subject, "Urgent peer support case: nobody on call");
        assert!(alert.body.contains("urgent peer support case at Parnassus"));
        assert!(alert.body.contains(&format!("/dashboard/cases/{case_id}")));
        for absent in [
            canary.as_str(),
            "GivenU2",
            "FamilyU2",
            "u2@example.org",
            "INC-UNSTAFFED",
        ] {
            assert!(!alert.raw.contains(absent), "{absent} in {}", alert.raw);
        }
    }
    assert_eq!(alerts.len(), 2, "one alert per manager: {alerts:?}");
    assert!(receiver.received().is_empty(), "nobody was paged");
    service.stop().await;
}

/// A member with an open routine case is named in an urgent report: the report joins their case
/// (one member, one open case), the case becomes urgent, first contact is due within the urgent
/// allowance of the link, and the on-call supporter is paged once, as for an urgent opening.
#[tokio::test]
async fn an_urgent_report_naming_a_member_with_an_open_routine_case_makes_it_urgent_and_pages() {
    let receiver = HttpReceiver::start().await;
    let server = SmtpServer::start();
    let mut bed = bed(&receiver, &server).await;
    serve_dashboard(&mut bed).await;
    let canary = format!("CANARY{}", bed.id.to_uppercase());
    let service = bed.start().await;
    on_roster(&bed, &service, "S-CALL", true).await;

    bed.publish(
        &incident("INC-ROUTINE", vec![staff("U3", "nurse")]),
        Mode::Structured,
    )
    .await;
    let cases = bed
        .wait_for_cases(&service, "the routine case", |cases| cases.len() == 1)
        .await;
    let case_id = cases[0]["case_id"].as_str().unwrap().to_string();
    let time = |v: &Value| v.as_str().unwrap().parse::<DateTime<Utc>>().unwrap();
    let routine_due = time(&cases[0]["first_contact_due"]);
    assert_eq!(cases[0]["urgent"], false, "{}", cases[0]);
    assert!(pages(&receiver).is_empty(), "a routine case pages nobody");

    bed.publish(
        &urgent_incident("INC-LINKED", vec![staff("U3", "nurse")], &canary),
        Mode::Structured,
    )
    .await;
    let paged = eventually(
        "the page",
        || async { pages(&receiver) },
        |pages| !pages.is_empty(),
    )
    .await;
    let page = &paged[0];
    assert_eq!(page["event_action"], "trigger");
    assert_eq!(page["dedup_key"], case_id.as_str());
    assert_eq!(
        page["payload"]["custom_details"]["on_call_supporter"],
        "S-CALL"
    );
    for absent in [
        canary.as_str(),
        "GivenU3",
        "FamilyU3",
        "INC-LINKED",
        "INC-ROUTINE",
    ] {
        assert!(!page.to_string().contains(absent), "{absent} in {page}");
    }

    let urgent = eventually(
        "the case shown urgent",
        || async { bed.get(&service, &format!("/v1/cases/{case_id}")).await.1 },
        |case| case["urgent"] == true,
    )
    .await;
    let due = time(&urgent["first_contact_due"]);
    assert!(due < routine_due, "{due} not before {routine_due}");
    // Still one case: the report joined it.
    let all = bed
        .wait_for_cases(&service, "the one case", |cases| !cases.is_empty())
        .await;
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(all[0]["urgent"], true, "{}", all[0]);

    // The timeline says the case became urgent and when first contact is due now, not only
    // that another report joined.
    let timeline = eventually(
        "the link on the timeline",
        || async {
            bed.get(&service, &format!("/v1/cases/{case_id}/timeline"))
                .await
                .1
        },
        |timeline| {
            timeline["steps"]
                .as_array()
                .is_some_and(|steps| steps.iter().any(|s| s["step"] == "trigger_linked"))
        },
    )
    .await;
    let steps = timeline["steps"].as_array().unwrap();
    let opened = steps.iter().find(|s| s["step"] == "opened").unwrap();
    assert_eq!(opened["urgent"], false, "{opened}");
    assert_eq!(time(&opened["first_contact_due"]), routine_due, "{opened}");
    let linked = steps
        .iter()
        .find(|s| s["step"] == "trigger_linked")
        .unwrap();
    assert_eq!(linked["urgent"], true, "{linked}");
    assert_eq!(time(&linked["first_contact_due"]), due, "{linked}");
    let site = format!("http://{}", service.addr);
    let manager = Session::sign_in(&site, "program_manager", "E90002").await;
    let (status, page) = manager.get(&format!("/dashboard/cases/{case_id}")).await;
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("An urgent report joined the case: incident")
            && page.contains("the case is now urgent and first contact is now due by "),
        "{page}"
    );
    assert!(!page.contains("Another trigger joined the case"), "{page}");

    service.stop().await;
}
