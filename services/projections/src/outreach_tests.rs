use chrono::DateTime;
use outreach_events::lifecycle::{
    CaseClosed, CaseReopened, CloseReason, ContactAttempted, SupportDeclined, SupporterAssigned,
};
use outreach_events::Channel;

use super::*;
use crate::testing::{ada, case_opened};

fn at(hour: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_799_000_000 + hour * 3600, 0).unwrap()
}

/// Folds `events` of one case (sequences from 1) into `cases`.
fn follow_case(cases: &mut HashMap<Uuid, CaseRow>, case_id: Uuid, events: Vec<CaseEvent>) {
    for (n, event) in events.into_iter().enumerate() {
        let sequence = n as i64 + 1;
        fold(
            cases,
            Some(Applied::Case {
                case_id,
                sequence,
                event,
            }),
        );
    }
}

/// Case 1 of Ada's, opened and assigned to `S1`, then `later`, all in one batch.
fn assigned_then(later: Vec<CaseEvent>) -> CaseRow {
    let case_id = Uuid::from_u128(1);
    let mut events = vec![
        case_opened(case_id, ada()),
        CaseEvent::SupporterAssigned(SupporterAssigned {
            supporter_id: "S1".into(),
            assigned_at: at(1),
        }),
    ];
    events.extend(later);
    let mut cases = HashMap::new();
    follow_case(&mut cases, case_id, events);
    cases.remove(&case_id).unwrap()
}

fn closed(reason: CloseReason, hour: i64) -> CaseEvent {
    CaseEvent::CaseClosed(CaseClosed {
        reason,
        closed_at: at(hour),
        merged_into: None,
    })
}

fn attempt(outcome: ContactOutcome, hour: i64) -> CaseEvent {
    CaseEvent::ContactAttempted(ContactAttempted {
        channel: Channel::Phone,
        outcome,
        attempted_at: at(hour),
    })
}

/// A referrer's suggestion is shown apart, never as the member's contact, until confirmed;
/// a purge takes it with the rest.
#[test]
fn a_suggested_contact_stays_apart_until_it_is_confirmed() {
    use outreach_events::contact_confirmation::{ContactConfirmed, ContactToConfirm};
    use outreach_events::MemberContact;
    let case_id = Uuid::from_u128(1);
    let name_only = MemberContact {
        email: None,
        phone: None,
        mobile: None,
        preferred_channel: None,
        ..ada()
    };
    let held = CaseEvent::ContactToConfirm(ContactToConfirm {
        staff_id: "E1".into(),
        personal: Some(ada()),
        held_at: at(0),
    });
    let mut cases = HashMap::new();
    follow_case(
        &mut cases,
        case_id,
        vec![case_opened(case_id, name_only), held],
    );
    let case = &cases[&case_id];
    assert!(case.contact_to_confirm);
    assert_eq!(
        (&case.email, &case.phone, &case.mobile),
        (&None, &None, &None)
    );
    assert_eq!(case.suggested_contact.as_ref().unwrap().email, ada().email);

    let mut purged = cases.clone();
    fold(
        &mut purged,
        Some(Applied::Purge {
            cases: [case_id].into(),
        }),
    );
    assert!(purged[&case_id].suggested_contact.is_none());

    let confirmed = CaseEvent::ContactConfirmed(ContactConfirmed {
        staff_id: "E1".into(),
        as_suggested: true,
        personal: Some(ada()),
        confirmed_at: at(1),
    });
    fold(
        &mut cases,
        Some(Applied::Case {
            case_id,
            sequence: 3,
            event: confirmed,
        }),
    );
    let case = &cases[&case_id];
    assert!(!case.contact_to_confirm);
    assert!(case.suggested_contact.is_none());
    assert_eq!(case.email, ada().email);
    assert_eq!(case.version, 3);
}

fn linked(made_urgent: bool, due: Option<DateTime<Utc>>) -> CaseEvent {
    CaseEvent::TriggerLinked(outreach_events::lifecycle::TriggerLinked {
        report: outreach_events::ReportRef {
            source: "/datix/a".into(),
            report_id: "INC-2".into(),
        },
        trigger: outreach_events::TriggerKind::Incident,
        linked_at: at(2),
        made_urgent,
        first_contact_due: due,
    })
}

