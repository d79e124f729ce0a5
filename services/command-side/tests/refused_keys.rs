//! A member's key is made before their report is decided, so a report that is then refused
//! leaves a key that names nobody's case and seals nothing. It must not outlive the retention
//! period: the purge takes the key of a member with no record once it has sealed nothing for
//! that long, and keeps it while it still seals something of theirs.

mod common;

use chrono::{Duration, Utc};
use common::{member_reached_by, record};
use outreach_command_side::{CommandError, CommandSide, Metadata, Purge};
use outreach_events::MemberContact;
use outreach_test_support::TestDatabase;

/// A member the case cannot reach: no address, no phone. Their case is refused at opening,
/// and with it the whole report.
fn unreachable(staff_id: &str) -> outreach_domain::InvolvedMember {
    member_reached_by(
        staff_id,
        MemberContact {
            given_name: "Una".into(),
            family_name: "Refused".into(),
            email: None,
            phone: None,
            mobile: None,
            preferred_channel: None,
        },
    )
}

fn reachable(staff_id: &str) -> outreach_domain::InvolvedMember {
    member_reached_by(
        staff_id,
        MemberContact {
            given_name: "Rae".into(),
            family_name: "Named".into(),
            email: Some("rae.named@example.org".into()),
            phone: None,
            mobile: None,
            preferred_channel: None,
        },
    )
}

/// An amendment adding `added` to report `id`: parked while the report is not received.
fn amend(id: &str, added: Vec<outreach_domain::InvolvedMember>) -> outreach_domain::ReportCommand {
    outreach_domain::ReportCommand::Amend {
        report: common::report(id),
        added,
        removed: vec![],
        amended_at: common::at(),
    }
}

async fn count(db: &TestDatabase, table: &str) -> i64 {
    sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
        .fetch_one(&db.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_refused_report_leaves_a_key_the_purge_takes_once_the_retention_period_is_over() {
    let db = TestDatabase::create("refused_keys").await;
    let side = CommandSide::new(db.pool.clone(), Default::default());
    let none = Metadata::new();

    let refused = side
        .handle_report(record("INC-R1", vec![unreachable("E91")]), &none)
        .await;
    assert!(
        matches!(
            refused,
            Err(CommandError::Refused {
                rule: "case-needs-a-contact-route",
                ..
            })
        ),
        "{refused:?}"
    );
    assert_eq!(count(&db, "events").await, 0, "the refusal stored nothing");
    // Keyed before the refusal: the row that would otherwise stay for good.
    assert_eq!(count(&db, "member_data_keys").await, 1);
    assert_eq!(
        count(&db, "member_key_sealings").await,
        0,
        "it sealed nothing stored"
    );

    let retention = Duration::days(30);
    let now = Utc::now();
    let refusal = side.purge_member("E91", retention, now, &none).await;
    assert!(
        matches!(
            refusal,
            Err(CommandError::Refused {
                rule: "retention-period-not-over",
                ..
            })
        ),
        "{refusal:?}"
    );
    assert_eq!(count(&db, "member_data_keys").await, 1);

    let later = now + retention + Duration::days(1) + Duration::minutes(1);
    let purged = side.purge_member("E91", retention, later, &none).await;
    assert!(matches!(purged, Ok(Purge::Purged { .. })), "{purged:?}");
    assert_eq!(count(&db, "member_data_keys").await, 0);
    assert_eq!(count(&db, "member_key_sealings").await, 0);
    // Nothing was recorded: the member had no record to record it on.
    assert_eq!(count(&db, "events").await, 0);
    assert_eq!(
        side.purge_member("E91", retention, later, &none)
            .await
            .unwrap(),
        Purge::NoKey
    );
}

/// The retention period of a member with no record runs from the last time their key sealed
/// something, not from its making: something sealed later keeps the key for the period again.
#[tokio::test]
async fn a_key_that_sealed_something_lately_stays_for_the_retention_period_after() {
    let db = TestDatabase::create("refused_keys").await;
    let side = CommandSide::new(db.pool.clone(), Default::default());
    let none = Metadata::new();
    side.handle_report(record("INC-R2", vec![unreachable("E92")]), &none)
        .await
        .unwrap_err();
    // The key as if made 40 days ago.
    let owner = db.owner_pool().await;
    sqlx::query("UPDATE member_data_keys SET created_at = now() - interval '40 days'")
        .execute(&owner)
        .await
        .unwrap();
    assert_eq!(count(&db, "member_key_sealings").await, 0);

    // Now an amendment adds them to a report not received yet: it waits, parked, their
    // contact sealed under their key, and nothing on the member's own record.
    side.handle_report(amend("INC-R3", vec![reachable("E92")]), &none)
        .await
        .unwrap();
    assert_eq!(count(&db, "parked_report_commands").await, 1);
    assert_eq!(count(&db, "member_key_sealings").await, 1);

    let retention = Duration::days(30);
    let now = Utc::now();
    let early = side.purge_member("E92", retention, now, &none).await;
    assert!(
        matches!(
            early,
            Err(CommandError::Refused {
                rule: "retention-period-not-over",
                ..
            })
        ),
        "{early:?}"
    );
    assert_eq!(count(&db, "member_data_keys").await, 1);
    let later = now + retention + Duration::days(1) + Duration::minutes(1);
    let purged = side.purge_member("E92", retention, later, &none).await;
    assert!(matches!(purged, Ok(Purge::Purged { .. })), "{purged:?}");
    assert_eq!(count(&db, "member_data_keys").await, 0);
}

/// When a key last sealed is written at most once a day.
#[tokio::test]
async fn sealing_is_dated_at_most_once_a_day() {
    let db = TestDatabase::create("refused_keys").await;
    let side = CommandSide::new(db.pool.clone(), Default::default());
    let none = Metadata::new();
    side.handle_report(record("INC-R4", vec![reachable("E94")]), &none)
        .await
        .unwrap();
    let first: chrono::DateTime<Utc> =
        sqlx::query_scalar("SELECT last_sealed_at FROM member_key_sealings")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    side.handle_report(amend("INC-R5", vec![reachable("E94")]), &none)
        .await
        .unwrap();
    let second: chrono::DateTime<Utc> =
        sqlx::query_scalar("SELECT last_sealed_at FROM member_key_sealings")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(first, second, "the same day: not written again");

    let owner = db.owner_pool().await;
    sqlx::query("UPDATE member_key_sealings SET last_sealed_at = now() - interval '2 days'")
        .execute(&owner)
        .await
        .unwrap();
    side.handle_report(amend("INC-R6", vec![reachable("E94")]), &none)
        .await
        .unwrap();
    let moved: chrono::DateTime<Utc> =
        sqlx::query_scalar("SELECT last_sealed_at FROM member_key_sealings")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert!(moved > first, "{moved} after {first}");
}
