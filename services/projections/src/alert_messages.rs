//! What pages, alerts and reminders say, and to whom. Each is built here from a case id, the
//! case's campus, its times and a category's name, field by field: no member's name, no contact
//! detail of the member, nothing clinical (the events they are built from have none to give).
//! The reader follows the link to the dashboard, where access is checked and audited.
//!
//! The reactions ([`ProgramAlerts`](crate::ProgramAlerts)) and the alert watch (in
//! `outreach-process-managers`) both compose their messages here.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use outreach_events::lifecycle::EscalationCategory;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::one_line;

/// The outbox kind of a page through the paging webhook (PagerDuty Events API v2, trigger).
pub const PAGE: &str = "page";
/// The outbox kind of the webhook's resolve of a page, once first contact is recorded.
pub const PAGE_RESOLVE: &str = "page-resolve";
/// The outbox kind of a page by e-mail to an SMS gateway.
pub const PAGE_SMS: &str = "page-sms";
/// The managers' alert that an urgent case found nobody on call to page.
pub const URGENT_UNSTAFFED: &str = "urgent-unstaffed-alert";
/// The managers' alert that first contact is overdue.
pub const DEADLINE_PASSED: &str = "deadline-passed-alert";
/// The managers' alert that a case has waited too long for a supporter.
pub const UNASSIGNED: &str = "unassigned-alert";
/// The assigned supporter's reminder before first contact is due.
pub const REMINDER: &str = "first-contact-reminder";
/// The director's e-mail about an escalation.
pub const ESCALATION_EMAIL: &str = "escalation-email";

/// Where to find people and what to link to: `[alerts]` and `[paging]` as the reactions use them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertSetup {
    /// The dashboard's address, without a trailing slash: a manager's link is
    /// `{dashboard_url}/cases/{id}`, a supporter's `{dashboard_url}/my-cases/{id}`.
    pub dashboard_url: String,
    /// The program managers' list.
    pub managers: Vec<String>,
    /// The program director's addresses.
    pub director: Vec<String>,
    /// Whether pages go to the paging webhook (`[paging.webhook]` is set).
    pub webhook: bool,
    /// The SMS gateway's address for a phone number, `{phone}` standing for its digits, e.g.
    /// `{phone}@sms.hospital.example` (`[paging.sms]`); `None`: no SMS pages.
    pub sms_gateway: Option<String>,
    /// The program's time zone: times are written in it.
    pub time_zone: Tz,
}

/// Where links point unless configured otherwise.
pub const DEFAULT_DASHBOARD_URL: &str = "https://peer-support.example/dashboard";

impl Default for AlertSetup {
    /// Links to the example dashboard; nobody to tell, no paging.
    fn default() -> Self {
        Self {
            dashboard_url: DEFAULT_DASHBOARD_URL.into(),
            managers: Vec::new(),
            director: Vec::new(),
            webhook: false,
            sms_gateway: None,
            time_zone: Tz::UTC,
        }
    }
}

impl AlertSetup {
    /// A program manager's (or the director's) link to the case.
    pub fn case_link(&self, case_id: Uuid) -> String {
        format!(
            "{}/cases/{case_id}",
            self.dashboard_url.trim_end_matches('/')
        )
    }

    /// The assigned supporter's link to the case.
    pub fn supporter_link(&self, case_id: Uuid) -> String {
        format!(
            "{}/my-cases/{case_id}",
            self.dashboard_url.trim_end_matches('/')
        )
    }

    /// The SMS gateway address of `phone` (its digits), if SMS paging is set up and the number
    /// has any.
    pub fn sms_address(&self, phone: &str) -> Option<String> {
        let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
        let gateway = self.sms_gateway.as_ref()?;
        (!digits.is_empty()).then(|| gateway.replace("{phone}", &digits))
    }

    /// Whether an urgent case's on-call supporter can be paged at all.
    pub fn pages(&self) -> bool {
        self.webhook || self.sms_gateway.is_some()
    }

    /// "Tue 1 Dec 2026, 10:42 PST".
    pub fn at(&self, at: DateTime<Utc>) -> String {
        at.with_timezone(&self.time_zone)
            .format("%a %-d %b %Y, %H:%M %Z")
            .to_string()
    }
}

/// An e-mail row's payload, as the e-mail publisher reads it: no display name, as alerts go to
/// role addresses and name no one.
pub fn email(to: &str, subject: &str, body: String) -> Value {
    json!({"to": to, "subject": subject, "body": body})
}

