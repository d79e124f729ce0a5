use outreach_events::lifecycle::{ContactAttempted, SupportAccepted};
use outreach_events::Channel;

use super::*;
use crate::testing::{ada, case_opened};

fn statistics() -> StatisticsProjection {
    StatisticsProjection::new(crate::Setup::default().policies.deadlines.calendar)
}

fn at(hour: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_799_000_000 + hour * 3600, 0).unwrap()
}

fn opened(case_id: Uuid) -> Counted {
    Counted::Case {
        case_id,
        event: case_opened(case_id, ada()),
    }
}

fn attempt(case_id: Uuid, outcome: ContactOutcome, hour: i64) -> Counted {
    Counted::Case {
        case_id,
        event: CaseEvent::ContactAttempted(ContactAttempted {
            channel: Channel::Phone,
            outcome,
            attempted_at: at(hour),
        }),
    }
}

fn measures(tally: &Tally) -> Vec<(String, i64)> {
    tally
        .counts
        .iter()
        .map(|((_, measure, campus, discipline), n)| {
            (format!("{measure} {campus} {discipline}"), *n)
        })
        .collect()
}

#[test]
fn a_first_contact_is_timed_once_and_reaching_the_member_counts_once() {
    let (statistics, case) = (statistics(), Uuid::from_u128(1));
    let (mut known, mut tally) = (Known::default(), Tally::default());
    for counted in [
        opened(case),
        attempt(case, ContactOutcome::NoAnswer, 2),
        attempt(case, ContactOutcome::Reached, 3),
        attempt(case, ContactOutcome::Reached, 4),
        Counted::Case {
            case_id: case,
            event: CaseEvent::SupportAccepted(SupportAccepted { accepted_at: at(5) }),
        },
    ] {
        statistics.fold(&mut known, &mut tally, counted).unwrap();
    }

    assert_eq!(
        measures(&tally),
        [
            ("accepted Parnassus nurse".to_string(), 1),
            ("opened:incident Parnassus nurse".to_string(), 1),
            ("reached Parnassus nurse".to_string(), 1),
        ]
    );
    assert_eq!(tally.first_contacts.len(), 1);
    let (_, campus, discipline, _, within) = &tally.first_contacts[0];
    assert_eq!(
        (campus.as_str(), discipline.as_str(), within),
        ("Parnassus", "nurse", &true)
    );
}

/// An urgent report joined the routine case before first contact and moved its deadline
/// sooner: a first contact after the moved deadline is late, though within the old one.
#[test]
fn a_first_contact_is_timed_against_the_deadline_an_urgent_report_moved() {
    let (statistics, case) = (statistics(), Uuid::from_u128(1));
    let (mut known, mut tally) = (Known::default(), Tally::default());
    let routine_due = at(48);
    let mut opening = case_opened(case, ada());
    if let CaseEvent::CaseOpened(opening) = &mut opening {
        opening.facts.first_contact_due = Some(routine_due);
    }
    let opening = Counted::Case {
        case_id: case,
        event: opening,
    };
    statistics.fold(&mut known, &mut tally, opening).unwrap();
    let moved = routine_due - chrono::Duration::hours(20);
    let linked = Counted::Case {
        case_id: case,
        event: CaseEvent::TriggerLinked(outreach_events::lifecycle::TriggerLinked {
            report: outreach_events::ReportRef {
                source: "/datix/a".into(),
                report_id: "INC-2".into(),
            },
            trigger: outreach_events::TriggerKind::Incident,
            linked_at: moved - chrono::Duration::hours(1),
            made_urgent: true,
            first_contact_due: Some(moved),
        }),
    };
    statistics.fold(&mut known, &mut tally, linked).unwrap();
    let late = Counted::Case {
        case_id: case,
        event: CaseEvent::ContactAttempted(ContactAttempted {
            channel: Channel::Phone,
            outcome: ContactOutcome::Reached,
            attempted_at: moved + chrono::Duration::hours(1),
        }),
    };
    statistics.fold(&mut known, &mut tally, late).unwrap();

    assert_eq!(tally.moved, [(case, moved)]);
    let (_, _, _, _, within) = &tally.first_contacts[0];
    assert!(!within, "timed against the moved deadline");
    assert!(moved + chrono::Duration::hours(1) < routine_due);
}