#[test]
fn an_urgent_link_makes_the_row_urgent_and_moves_its_deadline() {
    let routine = assigned_then(vec![linked(false, None)]);
    assert!(!routine.urgent);
    let made = assigned_then(vec![linked(true, Some(at(3)))]);
    assert!(made.urgent);
    assert_eq!(made.first_contact_due, Some(at(3)));
    assert_eq!(made.linked_triggers, 1);
    // Made urgent after first contact: the deadline it had stays.
    let contacted = assigned_then(vec![
        attempt(ContactOutcome::NoAnswer, 2),
        linked(true, None),
    ]);
    assert!(contacted.urgent);
    assert_eq!(contacted.first_contact_due, routine.first_contact_due);
}

#[test]
fn a_status_gains_the_cases_that_reach_it_and_loses_those_that_leave() {
    let open = |n: u128| {
        let mut cases = HashMap::new();
        follow_case(
            &mut cases,
            Uuid::from_u128(n),
            vec![case_opened(Uuid::from_u128(n), ada())],
        );
        cases
    };
    let (mut before, mut after) = (open(1), open(1));
    before.extend(open(2));
    after.extend(open(2));
    after.extend(open(3));
    after.get_mut(&Uuid::from_u128(1)).unwrap().status = CaseStatus::Assigned;

    let changes = status_changes(&before, &after);

    // Case 1 left `open` for `assigned` as case 3 arrived in `open`: no change there.
    assert_eq!(changes, BTreeMap::from([("assigned".to_string(), 1)]));
    assert_eq!(status_changes(&after, &after), BTreeMap::new());
}

/// The open-cases gauge reads the counts the projection keeps: they must equal the cases,
/// however the events were batched, and again after a rebuild.
#[tokio::test]
async fn the_status_counts_equal_the_cases_across_batches_and_a_rebuild() {
    use crate::testing::TestDb;
    use crate::{ProjectionRunner, RunnerSettings};
    let db = TestDb::new().await;
    for n in 1..=7u128 {
        let id = Uuid::from_u128(n);
        let opened = serde_json::to_value(case_opened(id, ada())).unwrap();
        db.append(case::AGGREGATE_TYPE, id, 1, "CaseOpened", opened)
            .await;
    }
    for n in 1..=3u128 {
        let assigned = CaseEvent::SupporterAssigned(SupporterAssigned {
            supporter_id: "S1".into(),
            assigned_at: at(1),
        });
        let payload = serde_json::to_value(assigned).unwrap();
        db.append(
            case::AGGREGATE_TYPE,
            Uuid::from_u128(n),
            2,
            "SupporterAssigned",
            payload,
        )
        .await;
    }
    let payload = serde_json::to_value(closed(CloseReason::Completed, 5)).unwrap();
    db.append(
        case::AGGREGATE_TYPE,
        Uuid::from_u128(1),
        3,
        "CaseClosed",
        payload,
    )
    .await;
    let settings = RunnerSettings {
        batch_size: 2,
        rebuild_batch_size: 3,
        ..Default::default()
    };
    let runner = ProjectionRunner::new(
        db.db.pool.clone(),
        std::sync::Arc::new(OutreachProjection),
        settings,
    );
    let counts = || async {
        let kept: Vec<(String, i64)> = sqlx::query_as(
            "SELECT status, cases FROM outreach_status_counts WHERE cases > 0 ORDER BY status",
        )
        .fetch_all(&db.db.pool)
        .await
        .unwrap();
        let counted: Vec<(String, i64)> = sqlx::query_as(
            "SELECT status, count(*) FROM outreach_cases GROUP BY status ORDER BY status",
        )
        .fetch_all(&db.db.pool)
        .await
        .unwrap();
        (kept, counted)
    };

    runner.catch_up().await.unwrap();
    let (kept, counted) = counts().await;
    assert_eq!(
        kept,
        [
            ("assigned".into(), 2),
            ("closed".into(), 1),
            ("open".into(), 4)
        ]
    );
    assert_eq!(kept, counted);

    runner.rebuild(|_, _| {}).await.unwrap();
    let (kept, counted) = counts().await;
    assert_eq!(kept, counted, "after a rebuild");
}

