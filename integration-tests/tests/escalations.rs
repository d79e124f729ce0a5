//! Escalations reach the director: a member who declines but discloses danger to self or others
//! is escalated all the same; the director is e-mailed the case link and the category's name,
//! nothing else; and the dashboard's "needs attention" page lists open escalations, passed
//! deadlines and unassigned cases. Supporters see the tier 3 directory on their case page.

use integration_tests::dashboard::{serve_dashboard, Session};
use integration_tests::mail::{mails, smtp, Mail};
use integration_tests::reports::{incident_with_clinical_detail, staff};
use integration_tests::{case_id_of, eventually, TestBed};
use outreach_domain::deadline::Allowance;
use outreach_intake::sample::Mode;
use outreach_test_support::SmtpServer;
use serde_json::json;

const DIRECTOR: &str = "director@hospital.example";

#[tokio::test]
async fn an_escalation_after_a_decline_reaches_the_director_by_email_and_on_the_needs_attention_page(
) {
    let server = SmtpServer::start();
    let port = server.port;
    let mut bed = TestBed::with(|settings| {
        settings.notifications.smtp = Some(smtp(port));
        settings.notifications.publish_interval_ms = 100;
        settings.alerts.director = vec![DIRECTOR.into()];
        // Every case is overdue at once, so the page has passed deadlines to show.
        settings.policy.deadlines.first_contact = Allowance::Minutes(0);
        settings.deadline_watch.watch_interval_ms = 100;
    })
    .await;
    serve_dashboard(&mut bed).await;
    let canary = format!("CANARY{}", bed.id.to_uppercase());
    let service = bed.start().await;
    let site = format!("http://{}", service.addr);
    bed.put_on_roster(&service, "S1").await;
    bed.publish(
        &incident_with_clinical_detail(
            "INC-ESC",
            vec![staff("E1", "nurse"), staff("E2", "physician")],
            &canary,
        ),
        Mode::Structured,
    )
    .await;
    let cases = bed
        .wait_for_cases(&service, "both cases", |cases| cases.len() == 2)
        .await;
    let (escalated, waiting) = (case_id_of(&cases, "E1"), case_id_of(&cases, "E2"));
    // The deadline watch notices both at once; acting before it did would race it.
    eventually(
        "both deadlines noticed",
        || bed.events_of_type("FirstContactDeadlinePassed"),
        |n| *n == 2,
    )
    .await;

    for (what, body) in [
        ("assignment", json!({"supporter_id": "S1"})),
        (
            "contact-attempts",
            json!({"channel": "phone", "outcome": "reached"}),
        ),
        ("decline", json!({})),
        (
            "escalations",
            json!({"category": "danger_to_self_or_others"}),
        ),
    ] {
        let (status, answer) = bed
            .post(
                &service,
                &format!("/v1/cases/{escalated}/{what}"),
                body,
                None,
            )
            .await;
        assert_eq!(status, 200, "{what}: {answer}");
    }
    // After a decline, other limits of confidentiality are not escalated through this case.
    let (status, refused) = bed
        .post(
            &service,
            &format!("/v1/cases/{escalated}/escalations"),
            json!({"category": "abuse_or_neglect"}),
            None,
        )
        .await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(refused["rule"], "escalation-after-decline");

    // The director's e-mail: the case link and the category's name, nothing else.
    let emails = eventually(
        "the director's e-mail",
        || async { mails(&server) },
        |mails: &Vec<Mail>| mails.iter().any(|m| m.to == DIRECTOR),
    )
    .await;
    let to_director: Vec<_> = emails.iter().filter(|m| m.to == DIRECTOR).collect();
    assert_eq!(to_director.len(), 1, "{to_director:?}");
    let email = to_director[0];
    assert_eq!(email.subject, "Peer support: an escalation");
    assert_eq!(
        email.body.trim_end(),
        format!(
            "A limit of confidentiality was reached in a peer support case: danger to self or \
             others.\n\nhttp://127.0.0.1:8080/dashboard/cases/{escalated}"
        )
    );
    for absent in [
        canary.as_str(),
        "GivenE1",
        "FamilyE1",
        "e1@example.org",
        "INC-ESC",
    ] {
        assert!(!email.raw.contains(absent), "{absent} in {}", email.raw);
    }
    // The Kafka notice still goes to the director's topic as well.
    let notice = bed
        .read_topic(&bed.settings.notifications.topic.clone(), 1)
        .await
        .remove(0)
        .json();
    assert_eq!(notice["category"], "danger_to_self_or_others");

    // The needs-attention page, for the director.
    let director = Session::sign_in(&site, "director", "E90001").await;
    let (status, page) = eventually(
        "the page to show the overdue case",
        || director.get("/dashboard/attention"),
        |(_, page)| page.contains(&format!("/dashboard/cases/{waiting}")),
    )
    .await;
    assert_eq!(status, 200);
    let section = |id: &str| {
        let start = page
            .find(&format!(r#"id="{id}""#))
            .unwrap_or_else(|| panic!("no {id}"));
        let end = page[start..].find("</table>").unwrap() + start;
        page[start..end].to_owned()
    };
    let escalations = section("escalations");
    assert!(
        escalations.contains("danger to self or others"),
        "{escalations}"
    );
    assert!(escalations.contains(&format!("/dashboard/cases/{escalated}")));
    let overdue = section("overdue");
    assert!(
        overdue.contains(&format!("/dashboard/cases/{waiting}")),
        "{overdue}"
    );
    assert!(
        !overdue.contains(&escalated),
        "contacted, so not overdue: {overdue}"
    );
    let unassigned = section("unassigned");
    assert!(
        unassigned.contains(&format!("/dashboard/cases/{waiting}")),
        "{unassigned}"
    );
    assert!(!unassigned.contains(&escalated), "{unassigned}");
    for absent in [
        canary.as_str(),
        "GivenE1",
        "GivenE2",
        "FamilyE2",
        "e2@example.org",
    ] {
        assert!(
            !page.contains(absent),
            "{absent} on the needs-attention page"
        );
    }
    // Its link is in the navigation of those who run the program, and only theirs.
    assert!(page.contains(r#"href="/dashboard/attention""#));
    let safety = Session::sign_in(&site, "safety_office", "E90003").await;
    assert_eq!(safety.get("/dashboard/attention").await.0, 403);

    // The case page says the member's resource sheet went out (recorded after delivery).
    let case_page = format!("/dashboard/cases/{escalated}");
    eventually(
        "the case page to show the sheet sent",
        || director.get(&case_page),
        |(_, page)| page.contains(r#"<dd id="resource-sheet">Sent (1)</dd>"#),
    )
    .await;

    // The supporter sees the tier 3 directory on their case page.
    let supporter = Session::sign_in(&site, "peer_supporter", "S1").await;
    let (status, page) = supporter
        .get(&format!("/dashboard/my-cases/{escalated}"))
        .await;
    assert_eq!(status, 200, "{page}");
    let start = page
        .find(r#"id="tier-three""#)
        .expect("the tier 3 directory");
    let directory = &page[start..];
    assert!(
        directory.contains("988 Suicide &#38; Crisis Lifeline"),
        "{directory}"
    );
    assert!(directory.contains("https://988lifeline.org"));
    service.stop().await;
}