#[test]
fn a_case_contacted_before_the_batch_is_not_timed_again() {
    let (statistics, case) = (statistics(), Uuid::from_u128(1));
    let mut known = Known::default();
    let CaseEvent::CaseOpened(opening) = (match opened(case) {
        Counted::Case { event, .. } => event,
        Counted::Skipped { .. } => unreachable!(),
    }) else {
        unreachable!()
    };
    known
        .cases
        .insert(case, CaseFacts::of(&opening.facts, "nurse"));
    known.contacted.insert(case);
    let mut tally = Tally::default();

    statistics
        .fold(
            &mut known,
            &mut tally,
            attempt(case, ContactOutcome::Reached, 30),
        )
        .unwrap();

    assert!(tally.first_contacts.is_empty());
    assert_eq!(
        measures(&tally),
        [("reached Parnassus nurse".to_string(), 1)]
    );
}

#[test]
fn an_event_of_a_case_whose_opening_is_unknown_is_unreadable() {
    let mut tally = Tally::default();
    let error = statistics()
        .fold(
            &mut Known::default(),
            &mut tally,
            attempt(Uuid::from_u128(1), ContactOutcome::Reached, 3),
        )
        .unwrap_err();
    assert_eq!(error, "the case has no readable opening");
    assert_eq!(tally, Tally::default());
}

#[test]
fn a_skipped_outreach_counts_under_its_reports_campus_and_no_discipline() {
    let report = ReportRef {
        source: "/datix/a".into(),
        report_id: "INC-1".into(),
    };
    let mut known = Known::default();
    known
        .report_campus
        .insert(report.clone(), Some("Mission Bay".into()));
    let mut tally = Tally::default();
    let skipped = |report: ReportRef| Counted::Skipped { report, at: at(1) };
    let unrecorded = ReportRef {
        report_id: "INC-2".into(),
        ..report.clone()
    };
    for counted in [skipped(report), skipped(unrecorded)] {
        statistics().fold(&mut known, &mut tally, counted).unwrap();
    }

    assert_eq!(
        measures(&tally),
        [
            ("opted_out Mission Bay unknown".to_string(), 1),
            ("opted_out unknown unknown".to_string(), 1),
        ]
    );
}

mod in_the_database {
    use serde_json::json;

    use super::*;
    use crate::stored_event::EVENT_COLUMNS;
    use crate::testing::TestDb;

    async fn counts(db: &TestDb, table: &str) -> Vec<(String, String, i64)> {
        sqlx::query_as(&format!(
            "SELECT measure, discipline, count FROM {table} ORDER BY measure, discipline"
        ))
        .fetch_all(&db.db.pool)
        .await
        .unwrap()
    }

