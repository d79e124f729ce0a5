//! Intake's reports, decided many at a time and stored together: every case opens once, a
//! refused report leaves nothing behind, an amendment that overtakes its report in the same
//! batch still waits for it, and two writers racing on the same members lose nothing.

mod common;

use common::{at, member_reached_by, record, report};
use outreach_command_side::{CommandError, CommandSide, Handled, Metadata, ReportMessage};
use outreach_domain::{InvolvedMember, ReportCommand};
use outreach_events::MemberContact;
use outreach_test_support::TestDatabase;

fn member(staff_id: &str) -> InvolvedMember {
    member_reached_by(
        staff_id,
        MemberContact {
            given_name: "Ada".into(),
            family_name: "Okafor".into(),
            email: Some(format!("{}@hospital.example", staff_id.to_lowercase())),
            phone: None,
            mobile: None,
            preferred_channel: None,
        },
    )
}

/// A member the program has no way to reach: the case cannot open.
fn unreachable_member(staff_id: &str) -> InvolvedMember {
    let mut member = member(staff_id);
    member.contact.email = None;
    member
}

fn amend(id: &str, added: Vec<InvolvedMember>) -> ReportCommand {
    ReportCommand::Amend {
        report: report(id),
        added,
        removed: vec![],
        amended_at: at(),
    }
}

fn messages(commands: Vec<ReportCommand>) -> Vec<ReportMessage> {
    commands
        .into_iter()
        .map(|command| ReportMessage {
            command,
            metadata: Metadata::new(),
            span: tracing::Span::none(),
        })
        .collect()
}

async fn count(db: &TestDatabase, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(&db.pool).await.unwrap()
}

#[tokio::test]
async fn a_batch_of_reports_opens_every_case_in_one_transaction() {
    let db = TestDatabase::create("command_batches").await;
    let side = CommandSide::new(db.pool.clone(), Default::default());
    let batch = messages(
        (0..20)
            .map(|n| {
                record(
                    &format!("INC-{n}"),
                    vec![
                        member(&format!("E{n}a")),
                        member(&format!("E{n}b")),
                        member(&format!("E{n}c")),
                    ],
                )
            })
            .collect(),
    );

    let outcomes = side.handle_reports(&batch).await.unwrap();

    assert_eq!(outcomes.len(), 20);
    assert!(outcomes
        .iter()
        .all(|o| matches!(o, Ok(Handled::Applied { case_commands: 3 }))));
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM events WHERE event_type = 'CaseOpened'"
        )
        .await,
        60
    );
    assert_eq!(
        count(&db, "SELECT count(DISTINCT transaction_id) FROM events").await,
        1,
        "one commit for the whole batch"
    );
}

#[tokio::test]
async fn the_same_batch_delivered_twice_opens_nothing_twice() {
    let db = TestDatabase::create("command_batches").await;
    let side = CommandSide::new(db.pool.clone(), Default::default());
    let batch = messages(vec![
        record("INC-1", vec![member("E1"), member("E2")]),
        record("INC-2", vec![member("E3")]),
    ]);
    side.handle_reports(&batch).await.unwrap();
    let stored = count(&db, "SELECT count(*) FROM events").await;

    let again = side.handle_reports(&batch).await.unwrap();

    assert!(again.iter().all(Result::is_ok));
    assert_eq!(count(&db, "SELECT count(*) FROM events").await, stored);
}

#[tokio::test]
async fn a_member_named_in_two_reports_of_one_batch_is_offered_support_once() {
    let db = TestDatabase::create("command_batches").await;
    let side = CommandSide::new(db.pool.clone(), Default::default());
    let batch = messages(vec![
        record("INC-1", vec![member("E1")]),
        record("INC-2", vec![member("E1"), member("E2")]),
    ]);

    side.handle_reports(&batch).await.unwrap();

    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM events WHERE event_type = 'CaseOpened'"
        )
        .await,
        2,
        "E1 once, E2 once"
    );
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM events WHERE event_type = 'TriggerLinked'"
        )
        .await,
        1,
        "the second report joins E1's open case"
    );
}

