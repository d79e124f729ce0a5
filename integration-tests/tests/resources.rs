//! Resources really sent: a member who declines is e-mailed the program's resource sheet (the
//! configured directory, with the 988 Suicide & Crisis Lifeline), and the case records that the
//! sheet was sent only once the mail server accepted it. A server that refuses leaves the case
//! saying "not yet sent", and the sheet goes out when the server takes it. A member who reads
//! Spanish gets it in Spanish, the program's entries in the words it gave for Spanish.

use integration_tests::dashboard::{serve_dashboard, Session};
use integration_tests::mail::{mails, smtp, Mail};
use integration_tests::reports::{incident, staff};
use std::collections::BTreeMap;

use integration_tests::{eventually, TestBed};
use outreach_auth::Role;
use outreach_domain::resources::{Resource, ResourceDirectory, ResourceKind, ResourceWords};
use outreach_events::CaseEvent;
use outreach_intake::sample::Mode;
use outreach_test_support::SmtpServer;
use outreach_texts::Language;
use peer_outreach::Service;
use serde_json::{json, Value};

const SHEET_SUBJECT: &str = "Peer support: places to turn to";

/// A test bed e-mailing through `server`, with an EAP beside the 988 Lifeline.
async fn bed(server: &SmtpServer) -> TestBed {
    bed_speaking(server, Language::En).await
}

/// As [`bed`], the program's default language `default`.
async fn bed_speaking(server: &SmtpServer, default: Language) -> TestBed {
    let port = server.port;
    TestBed::with(|settings| {
        settings.language.default = default;
        settings.notifications.smtp = Some(smtp(port));
        settings.notifications.publish_interval_ms = 100;
        settings.resources = ResourceDirectory {
            entries: vec![
                Resource {
                    name: "Faculty and Staff Assistance Program".into(),
                    kind: ResourceKind::Eap,
                    phone: Some("+1 415 555 0199".into()),
                    url: Some("https://fsap.hospital.example".into()),
                    hours: Some("Mon-Fri 8:00-17:00".into()),
                    languages: vec!["en".into(), "es".into()],
                    translations: BTreeMap::from([(
                        "es".into(),
                        ResourceWords {
                            name: Some("Programa de Asistencia al Personal".into()),
                            hours: Some("lunes a viernes, 8:00-17:00".into()),
                            ..ResourceWords::default()
                        },
                    )]),
                },
                Resource::lifeline_988(),
            ],
        };
    })
    .await
}

/// A case of member `D1`, assigned to `S1`, the member reached, then `step` recorded (`decline`,
/// `resources`).
async fn reached_case_then(bed: &TestBed, service: &Service, step: &str) -> String {
    reached_case_of(bed, service, "D1", None, step).await
}

/// A case of member `member`, who states `language` once it is open (when given), assigned to
/// `S1`, the member reached, then declining.
async fn declined_case_of(
    bed: &TestBed,
    service: &Service,
    member: &str,
    language: Option<&str>,
) -> String {
    reached_case_of(bed, service, member, language, "decline").await
}

/// A case of member `member`, who states `language` once it is open (when given), assigned to
/// `S1`, the member reached, then `step` recorded.
async fn reached_case_of(
    bed: &TestBed,
    service: &Service,
    member: &str,
    language: Option<&str>,
    step: &str,
) -> String {
    bed.put_on_roster(service, "S1").await;
    bed.publish(
        &incident("INC-SHEET", vec![staff(member, "nurse")]),
        Mode::Structured,
    )
    .await;
    let cases = bed
        .wait_for_cases(service, "the case", |cases| cases.len() == 1)
        .await;
    let id = cases[0]["case_id"].as_str().unwrap().to_string();
    if let Some(language) = language {
        // As the member states it on their page or through the API, with their own token.
        let response = reqwest::Client::new()
            .put(format!(
                "http://{}/v1/members/{member}/preferences",
                service.addr
            ))
            .bearer_auth(bed.token(Role::CareTeamMember, Some(member)))
            .json(&json!({"supporter_language": language}))
            .send()
            .await
            .expect("the API answers");
        assert_eq!(response.status().as_u16(), 200);
    }
    for (what, body) in [
        ("assignment", json!({"supporter_id": "S1"})),
        (
            "contact-attempts",
            json!({"channel": "phone", "outcome": "reached"}),
        ),
        (step, json!({})),
    ] {
        let (status, answer) = bed
            .post(service, &format!("/v1/cases/{id}/{what}"), body, None)
            .await;
        assert_eq!(status, 200, "{what}: {answer}");
    }
    id
}

async fn declined_case(bed: &TestBed, service: &Service) -> String {
    reached_case_then(bed, service, "decline").await
}