    /// What a purged member's case counted moves into the ledger at the purge; a rebuild,
    /// which can no longer read the discipline from the opening, starts from the ledger and
    /// skips the case: the counts are the same.
    #[tokio::test]
    async fn a_purge_retires_the_members_cases_and_a_rebuild_counts_them_the_same() {
        let db = TestDb::new().await;
        let statistics = statistics();
        let (case, member) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let contact = CaseEvent::ContactAttempted(ContactAttempted {
            channel: Channel::Phone,
            outcome: ContactOutcome::Reached,
            attempted_at: at(2),
        });
        let stream = [
            (
                "CareTeamMember",
                member,
                1,
                "CaseStarted",
                json!({"CaseStarted": {"staff_id": "E1", "case_id": case, "started_at": at(0)}}),
            ),
            (
                "OutreachCase",
                case,
                1,
                "CaseOpened",
                serde_json::to_value(case_opened(case, ada())).unwrap(),
            ),
            (
                "OutreachCase",
                case,
                2,
                "ContactAttempted",
                serde_json::to_value(contact).unwrap(),
            ),
            (
                "CareTeamMember",
                member,
                2,
                "PersonalDataPurged",
                json!({"PersonalDataPurged": {"key_id": Uuid::nil(), "purged_at": at(3)}}),
            ),
        ];
        for (kind, id, sequence, event_type, payload) in stream {
            let event = db.append(kind, id, sequence, event_type, payload).await;
            db.apply_with(&statistics, &event).await.unwrap();
        }
        let counted = counts(&db, "statistics_counts").await;
        assert!(
            counted.contains(&("reached".into(), "nurse".into(), 1)),
            "{counted:?}"
        );
        assert_eq!(counts(&db, "statistics_retired_counts").await, counted);
        let kept: i64 = sqlx::query_scalar("SELECT count(*) FROM statistics_cases")
            .fetch_one(&db.db.pool)
            .await
            .unwrap();
        assert_eq!(kept, 0, "the case's discipline went with the purge");

        // The opening as it reads once the member's key is gone.
        sqlx::query(
            "UPDATE events
                    SET payload = jsonb_set(payload::jsonb, '{CaseOpened,facts,member}',
                                            'null')::json
                  WHERE event_type = 'CaseOpened'",
        )
        .execute(&db.db.owner_pool().await)
        .await
        .unwrap();
        let mut tx = db.db.pool.begin().await.unwrap();
        statistics.reset(&mut tx).await.unwrap();
        tx.commit().await.unwrap();
        let events: Vec<StoredEvent> = sqlx::query_as(&format!(
            "SELECT {EVENT_COLUMNS} FROM events ORDER BY global_position"
        ))
        .fetch_all(&db.db.pool)
        .await
        .unwrap();
        for event in &events {
            db.apply_with(&statistics, event).await.unwrap();
        }

        assert_eq!(counts(&db, "statistics_counts").await, counted);
        let first_contacts: i64 =
            sqlx::query_scalar("SELECT count(*) FROM statistics_first_contact")
                .fetch_one(&db.db.pool)
                .await
                .unwrap();
        assert_eq!(first_contacts, 1, "timed once, before and after");
    }

    /// The deadline an urgent report moved is kept with the case's facts: a first contact
    /// in a later batch is timed against it.
    #[tokio::test]
    async fn a_deadline_an_urgent_report_moved_is_kept_for_a_later_batch() {
        let db = TestDb::new().await;
        let statistics = statistics();
        let case = Uuid::from_u128(1);
        let mut opening = case_opened(case, ada());
        if let CaseEvent::CaseOpened(opening) = &mut opening {
            opening.facts.first_contact_due = Some(at(48));
        }
        let linked = CaseEvent::TriggerLinked(outreach_events::lifecycle::TriggerLinked {
            report: outreach_events::ReportRef {
                source: "/datix/a".into(),
                report_id: "INC-2".into(),
            },
            trigger: outreach_events::TriggerKind::Incident,
            linked_at: at(1),
            made_urgent: true,
            first_contact_due: Some(at(2)),
        });
        let contact = CaseEvent::ContactAttempted(ContactAttempted {
            channel: Channel::Phone,
            outcome: ContactOutcome::Reached,
            attempted_at: at(3),
        });
        for (sequence, event) in [opening, linked, contact].into_iter().enumerate() {
            let event_type = cqrs_es::DomainEvent::event_type(&event);
            let payload = serde_json::to_value(event).unwrap();
            let stored = db
                .append(
                    case::AGGREGATE_TYPE,
                    case,
                    sequence as i64 + 1,
                    &event_type,
                    payload,
                )
                .await;
            db.apply_with(&statistics, &stored).await.unwrap();
        }

        let due: Option<DateTime<Utc>> =
            sqlx::query_scalar("SELECT first_contact_due FROM statistics_cases")
                .fetch_one(&db.db.pool)
                .await
                .unwrap();
        assert_eq!(due, Some(at(2)));
        let within: bool =
            sqlx::query_scalar("SELECT within_deadline FROM statistics_first_contact")
                .fetch_one(&db.db.pool)
                .await
                .unwrap();
        assert!(
            !within,
            "an hour after the moved deadline, long before the first"
        );
    }
}