/// What an urgent page says: "urgent peer support case at CAMPUS, first contact due by TIME".
pub fn page_summary(setup: &AlertSetup, campus: &str, due: DateTime<Utc>) -> String {
    format!(
        "urgent peer support case at {}, first contact due by {}",
        one_line(campus),
        setup.at(due)
    )
}

/// A page through the webhook, in the PagerDuty Events API v2 shape, less the `routing_key`
/// (a secret of the configuration, added when it is sent). `dedup_key` is the case id, so a
/// page sent twice is one incident, and its resolve finds it.
pub fn page_trigger(
    setup: &AlertSetup,
    case_id: Uuid,
    campus: &str,
    due: DateTime<Utc>,
    on_call: &str,
) -> Value {
    json!({
        "event_action": "trigger",
        "dedup_key": case_id,
        "payload": {
            "summary": page_summary(setup, campus, due),
            "source": "peer-outreach",
            "severity": "critical",
            // Who the roster has on call, for the hospital's integration to route the page to.
            "custom_details": {"on_call_supporter": on_call},
        },
        "links": [{"href": setup.case_link(case_id), "text": "The case in peer-outreach"}],
    })
}

/// The resolve of a case's page, once first contact is recorded (or the case ended).
pub fn page_resolve(case_id: Uuid) -> Value {
    json!({"event_action": "resolve", "dedup_key": case_id})
}

/// A page by e-mail to an SMS gateway: short, one line with the link.
pub fn page_sms(
    setup: &AlertSetup,
    address: &str,
    case_id: Uuid,
    campus: &str,
    due: DateTime<Utc>,
) -> Value {
    email(
        address,
        "Urgent peer support case",
        format!(
            "{}: {}\n",
            page_summary(setup, campus, due),
            setup.supporter_link(case_id)
        ),
    )
}

/// To a manager: an urgent case and nobody on call to page.
pub fn urgent_unstaffed(
    setup: &AlertSetup,
    to: &str,
    case_id: Uuid,
    campus: &str,
    due: DateTime<Utc>,
) -> Value {
    email(
        to,
        "Urgent peer support case: nobody on call",
        format!(
            "An {}.\n\n\
             Nobody on the roster is on call to be paged for it, or no paging is set up.\n\
             Please assign a supporter now:\n\n{}\n",
            page_summary(setup, campus, due),
            setup.case_link(case_id)
        ),
    )
}

/// To a manager: first contact was due and has not been attempted.
pub fn deadline_passed(
    setup: &AlertSetup,
    to: &str,
    case_id: Uuid,
    due: DateTime<Utc>,
    noticed_at: DateTime<Utc>,
) -> Value {
    email(
        to,
        "Peer support: first contact overdue",
        format!(
            "First contact for a peer support case was due by {} and has not been attempted.\n\
             It was {} overdue when this was noticed ({}).\n\n{}\n",
            setup.at(due),
            duration_in_words(noticed_at - due),
            setup.at(noticed_at),
            setup.case_link(case_id)
        ),
    )
}

/// To a manager: a case has waited for a supporter since it opened.
pub fn unassigned(
    setup: &AlertSetup,
    to: &str,
    case_id: Uuid,
    opened_at: DateTime<Utc>,
    due: Option<DateTime<Utc>>,
) -> Value {
    let due = due
        .map(|due| format!(" First contact is due by {}.", setup.at(due)))
        .unwrap_or_default();
    email(
        to,
        "Peer support: a case is waiting for a supporter",
        format!(
            "A peer support case opened {} has no supporter yet.{due}\n\n{}\n",
            setup.at(opened_at),
            setup.case_link(case_id)
        ),
    )
}

/// To the assigned supporter: first contact is due soon.
pub fn reminder(setup: &AlertSetup, to: &str, case_id: Uuid, due: DateTime<Utc>) -> Value {
    email(
        to,
        "Peer support: first contact due soon",
        format!(
            "First contact for a colleague you support is due by {}. Please reach out and\n\
             record the attempt:\n\n{}\n",
            setup.at(due),
            setup.supporter_link(case_id)
        ),
    )
}

/// To the director: an escalation's category and the case, nothing else (promise 5).
pub fn escalation(
    setup: &AlertSetup,
    to: &str,
    case_id: Uuid,
    category: EscalationCategory,
) -> Value {
    email(
        to,
        "Peer support: an escalation",
        format!(
            "A limit of confidentiality was reached in a peer support case: {}.\n\n{}\n",
            category_in_words(category),
            setup.case_link(case_id)
        ),
    )
}

