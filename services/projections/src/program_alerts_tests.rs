use chrono::NaiveDate;
use outreach_events::lifecycle::{ContactAttempted, ContactOutcome, EscalationRecorded};
use outreach_events::supporter::DatePeriod;
use outreach_events::Channel;
use serde_json::json;

use std::collections::HashMap;

use super::*;
use crate::testing::{ada, case_opened};

/// How many rows of each kind.
fn kinds(rows: &[OutboxRow]) -> HashMap<&str, usize> {
    let mut kinds = HashMap::new();
    for row in rows {
        *kinds.entry(row.kind).or_default() += 1;
    }
    kinds
}

fn setup() -> AlertSetup {
    AlertSetup {
        dashboard_url: "https://peer.example/dashboard".into(),
        managers: vec!["m1@hospital.example".into(), "m2@hospital.example".into()],
        director: vec!["director@hospital.example".into()],
        webhook: true,
        sms_gateway: Some("{phone}@sms.hospital.example".into()),
        time_zone: chrono_tz::UTC,
    }
}

fn stored(sequence: i64, event: CaseEvent) -> StoredEvent {
    StoredEvent {
        aggregate_type: case::AGGREGATE_TYPE.into(),
        aggregate_id: Uuid::from_u128(7).to_string(),
        sequence,
        event_type: cqrs_es::DomainEvent::event_type(&event),
        event_version: "1".into(),
        payload: serde_json::to_value(event).unwrap(),
        metadata: json!({}),
        transaction_id: "1".into(),
        global_position: sequence,
        recorded_at: DateTime::from_timestamp(1_799_000_000, 0).unwrap(),
    }
}

fn urgent_opening() -> StoredEvent {
    let CaseEvent::CaseOpened(mut opened) = case_opened(Uuid::from_u128(7), ada()) else {
        unreachable!()
    };
    opened.facts.urgent = true;
    opened.facts.first_contact_due = Some(opened.facts.opened_at + chrono::Duration::minutes(30));
    opened.personal = None;
    stored(1, CaseEvent::CaseOpened(opened))
}

fn on_call(staff_id: &str, phone: Option<&str>) -> OnRoster {
    let day = DateTime::from_timestamp(1_799_000_000, 0)
        .unwrap()
        .date_naive();
    OnRoster {
        staff_id: staff_id.into(),
        campus: "Parnassus".into(),
        availability: Availability {
            weekly_hours: vec![],
            on_call: vec![DatePeriod {
                starts: day,
                ends: day + chrono::Duration::days(6),
            }],
        },
        takes_cases: true,
        phone: phone.map(String::from),
    }
}

fn alerts(setup: AlertSetup, known: &Known, events: &[StoredEvent]) -> Vec<OutboxRow> {
    let alerts = ProgramAlerts::new(setup);
    let mut rows = Vec::new();
    for event in events {
        if let Some(step) = step(event).unwrap() {
            alerts.alert(&mut rows, known, event, step);
        }
    }
    rows
}

#[test]
fn an_urgent_case_pages_the_supporter_on_call_by_webhook_and_sms_and_first_contact_resolves_it() {
    let known = Known {
        roster: vec![on_call("S1", Some("+1 415 555 0101"))],
        paged: HashSet::new(),
        made_urgent: HashMap::new(),
    };
    let contacted = stored(
        3,
        CaseEvent::ContactAttempted(ContactAttempted {
            channel: Channel::Phone,
            outcome: ContactOutcome::NoAnswer,
            attempted_at: DateTime::from_timestamp(1_799_000_600, 0).unwrap(),
        }),
    );
    let again = stored(4, contacted.decode::<CaseEvent>().unwrap());
    let rows = alerts(setup(), &known, &[urgent_opening(), contacted, again]);
    assert_eq!(
        kinds(&rows),
        HashMap::from([("page", 1), ("page-sms", 1), ("page-resolve", 2)])
    );
    let page = &rows[0];
    assert_eq!(
        (page.channel, page.case_id),
        ("webhook", Uuid::from_u128(7))
    );
    assert_eq!(
        page.payload["payload"]["custom_details"]["on_call_supporter"],
        "S1"
    );
    assert_eq!(rows[1].payload["to"], "14155550101@sms.hospital.example");
    // Every attempt asks for the resolve under one id: one row once inserted.
    assert_eq!(rows[2].id, rows[3].id);
    assert_eq!(rows[2].payload["event_action"], "resolve");
    for row in &rows {
        let text = row.payload.to_string();
        for personal in ["Ada", "Lovelace", "ada@example.org", "E1", "INC-1", "Nurse"] {
            assert!(!text.contains(personal), "{personal} in {text}");
        }
    }
}

