//! Deadlines that do not pass silently: the assigned supporter is reminded before first contact
//! is due; when it passes, the program managers are alerted with the case link and how long it
//! was overdue; a case waiting too long for a supporter alerts them too. Each message goes out
//! exactly once, with two instances of the service watching the same database.

use std::collections::BTreeMap;
use std::time::Duration;

use integration_tests::mail::{mails, smtp, Mail};
use integration_tests::reports::{i_report, incident, staff};
use integration_tests::{case_id_of, eventually, TestBed};
use outreach_domain::alerts::Span;
use outreach_domain::deadline::Allowance;
use outreach_intake::sample::Mode;
use outreach_test_support::SmtpServer;
use peer_outreach::{Service, Settings};
use serde_json::json;

const MANAGERS: [&str; 2] = ["pm-one@hospital.example", "pm-two@hospital.example"];

fn settings(server: &SmtpServer) -> impl FnOnce(&mut Settings) {
    let port = server.port;
    move |settings| {
        settings.notifications.smtp = Some(smtp(port));
        settings.notifications.publish_interval_ms = 100;
        settings.alerts.managers = MANAGERS.map(String::from).to_vec();
        settings.alerts.watch_interval_ms = 100;
        settings.deadline_watch.watch_interval_ms = 100;
    }
}

/// How many messages each (recipient, subject) got.
fn tally(mails: &[Mail]) -> BTreeMap<(String, String), usize> {
    let mut tally = BTreeMap::new();
    for mail in mails {
        *tally
            .entry((mail.to.clone(), mail.subject.clone()))
            .or_default() += 1;
    }
    tally
}

async fn two_instances(bed: &TestBed) -> (Service, Service) {
    let first = bed.start().await;
    let second = Service::start(&bed.settings)
        .await
        .expect("a second instance starts on the same database");
    (first, second)
}

#[tokio::test]
async fn a_reminder_before_the_deadline_and_one_alert_after_it_exactly_once_with_two_instances() {
    let server = SmtpServer::start();
    let configure = settings(&server);
    let bed = TestBed::with(|settings| {
        configure(settings);
        // Incidents are overdue at once; I-reports are due in an hour, within the reminder's
        // two hours from the start.
        settings.policy.deadlines.first_contact = Allowance::Minutes(0);
        settings
            .policy
            .deadlines
            .by_trigger
            .insert("i_report".into(), Allowance::Minutes(60));
        settings.alerts.remind_before = Span::Minutes(120);
    })
    .await;
    let canary = "ordinary";
    let (first, second) = two_instances(&bed).await;
    bed.put_on_roster(&first, "S1").await;

    bed.publish(
        &incident("INC-LATE", vec![staff("W1", "nurse")]),
        Mode::Structured,
    )
    .await;
    bed.publish(
        &i_report("IR-SOON", vec![staff("R1", "nurse")]),
        Mode::Binary,
    )
    .await;
    let cases = bed
        .wait_for_cases(&first, "both cases", |cases| cases.len() == 2)
        .await;
    let (late, soon) = (case_id_of(&cases, "W1"), case_id_of(&cases, "R1"));
    let (status, body) = bed
        .post(
            &second,
            &format!("/v1/cases/{soon}/assignment"),
            json!({"supporter_id": "S1"}),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");

    let reminder = (
        "s1@hospital.example".to_string(),
        "Peer support: first contact due soon".to_string(),
    );
    let overdue = |manager: &str| {
        (
            manager.to_string(),
            "Peer support: first contact overdue".to_string(),
        )
    };
    eventually(
        "the reminder and the managers' alerts",
        || async { tally(&mails(&server)) },
        |tally| {
            tally.contains_key(&reminder)
                && MANAGERS.iter().all(|m| tally.contains_key(&overdue(m)))
        },
    )
    .await;
    // Many more ticks of both instances' watches and publishers: nothing is sent again.
    tokio::time::sleep(Duration::from_millis(2000)).await;
    let sent = mails(&server);
    let tally = tally(&sent);
    assert_eq!(tally[&reminder], 1, "{tally:?}");
    for manager in MANAGERS {
        assert_eq!(tally[&overdue(manager)], 1, "{tally:?}");
    }
    // Nobody else was reminded or alerted: the incident's case has no supporter, the I-report's
    // was not overdue.
    assert_eq!(
        tally
            .keys()
            .filter(|(_, subject)| subject.contains("first contact"))
            .count(),
        3,
        "{tally:?}"
    );

    let reminded = sent
        .iter()
        .find(|m| (m.to.clone(), m.subject.clone()) == reminder)
        .unwrap();
    assert!(
        reminded
            .body
            .contains(&format!("/dashboard/my-cases/{soon}")),
        "{}",
        reminded.body
    );
    let alert = sent
        .iter()
        .find(|m| m.to == MANAGERS[0] && m.subject.contains("overdue"))
        .unwrap();
    assert!(
        alert.body.contains(&format!("/dashboard/cases/{late}")),
        "{}",
        alert.body
    );
    assert!(
        alert.body.contains("overdue when this was noticed"),
        "{}",
        alert.body
    );
    for message in [reminded, alert] {
        for absent in [
            "GivenW1",
            "FamilyW1",
            "GivenR1",
            "FamilyR1",
            "example.org",
            "INC-LATE",
            "IR-SOON",
            canary,
        ] {
            assert!(!message.raw.contains(absent), "{absent} in {}", message.raw);
        }
    }
    second.stop().await;
    first.stop().await;
}

#[tokio::test]
async fn a_case_waiting_for_a_supporter_alerts_the_managers_once() {
    let server = SmtpServer::start();
    let configure = settings(&server);
    let bed = TestBed::with(|settings| {
        configure(settings);
        settings.alerts.unassigned_after = Span::Minutes(0);
    })
    .await;
    let (first, second) = two_instances(&bed).await;
    bed.publish(
        &incident(
            "INC-WAIT",
            vec![staff("A1", "nurse"), staff("A2", "physician")],
        ),
        Mode::Structured,
    )
    .await;
    let cases = bed
        .wait_for_cases(&first, "both cases", |cases| cases.len() == 2)
        .await;

    let waiting = "Peer support: a case is waiting for a supporter";
    eventually(
        "an alert per case and manager",
        || async { mails(&server) },
        |mails: &Vec<Mail>| mails.iter().filter(|m| m.subject == waiting).count() >= 4,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let alerts: Vec<Mail> = mails(&server)
        .into_iter()
        .filter(|m| m.subject == waiting)
        .collect();
    assert_eq!(alerts.len(), 4, "{alerts:?}");
    for case in &cases {
        let link = format!("/dashboard/cases/{}", case["case_id"].as_str().unwrap());
        for manager in MANAGERS {
            let to_manager: Vec<_> = alerts
                .iter()
                .filter(|m| m.to == manager && m.body.contains(&link))
                .collect();
            assert_eq!(to_manager.len(), 1, "{manager} {link}: {alerts:?}");
        }
    }
    for alert in &alerts {
        for absent in ["GivenA1", "GivenA2", "FamilyA1", "example.org", "INC-WAIT"] {
            assert!(!alert.raw.contains(absent), "{absent} in {}", alert.raw);
        }
    }
    second.stop().await;
    first.stop().await;
}