#[tokio::test]
async fn a_report_refused_half_way_leaves_nothing_behind_and_the_rest_of_the_batch_is_stored() {
    let db = TestDatabase::create("command_batches").await;
    let side = CommandSide::new(db.pool.clone(), Default::default());
    let batch = messages(vec![
        record("INC-1", vec![member("E1")]),
        // E2's case would open before E3's is refused.
        record("INC-2", vec![member("E2"), unreachable_member("E3")]),
        record("INC-3", vec![member("E4")]),
    ]);

    let outcomes = side.handle_reports(&batch).await.unwrap();

    assert!(matches!(outcomes[0], Ok(Handled::Applied { .. })));
    assert!(matches!(
        outcomes[1],
        Err(CommandError::Refused {
            rule: "case-needs-a-contact-route",
            ..
        })
    ));
    assert!(matches!(outcomes[2], Ok(Handled::Applied { .. })));
    let member_of_inc_2 = side.member_id("E2").await.unwrap().to_string();
    let report_2 = outreach_domain::ids::report_id(&report("INC-2")).to_string();
    let left: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE aggregate_id = $1 OR aggregate_id = $2",
    )
    .bind(&member_of_inc_2)
    .bind(&report_2)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(left, 0, "nothing of the refused report is stored");
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM events WHERE event_type = 'CaseOpened'"
        )
        .await,
        2,
        "E1 and E4"
    );
    // E2 is free to be offered support by the report once it is fixed and sent again.
    let fixed = messages(vec![record("INC-2", vec![member("E2"), member("E3")])]);
    assert!(side.handle_reports(&fixed).await.unwrap()[0].is_ok());
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM events WHERE event_type = 'CaseOpened'"
        )
        .await,
        4
    );
}

#[tokio::test]
async fn an_amendment_that_overtakes_its_report_in_one_batch_is_applied_after_it() {
    let db = TestDatabase::create("command_batches").await;
    let side = CommandSide::new(db.pool.clone(), Default::default());
    let batch = messages(vec![
        amend("INC-1", vec![member("E2")]),
        record("INC-1", vec![member("E1")]),
    ]);

    let outcomes = side.handle_reports(&batch).await.unwrap();

    assert!(matches!(outcomes[0], Ok(Handled::Parked)));
    assert!(matches!(outcomes[1], Ok(Handled::Applied { .. })));
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM events WHERE event_type = 'CaseOpened'"
        )
        .await,
        2,
        "E1 from the report, E2 from the amendment"
    );
    assert_eq!(
        count(&db, "SELECT count(*) FROM parked_report_commands").await,
        0,
        "nothing waits for a report that came"
    );
}

#[tokio::test]
async fn an_amendment_parked_in_one_batch_is_applied_when_a_later_batch_records_its_report() {
    let db = TestDatabase::create("command_batches").await;
    let side = CommandSide::new(db.pool.clone(), Default::default());
    let first = messages(vec![
        amend("INC-1", vec![member("E2")]),
        record("INC-9", vec![member("E9")]),
    ]);
    side.handle_reports(&first).await.unwrap();
    assert_eq!(
        count(&db, "SELECT count(*) FROM parked_report_commands").await,
        1
    );

    let later = messages(vec![
        record("INC-1", vec![member("E1")]),
        amend("INC-1", vec![member("E3")]),
    ]);
    let outcomes = side.handle_reports(&later).await.unwrap();

    assert!(outcomes
        .iter()
        .all(|o| matches!(o, Ok(Handled::Applied { .. }))));
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM events WHERE event_type = 'CaseOpened'"
        )
        .await,
        4,
        "E9, then E1, E2 (parked), E3"
    );
    assert_eq!(
        count(&db, "SELECT count(*) FROM parked_report_commands").await,
        0
    );
}

/// Two instances taking different reports that name the same people, at the same moment: one
/// batch commits first, the other loses the race on the members and is decided again, so every
/// member ends up with exactly one open case and every report is in.
#[tokio::test]
async fn two_writers_racing_on_the_same_members_open_one_case_each() {
    let db = TestDatabase::create("command_batches").await;
    let one = CommandSide::new(db.pool.clone(), Default::default());
    let other = CommandSide::new(db.pool.clone(), Default::default());
    for round in 0..10 {
        let staff: Vec<InvolvedMember> = (0..5).map(|n| member(&format!("R{round}-{n}"))).collect();
        let left = messages(vec![record(&format!("A-{round}"), staff.clone())]);
        let right = messages(vec![record(&format!("B-{round}"), staff)]);
        let (a, b) = tokio::join!(one.handle_reports(&left), other.handle_reports(&right));
        assert!(a.unwrap()[0].is_ok() && b.unwrap()[0].is_ok());
    }

    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM events WHERE event_type = 'ReportRecorded'"
        )
        .await,
        20
    );
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM events WHERE event_type = 'CaseOpened'"
        )
        .await,
        50,
        "one case per member"
    );
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM events WHERE event_type = 'TriggerLinked'"
        )
        .await,
        50,
        "the other report joins it"
    );
}