#[test]
fn nobody_on_call_alerts_every_manager_at_once() {
    let known = Known {
        roster: vec![OnRoster {
            availability: Availability::default(),
            ..on_call("S2", None)
        }],
        paged: HashSet::new(),
        made_urgent: HashMap::new(),
    };
    let rows = alerts(setup(), &known, &[urgent_opening()]);
    assert_eq!(kinds(&rows), HashMap::from([("urgent-unstaffed-alert", 2)]));
    assert_ne!(rows[0].id, rows[1].id);
    assert_eq!(rows[0].payload["to"], "m1@hospital.example");
    // The member themselves on call is not paged for their own case.
    let known = Known {
        roster: vec![on_call("E1", Some("555 0100"))],
        paged: HashSet::new(),
        made_urgent: HashMap::new(),
    };
    let rows = alerts(setup(), &known, &[urgent_opening()]);
    assert_eq!(kinds(&rows), HashMap::from([("urgent-unstaffed-alert", 2)]));
    // An on-call supporter who cannot be paged (no webhook, no phone) counts as nobody.
    let no_webhook = AlertSetup {
        webhook: false,
        ..setup()
    };
    let known = Known {
        roster: vec![on_call("S1", None)],
        paged: HashSet::new(),
        made_urgent: HashMap::new(),
    };
    let rows = alerts(no_webhook, &known, &[urgent_opening()]);
    assert_eq!(kinds(&rows), HashMap::from([("urgent-unstaffed-alert", 2)]));
}

#[test]
fn a_routine_case_pages_nobody_and_an_escalation_reaches_the_director() {
    let CaseEvent::CaseOpened(routine) = case_opened(Uuid::from_u128(7), ada()) else {
        unreachable!()
    };
    let escalated = stored(
        5,
        CaseEvent::EscalationRecorded(EscalationRecorded {
            category: EscalationCategory::DangerToSelfOrOthers,
            recorded_at: DateTime::from_timestamp(1_799_000_900, 0).unwrap(),
        }),
    );
    let known = Known {
        roster: vec![on_call("S1", Some("555"))],
        paged: HashSet::new(),
        made_urgent: HashMap::new(),
    };
    let rows = alerts(
        setup(),
        &known,
        &[stored(1, CaseEvent::CaseOpened(routine)), escalated],
    );
    assert_eq!(kinds(&rows), HashMap::from([("escalation-email", 1)]));
    assert_eq!(rows[0].payload["to"], "director@hospital.example");
    assert!(rows[0].payload["body"]
        .as_str()
        .unwrap()
        .contains("danger to self or others"));
}

/// `apply` against a fresh, migrated database: the roster read, a replay a no-op.
mod in_the_database {
    use super::*;
    use crate::testing::TestDb;

    #[tokio::test]
    async fn an_urgent_opening_pages_from_the_roster_read_model_and_a_replay_sends_nothing_new() {
        let db = TestDb::new().await;
        let day = NaiveDate::from_ymd_opt(2027, 1, 1).unwrap();
        sqlx::query(
                "INSERT INTO roster_supporters
                     (supporter_id, staff_id, campus, department, discipline, seniority,
                      languages, interests, training_status, capacity, availability, phone,
                      joined_at, changed_at, version)
                 VALUES ($1, 'S1', 'Parnassus', 'Medicine', 'physician', 'senior', '{}', '{}',
                         'trained', 3, $2, '+1 415 555 0101', now(), now(), 1)",
            )
            .bind(Uuid::new_v4())
            .bind(json!({"weekly_hours": [], "on_call": [
                {"starts": day - chrono::Duration::days(30), "ends": day + chrono::Duration::days(30)}]}))
            .execute(&db.db.pool)
            .await
            .unwrap();
        let opening = urgent_opening();
        let event = db
            .append(
                case::AGGREGATE_TYPE,
                Uuid::from_u128(7),
                1,
                "CaseOpened",
                opening.payload.clone(),
            )
            .await;
        let alerts = ProgramAlerts::new(setup());

        db.apply_with(&alerts, &event).await.unwrap();
        db.apply_with(&alerts, &event).await.unwrap();

        let rows = db.outbox().await;
        let kinds: Vec<_> = rows.iter().map(|r| (r.1.as_str(), r.2.as_str())).collect();
        assert_eq!(kinds, [("page", "webhook"), ("page-sms", "email")]);

        let contact = db
            .append(
                case::AGGREGATE_TYPE,
                Uuid::from_u128(7),
                2,
                "ContactAttempted",
                json!({"ContactAttempted": {"channel": "phone", "outcome": "reached",
                        "attempted_at": "2027-01-15T08:10:00Z"}}),
            )
            .await;
        db.apply_with(&alerts, &contact).await.unwrap();
        let resolves: Vec<_> = db
            .outbox()
            .await
            .into_iter()
            .filter(|r| r.1 == "page-resolve")
            .collect();
        assert_eq!(resolves.len(), 1, "{resolves:?}");
        assert_eq!(resolves[0].2, "webhook");
    }