#[test]
fn a_case_opened_worked_and_closed_in_one_batch_keeps_its_whole_story() {
    let case = assigned_then(vec![
        attempt(ContactOutcome::NoAnswer, 2),
        attempt(ContactOutcome::Reached, 3),
        attempt(ContactOutcome::Reached, 4),
        closed(CloseReason::Completed, 48),
    ]);

    assert_eq!(case.status, CaseStatus::Closed);
    assert_eq!(case.close_reason.as_deref(), Some("completed"));
    assert_eq!(case.supporter_id.as_deref(), Some("S1"));
    assert_eq!(case.contact_attempts, 3);
    assert_eq!(
        case.first_contacted_at,
        Some(at(2)),
        "the first attempt, reached or not"
    );
    assert_eq!(
        case.reached_at,
        Some(at(3)),
        "the first time they were reached"
    );
    assert_eq!(case.version, 6);
    assert_eq!(case.given_name.as_deref(), Some("Ada"));
}

#[test]
fn a_reopened_case_goes_back_to_where_it_stood_and_a_decline_no_longer_stands() {
    let case = assigned_then(vec![
        attempt(ContactOutcome::Reached, 2),
        CaseEvent::SupportDeclined(SupportDeclined {
            unverified_sheet_claim: None,
            declined_at: at(3),
        }),
        closed(CloseReason::Declined, 4),
        CaseEvent::CaseReopened(CaseReopened { reopened_at: at(5) }),
    ]);

    assert_eq!(case.status, CaseStatus::Reached);
    assert_eq!((case.decision.as_ref(), case.decided_at), (None, None));
    assert_eq!((case.closed_at, case.close_reason.as_ref()), (None, None));
}

#[test]
fn a_purge_drops_the_name_from_the_members_earlier_cases_only() {
    let (earlier, later) = (Uuid::from_u128(1), Uuid::from_u128(2));
    let mut cases = HashMap::new();
    follow_case(&mut cases, earlier, vec![case_opened(earlier, ada())]);
    fold(
        &mut cases,
        Some(Applied::Purge {
            cases: [earlier].into(),
        }),
    );
    follow_case(&mut cases, later, vec![case_opened(later, ada())]);

    let purged = &cases[&earlier];
    assert_eq!(
        (&purged.given_name, &purged.family_name, &purged.email),
        (&None, &None, &None)
    );
    assert_eq!(purged.preferred_channel, None);
    assert_eq!(
        (
            purged.staff_id.as_str(),
            purged.role.as_str(),
            purged.report_id.as_str()
        ),
        ("", "", ""),
        "nothing links the row to the member or the report"
    );
    assert_eq!(purged.discipline, "unknown");
    assert_eq!(
        purged.campus, cases[&later].campus,
        "what statistics read stays"
    );
    assert_eq!(cases[&later].given_name.as_deref(), Some("Ada"));
}

#[test]
fn an_event_of_a_case_the_read_model_does_not_hold_changes_nothing() {
    let mut cases = HashMap::new();
    follow_case(
        &mut cases,
        Uuid::from_u128(1),
        vec![attempt(ContactOutcome::Reached, 2)],
    );
    assert!(cases.is_empty());
}

/// Rebuilt after the purge, the opening has no profile and no contact part: the row is the
/// one the purge left.
#[test]
fn a_purged_opening_rebuilds_into_the_row_the_purge_left() {
    let case_id = Uuid::from_u128(1);
    let mut live = HashMap::new();
    follow_case(&mut live, case_id, vec![case_opened(case_id, ada())]);
    fold(
        &mut live,
        Some(Applied::Purge {
            cases: [case_id].into(),
        }),
    );
    let CaseEvent::CaseOpened(mut opening) = case_opened(case_id, ada()) else {
        unreachable!()
    };
    (opening.facts.member, opening.personal) = (None, None);
    let mut rebuilt = HashMap::new();
    follow_case(&mut rebuilt, case_id, vec![CaseEvent::CaseOpened(opening)]);

    assert_eq!(rebuilt[&case_id], live[&case_id]);
}