fn category_in_words(category: EscalationCategory) -> &'static str {
    match category {
        EscalationCategory::DangerToSelfOrOthers => "danger to self or others",
        EscalationCategory::ImpairmentPuttingPatientsAtRisk => {
            "impairment putting patients at risk"
        }
        EscalationCategory::AbuseOrNeglect => "abuse or neglect",
        EscalationCategory::DiscriminationHarassmentOrRetaliation => {
            "discrimination, harassment or retaliation"
        }
    }
}

/// "2 h 5 min", "3 d 1 h", "42 min" (a negative span reads as none).
pub fn duration_in_words(span: chrono::Duration) -> String {
    let minutes = span.num_minutes().max(0);
    let (days, hours, minutes) = (minutes / 1440, (minutes % 1440) / 60, minutes % 60);
    match (days, hours) {
        (0, 0) => format!("{minutes} min"),
        (0, _) => format!("{hours} h {minutes} min"),
        _ => format!("{days} d {hours} h"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> AlertSetup {
        AlertSetup {
            dashboard_url: "https://peer.example/dashboard/".into(),
            managers: vec!["managers@hospital.example".into()],
            director: vec!["director@hospital.example".into()],
            webhook: true,
            sms_gateway: Some("{phone}@sms.hospital.example".into()),
            time_zone: chrono_tz::America::Los_Angeles,
        }
    }

    fn due() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-12-01T18:42:00Z")
            .unwrap()
            .to_utc()
    }

    #[test]
    fn a_page_says_urgent_the_campus_and_the_time_with_the_link_and_nothing_more() {
        let case = Uuid::from_u128(7);
        let page = page_trigger(&setup(), case, "Parnassus\nX", due(), "S-3001");
        assert_eq!(
            page,
            json!({
                "event_action": "trigger",
                "dedup_key": "00000000-0000-0000-0000-000000000007",
                "payload": {
                    "summary": "urgent peer support case at Parnassus X, first contact due by Tue 1 Dec 2026, 10:42 PST",
                    "source": "peer-outreach",
                    "severity": "critical",
                    "custom_details": {"on_call_supporter": "S-3001"},
                },
                "links": [{"href": "https://peer.example/dashboard/cases/00000000-0000-0000-0000-000000000007", "text": "The case in peer-outreach"}],
            })
        );
        assert_eq!(
            page_resolve(case),
            json!({"event_action": "resolve", "dedup_key": "00000000-0000-0000-0000-000000000007"})
        );
    }

    #[test]
    fn an_sms_page_goes_to_the_gateway_address_of_the_phones_digits() {
        assert_eq!(
            setup().sms_address("+1 (415) 555-0100").as_deref(),
            Some("14155550100@sms.hospital.example")
        );
        assert_eq!(setup().sms_address("n/a"), None);
        let sms = page_sms(
            &setup(),
            "14155550100@sms.hospital.example",
            Uuid::from_u128(7),
            "Parnassus",
            due(),
        );
        assert_eq!(
            sms["body"],
            "urgent peer support case at Parnassus, first contact due by Tue 1 Dec 2026, 10:42 PST: \
             https://peer.example/dashboard/my-cases/00000000-0000-0000-0000-000000000007\n"
        );
    }

    #[test]
    fn alerts_hold_a_link_times_and_a_category_name_only() {
        let setup = setup();
        let case = Uuid::from_u128(7);
        let overdue = deadline_passed(
            &setup,
            "managers@hospital.example",
            case,
            due(),
            due() + chrono::Duration::minutes(125),
        );
        assert!(overdue["body"]
            .as_str()
            .unwrap()
            .contains("It was 2 h 5 min overdue when this was noticed"));
        let escalation = escalation(
            &setup,
            "director@hospital.example",
            case,
            EscalationCategory::DangerToSelfOrOthers,
        );
        assert_eq!(
            escalation["body"],
            "A limit of confidentiality was reached in a peer support case: danger to self or \
             others.\n\nhttps://peer.example/dashboard/cases/00000000-0000-0000-0000-000000000007\n"
        );
        for message in [
            overdue,
            escalation,
            reminder(&setup, "s@hospital.example", case, due()),
            unassigned(&setup, "m@hospital.example", case, due(), Some(due())),
            urgent_unstaffed(&setup, "m@hospital.example", case, "Parnassus", due()),
        ] {
            let fields: Vec<_> = message.as_object().unwrap().keys().cloned().collect();
            assert_eq!(fields, ["body", "subject", "to"]);
        }
    }
}