    /// A routine case, then an urgent report linked to it: paged as an urgent opening
    /// would be, the campus and member read from the outreach read model, once.
    #[tokio::test]
    async fn an_urgent_report_joining_a_routine_case_pages_once_and_a_replay_sends_nothing_new() {
        let db = TestDb::new().await;
        let day = NaiveDate::from_ymd_opt(2027, 1, 1).unwrap();
        sqlx::query(
                "INSERT INTO roster_supporters
                     (supporter_id, staff_id, campus, department, discipline, seniority,
                      languages, interests, training_status, capacity, availability, phone,
                      joined_at, changed_at, version)
                 VALUES ($1, 'S1', 'Parnassus', 'Medicine', 'physician', 'senior', '{}', '{}',
                         'trained', 3, $2, '+1 415 555 0101', now(), now(), 1)",
            )
            .bind(Uuid::new_v4())
            .bind(json!({"weekly_hours": [], "on_call": [
                {"starts": day - chrono::Duration::days(30), "ends": day + chrono::Duration::days(30)}]}))
            .execute(&db.db.pool)
            .await
            .unwrap();
        let case_id = Uuid::from_u128(7);
        let CaseEvent::CaseOpened(mut routine) = case_opened(case_id, ada()) else {
            unreachable!()
        };
        routine.personal = None;
        let opened_at = routine.facts.opened_at;
        let opening = db
            .append(
                outreach_events::case::AGGREGATE_TYPE,
                case_id,
                1,
                "CaseOpened",
                serde_json::to_value(CaseEvent::CaseOpened(routine)).unwrap(),
            )
            .await;
        let due = opened_at + chrono::Duration::hours(2);
        let link = |sequence, report_id: &str, first_contact_due| {
            let linked = CaseEvent::TriggerLinked(outreach_events::lifecycle::TriggerLinked {
                report: outreach_events::ReportRef {
                    source: "/datix/a".into(),
                    report_id: report_id.into(),
                },
                trigger: outreach_events::TriggerKind::Incident,
                linked_at: opened_at + chrono::Duration::hours(1),
                made_urgent: true,
                first_contact_due,
            });
            (sequence, serde_json::to_value(linked).unwrap())
        };
        let (sequence, payload) = link(2, "INC-2", Some(due));
        let linked = db
            .append(
                outreach_events::case::AGGREGATE_TYPE,
                case_id,
                sequence,
                "TriggerLinked",
                payload,
            )
            .await;
        let alerts = ProgramAlerts::new(setup());

        // The outreach read model has not seen the case yet: nothing is sent, the batch
        // fails and is retried.
        let lagging = db.apply_with(&alerts, &linked).await;
        assert!(
            matches!(lagging, Err(ProjectionError::NotCaughtUp(_))),
            "{lagging:?}"
        );
        assert!(db.outbox().await.is_empty());

        db.apply_with(&crate::OutreachProjection, &opening)
            .await
            .unwrap();
        db.apply_with(&crate::OutreachProjection, &linked)
            .await
            .unwrap();
        db.apply_with(&alerts, &opening).await.unwrap();
        db.apply_with(&alerts, &linked).await.unwrap();
        db.apply_with(&alerts, &linked).await.unwrap();

        let rows = db.outbox().await;
        let kinds: Vec<_> = rows.iter().map(|r| (r.1.as_str(), r.2.as_str())).collect();
        assert_eq!(kinds, [("page", "webhook"), ("page-sms", "email")]);
        let page = &rows[0].4;
        assert_eq!(page["dedup_key"], case_id.to_string());
        assert_eq!(page["payload"]["custom_details"]["on_call_supporter"], "S1");
        let shown_due = messages::page_trigger(&setup(), case_id, "Parnassus", due, "S1");
        assert_eq!(page["payload"]["summary"], shown_due["payload"]["summary"]);
        for row in &rows {
            let text = row.4.to_string();
            for personal in ["Ada", "Lovelace", "ada@example.org", "E1", "INC-1", "INC-2"] {
                assert!(!text.contains(personal), "{personal} in {text}");
            }
        }

        // Made urgent after first contact (no deadline moved): nobody is paged.
        let (sequence, payload) = link(3, "INC-3", None);
        let contacted = db
            .append(
                outreach_events::case::AGGREGATE_TYPE,
                case_id,
                sequence,
                "TriggerLinked",
                payload,
            )
            .await;
        db.apply_with(&alerts, &contacted).await.unwrap();
        assert_eq!(db.outbox().await.len(), 2);
    }
}
