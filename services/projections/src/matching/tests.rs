use chrono::DateTime;
use outreach_events::supporter::{SupporterContact, SupporterProfile};
use outreach_events::{ReportMember, ReportRef};

use super::*;

fn at(hour: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_799_000_000 + hour * 3600, 0).unwrap()
}

fn report() -> ReportRef {
    ReportRef {
        source: "/datix/a".into(),
        report_id: "INC-1".into(),
    }
}

fn named(staff_id: &str) -> ReportMember {
    ReportMember {
        staff_id: staff_id.into(),
        case_id: Uuid::new_v4(),
        eligible: true,
    }
}

fn on_report(sequence: i64, event: ReportEvent) -> Read {
    Read::Report {
        aggregate: Uuid::from_u128(7),
        sequence,
        event,
    }
}

fn on_supporter(sequence: i64, event: SupporterEvent) -> Read {
    Read::Supporter {
        supporter_id: Uuid::from_u128(9),
        sequence,
        event,
    }
}

fn joined() -> SupporterEvent {
    SupporterEvent::SupporterJoined {
        profile: crate::testing::supporter_profile(),
        personal: crate::testing::grace(),
        joined_at: at(0),
    }
}

fn fold_all(matching: &mut Matching, events: Vec<Read>) {
    for read in events {
        matching.fold(read).unwrap();
    }
}

#[test]
fn a_colleague_added_and_removed_again_in_one_batch_is_not_named_by_the_report() {
    let mut matching = Matching::default();
    fold_all(
        &mut matching,
        vec![
            on_report(
                1,
                ReportEvent::ReportRecorded {
                    report: report(),
                    trigger: outreach_events::TriggerKind::Incident,
                    outreach: true,
                    urgent: false,
                    campus: "Parnassus".into(),
                    unit: "ED".into(),
                    members: vec![named("E1")],
                    recorded_at: at(0),
                },
            ),
            on_report(
                2,
                ReportEvent::StaffAdded {
                    members: vec![named("E2")],
                    amended_at: at(1),
                },
            ),
            on_report(
                3,
                ReportEvent::StaffRemoved {
                    staff_ids: vec!["E2".into()],
                    case_ids: vec![],
                    amended_at: at(2),
                },
            ),
        ],
    );

    let staff: Vec<_> = matching.report_staff.iter().collect();
    let key = |s: &str| ("/datix/a".to_string(), "INC-1".to_string(), s.to_string());
    assert_eq!(staff, [(&key("E1"), &true), (&key("E2"), &false)]);
    assert_eq!(matching.reports[&Uuid::from_u128(7)].version, 3);
}

#[test]
fn a_supporter_counts_the_cases_held_and_taking_one_twice_counts_it_once() {
    let (first, second) = (Uuid::from_u128(1), Uuid::from_u128(2));
    let mut matching = Matching::default();
    fold_all(
        &mut matching,
        vec![
            on_supporter(1, joined()),
            on_supporter(
                2,
                SupporterEvent::CaseTaken {
                    case_id: first,
                    taken_at: at(1),
                },
            ),
            on_supporter(
                3,
                SupporterEvent::CaseTaken {
                    case_id: first,
                    taken_at: at(2),
                },
            ),
            on_supporter(
                4,
                SupporterEvent::CaseTaken {
                    case_id: second,
                    taken_at: at(3),
                },
            ),
            on_supporter(
                5,
                SupporterEvent::CaseReleased {
                    case_id: second,
                    released_at: at(4),
                },
            ),
            on_supporter(6, SupporterEvent::SupporterPaused { paused_at: at(5) }),
        ],
    );

    let supporter = &matching.supporters[&Uuid::from_u128(9)];
    assert_eq!((supporter.open_cases, supporter.paused), (1, true));
    let caseload = &matching.caseloads[&Uuid::from_u128(9)];
    assert_eq!(caseload.iter().collect::<Vec<_>>(), [(&first, &at(1))]);
}

#[test]
fn a_change_to_a_supporter_keeps_their_joining_their_pause_and_their_cases() {
    let mut matching = Matching::default();
    let changed = SupporterEvent::SupporterProfileChanged {
        profile: SupporterProfile {
            capacity: 5,
            ..crate::testing::supporter_profile()
        },
        personal: SupporterContact {
            email: "g.hopper@example.org".into(),
            ..crate::testing::grace()
        },
        changed_at: at(9),
    };
    let take = SupporterEvent::CaseTaken {
        case_id: Uuid::from_u128(1),
        taken_at: at(1),
    };
    let pause = SupporterEvent::SupporterPaused { paused_at: at(2) };
    fold_all(
        &mut matching,
        vec![
            on_supporter(1, joined()),
            on_supporter(2, take),
            on_supporter(3, pause),
            on_supporter(4, changed),
        ],
    );

    let supporter = &matching.supporters[&Uuid::from_u128(9)];
    assert_eq!(supporter.capacity, 5);
    assert_eq!(supporter.email.as_deref(), Some("g.hopper@example.org"));
    assert_eq!((supporter.joined_at, supporter.changed_at), (at(0), at(9)));
    assert_eq!((supporter.paused, supporter.open_cases), (true, 1));
}

#[test]
fn events_folded_again_in_any_order_change_nothing() {
    let events = vec![
        on_supporter(1, joined()),
        on_supporter(
            2,
            SupporterEvent::CaseTaken {
                case_id: Uuid::from_u128(1),
                taken_at: at(1),
            },
        ),
        on_supporter(
            3,
            SupporterEvent::CaseReleased {
                case_id: Uuid::from_u128(1),
                released_at: at(2),
            },
        ),
        on_supporter(4, SupporterEvent::SupporterPaused { paused_at: at(3) }),
    ];
    let mut once = Matching::default();
    fold_all(&mut once, events.clone());
    let mut again = once.clone();
    fold_all(&mut again, events.iter().rev().cloned().collect());
    fold_all(&mut again, events);

    assert_eq!(again, once);
    assert_eq!(once.supporters[&Uuid::from_u128(9)].open_cases, 0);
}

/// Every event applied a second time, as one batch: the sets (a case's reports, a report's
/// staff) already hold their rows, which are skipped, and nothing changes.
#[tokio::test]
async fn a_batch_applied_again_changes_nothing() {
    let db = crate::testing::TestDb::new().await;
    crate::testing::a_bit_of_everything(&db).await;
    let mut events: Vec<StoredEvent> = sqlx::query_as(&format!(
        "SELECT {} FROM events ORDER BY events.transaction_id, global_position",
        crate::stored_event::EVENT_COLUMNS
    ))
    .fetch_all(&db.db.pool)
    .await
    .unwrap();
    let mut conn = db.db.pool.acquire().await.unwrap();
    crate::open_personal(&mut conn, &mut events).await.unwrap();
    MatchingProjection.apply(&mut conn, &events).await.unwrap();
    let once = crate::testing::every_read_model(&db).await;
    assert!(!once["matching_case_reports"].as_array().unwrap().is_empty());
    assert!(!once["matching_report_staff"].as_array().unwrap().is_empty());

    MatchingProjection.apply(&mut conn, &events).await.unwrap();

    assert_eq!(crate::testing::every_read_model(&db).await, once);
}