/// The kinds of the case's timeline steps, oldest first.
async fn steps(bed: &TestBed, service: &Service, case_id: &str) -> Vec<String> {
    let (status, timeline) = bed
        .get(service, &format!("/v1/cases/{case_id}/timeline"))
        .await;
    assert_eq!(status, 200, "{timeline}");
    timeline["steps"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|s| s["step"].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn sheets(server: &SmtpServer) -> Vec<Mail> {
    mails(server)
        .into_iter()
        .filter(|m| m.subject == SHEET_SUBJECT)
        .collect()
}

/// (published, attempts) of the case's resource-sheet rows.
async fn sheet_rows(bed: &TestBed, case_id: &str) -> Vec<(bool, i32)> {
    sqlx::query_as(
        "SELECT published_at IS NOT NULL, attempts FROM outbox
          WHERE kind = 'resource-sheet' AND topic_key = $1",
    )
    .bind(case_id)
    .fetch_all(&bed.db().await)
    .await
    .unwrap()
}

#[tokio::test]
async fn a_decline_sends_the_sheet_with_the_configured_entries_and_988_and_the_case_records_it_after_delivery(
) {
    let server = SmtpServer::start();
    let bed = bed(&server).await;
    let service = bed.start().await;
    let case_id = declined_case(&bed, &service).await;

    let sent = eventually(
        "the resource sheet",
        || async { sheets(&server) },
        |s| !s.is_empty(),
    )
    .await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    let sheet = &sent[0];
    assert_eq!(sheet.to, "d1@example.org");
    for expected in [
        "Faculty and Staff Assistance Program (Employee assistance (EAP))",
        "Phone: +1 415 555 0199",
        "Web: https://fsap.hospital.example",
        "988 Suicide & Crisis Lifeline (Crisis line)",
        "Phone: 988 (call or text)",
        "Web: https://988lifeline.org",
    ] {
        assert!(sheet.body.contains(expected), "{expected}: {}", sheet.body);
    }
    // The sheet names no one, and nothing of the case.
    for absent in [
        "GivenD1",
        "FamilyD1",
        "INC-SHEET",
        "Critical Care",
        "7 Long ICU",
    ] {
        assert!(!sheet.raw.contains(absent), "{absent} in {}", sheet.raw);
    }

    // Recorded on the case once delivered, by the publisher, once.
    let recorded = eventually(
        "the case to record the sheet",
        || steps(&bed, &service, &case_id),
        |steps| steps.iter().any(|s| s == "resource_sheet_sent"),
    )
    .await;
    let declined = recorded
        .iter()
        .position(|s| s == "support_declined")
        .unwrap();
    let sent_at = recorded
        .iter()
        .position(|s| s == "resource_sheet_sent")
        .unwrap();
    assert!(declined < sent_at, "{recorded:?}");
    let (count, source): (i64, Option<String>) = sqlx::query_as(
        "SELECT count(*), min(metadata->>'source') FROM events
          WHERE event_type = 'ResourceSheetSent' AND aggregate_id = $1",
    )
    .bind(&case_id)
    .fetch_one(&bed.db().await)
    .await
    .unwrap();
    assert_eq!((count, source.as_deref()), (1, Some("email-publisher")));
    // The decline itself claims nothing.
    let decline: Value = sqlx::query_scalar(
        "SELECT payload::jsonb FROM events WHERE event_type = 'SupportDeclined' AND aggregate_id = $1",
    )
    .bind(&case_id)
    .fetch_one(&bed.db().await)
    .await
    .unwrap();
    assert!(
        decline["SupportDeclined"]
            .get("resource_sheet_sent")
            .is_none(),
        "{decline}"
    );
    assert_eq!(sheet_rows(&bed, &case_id).await, [(true, 0)]);
    service.stop().await;
}

#[tokio::test]
async fn an_smtp_server_that_refuses_leaves_the_case_saying_not_yet_sent_and_retries() {
    let server = SmtpServer::start();
    // 550 to every message: each row is tried (and refused) in each round, the sheet too.
    server.refuse_for_good();
    let mut bed = bed(&server).await;
    serve_dashboard(&mut bed).await;
    let service = bed.start().await;
    let manager = Session::sign_in(
        &format!("http://{}", service.addr),
        "program_manager",
        "E90002",
    )
    .await;
    let case_id = declined_case(&bed, &service).await;
    let sheet_on_the_page = || async {
        let (status, page) = manager.get(&format!("/dashboard/cases/{case_id}")).await;
        assert_eq!(status, 200, "{page}");
        page.split(r#"<dd id="resource-sheet">"#)
            .nth(1)
            .and_then(|rest| rest.split("</dd>").next())
            .unwrap_or_default()
            .to_owned()
    };

    // The server refused the sheet at least once: queued, an attempt counted.
    eventually(
        "the refused sheet to count an attempt",
        || sheet_rows(&bed, &case_id),
        |rows| rows.len() == 1 && rows[0].1 >= 1,
    )
    .await;
    assert!(sheets(&server).is_empty());
    let before = steps(&bed, &service, &case_id).await;
    assert!(before.iter().any(|s| s == "support_declined"), "{before:?}");
    assert!(
        !before.iter().any(|s| s == "resource_sheet_sent"),
        "the case says sent while the server refuses: {before:?}"
    );
    assert_eq!(bed.events_of_type("ResourceSheetSent").await, 0);
    let (published, _) = sheet_rows(&bed, &case_id).await[0];
    assert!(!published);
    let said = eventually(
        "the case page to show the decline",
        sheet_on_the_page,
        |said| !said.is_empty(),
    )
    .await;
    assert!(said.starts_with("Not sent yet: 0 of 1 sent."), "{said}");

    // The server takes messages again: the publisher's next round sends it, and only then is
    // it recorded.
    server.accept();
    eventually(
        "the sheet to go out",
        || async { sheets(&server) },
        |s| s.len() == 1,
    )
    .await;
    eventually(
        "the case to record the sheet",
        || steps(&bed, &service, &case_id),
        |steps| steps.iter().filter(|s| *s == "resource_sheet_sent").count() == 1,
    )
    .await;
    let rows = sheet_rows(&bed, &case_id).await;
    assert!(rows[0].0 && rows[0].1 >= 1, "{rows:?}");
    eventually("the case page to say sent", sheet_on_the_page, |said| {
        said == "Sent (1)"
    })
    .await;
    service.stop().await;
}

#[tokio::test]
async fn resources_given_by_the_supporter_send_the_sheet_too_recorded_after_delivery() {
    let server = SmtpServer::start();
    let bed = bed(&server).await;
    let service = bed.start().await;

    let case_id = reached_case_then(&bed, &service, "resources").await;

    let sent = eventually(
        "the resource sheet",
        || async { sheets(&server) },
        |s| !s.is_empty(),
    )
    .await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].to, "d1@example.org");
    assert!(
        sent[0].body.contains("988 Suicide & Crisis Lifeline"),
        "{}",
        sent[0].body
    );
    let recorded = eventually(
        "the case to record the sheet",
        || steps(&bed, &service, &case_id),
        |steps| steps.iter().any(|s| s == "resource_sheet_sent"),
    )
    .await;
    let given = recorded.iter().position(|s| s == "resources_sent").unwrap();
    let sent_at = recorded
        .iter()
        .position(|s| s == "resource_sheet_sent")
        .unwrap();
    assert!(given < sent_at, "{recorded:?}");
    assert_eq!(bed.events_of_type(CaseEvent::RESOURCE_SHEET_SENT).await, 1);
    service.stop().await;
}

/// The resource sheet e-mailed to `address`, as the mail server took it.
async fn sheet_to(server: &SmtpServer, address: &str) -> Mail {
    let sent = eventually(
        "the resource sheet",
        || async { mails(server) },
        |m| m.iter().any(|m| m.to == address),
    )
    .await;
    sent.into_iter().find(|m| m.to == address).unwrap()
}

/// The sheet is the catalogue's Spanish with the program's Spanish words for its entries (the
/// EAP's name and hours, the 988 Lifeline's Spanish line), their numbers and links as
/// configured where no Spanish was given.
fn assert_in_spanish(sheet: &Mail) {
    assert!(sheet.subject != SHEET_SUBJECT, "{}", sheet.subject);
    for expected in [
        "El programa de apoyo entre pares quiere que tenga esta lista",
        "988 Línea de Prevención del Suicidio y Crisis (Línea de crisis)",
        "Teléfono: 988 (llame y marque 2",
        "Web: https://988lineadevida.org",
        "Programa de Asistencia al Personal (Programa de asistencia al empleado (EAP))",
        "Teléfono: +1 415 555 0199",
        "Web: https://fsap.hospital.example",
        "Horario: lunes a viernes, 8:00-17:00",
        "Si está en crisis",
    ] {
        assert!(sheet.body.contains(expected), "{expected}: {}", sheet.body);
    }
    for english in [
        "Faculty and Staff Assistance Program",
        "988 Suicide & Crisis Lifeline",
        "Phone:",
        "places to turn to",
    ] {
        assert!(!sheet.raw.contains(english), "{english} in {}", sheet.raw);
    }
}

/// Every e-mail a member receives is in their language: the resource sheet of a member who
/// stated Spanish (the program's default English) is in Spanish.
#[tokio::test]
async fn a_member_who_reads_spanish_gets_the_sheet_in_spanish_with_the_programs_spanish_entries() {
    let server = SmtpServer::start();
    let bed = bed(&server).await;
    let service = bed.start().await;
    declined_case_of(&bed, &service, "D2", Some("es")).await;
    let sheet = sheet_to(&server, "d2@example.org").await;
    service.stop().await;
    assert_in_spanish(&sheet);
}

/// A member who stated no language reads the program's configured default: Spanish here.
#[tokio::test]
async fn a_member_who_stated_no_language_gets_the_sheet_in_the_programs_default_language() {
    let server = SmtpServer::start();
    let bed = bed_speaking(&server, Language::Es).await;
    let service = bed.start().await;
    declined_case_of(&bed, &service, "D3", None).await;
    let sheet = sheet_to(&server, "d3@example.org").await;
    service.stop().await;
    assert_in_spanish(&sheet);
}
