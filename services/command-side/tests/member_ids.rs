//! Members' and cases' ids die with the member's key: derived under it, stable while it
//! lives (a redelivered report opens nothing twice), recomputable by nobody who knows only
//! whom a report named, and never again after the purge.

mod common;

use chrono::{Duration, Utc};
use common::{member_reached_by, record, report};
use outreach_command_side::{CommandSide, Metadata, Purge};
use outreach_domain::ids::derivable_before_27;
use outreach_domain::CaseCommand;
use outreach_events::lifecycle::CloseReason;
use outreach_events::MemberContact;
use outreach_test_support::TestDatabase;

fn member(staff_id: &str) -> outreach_domain::InvolvedMember {
    member_reached_by(
        staff_id,
        MemberContact {
            given_name: "Ida".into(),
            family_name: "Keyed".into(),
            email: Some("ida.keyed@example.org".into()),
            phone: None,
            mobile: None,
            preferred_channel: None,
        },
    )
}

async fn openings(db: &TestDatabase) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT aggregate_id FROM events WHERE event_type = 'CaseOpened' ORDER BY aggregate_id",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap()
}

async fn aggregate_ids(db: &TestDatabase) -> Vec<String> {
    sqlx::query_scalar("SELECT DISTINCT aggregate_id FROM events")
        .fetch_all(&db.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_redelivered_report_opens_nothing_twice_under_ids_nobody_else_can_compute() {
    let db = TestDatabase::create("member_ids").await;
    let side = CommandSide::new(db.pool.clone(), Default::default());
    let none = Metadata::new();
    for _ in 0..2 {
        side.handle_report(record("INC-1", vec![member("E1")]), &none)
            .await
            .unwrap();
    }
    let case_id = side.case_id(&report("INC-1"), "E1").await.unwrap();
    assert_eq!(openings(&db).await, vec![case_id.to_string()]);

    let ids = aggregate_ids(&db).await;
    let member_id = side.member_id("E1").await.unwrap().to_string();
    assert!(ids.contains(&member_id), "{ids:?}");
    let old_case = derivable_before_27::case_id(&report("INC-1"), "E1").to_string();
    let old_member = derivable_before_27::member_id("E1").to_string();
    assert!(!ids.contains(&old_case) && !ids.contains(&old_member));
}

/// After the purge the member has a new key, so new ids: the report is known (its id is the
/// report's), so delivered again it opens nothing, and nothing links the member's new record
/// to the old case.
#[tokio::test]
async fn after_the_purge_the_old_ids_are_underivable_and_a_redelivery_opens_nothing() {
    let db = TestDatabase::create("member_ids").await;
    let side = CommandSide::new(db.pool.clone(), Default::default());
    let none = Metadata::new();
    side.handle_report(record("INC-2", vec![member("E2")]), &none)
        .await
        .unwrap();
    let case_id = side.case_id(&report("INC-2"), "E2").await.unwrap();
    let member_id = side.member_id("E2").await.unwrap();
    let close = CaseCommand::Close {
        reason: CloseReason::Withdrawn,
        at: Utc::now(),
    };
    side.act_on_case(case_id, close, None, &none).await.unwrap();
    let purged = side
        .purge_member("E2", Duration::zero(), Utc::now(), &none)
        .await
        .unwrap();
    assert!(matches!(purged, Purge::Purged { .. }), "{purged:?}");
    let purge: String = sqlx::query_scalar(
        "SELECT payload::text FROM events WHERE event_type = 'PersonalDataPurged'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert!(!purge.contains("E2"), "the purge names no one: {purge}");

    assert_ne!(side.case_id(&report("INC-2"), "E2").await.unwrap(), case_id);
    assert_ne!(side.member_id("E2").await.unwrap(), member_id);

    side.handle_report(record("INC-2", vec![member("E2")]), &none)
        .await
        .unwrap();
    assert_eq!(openings(&db).await, vec![case_id.to_string()]);
    let linked: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM events
          WHERE aggregate_type = 'CareTeamMember' AND aggregate_id <> $1",
    )
    .bind(member_id.to_string())
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(linked, 0, "no new member record names the old case");
}

/// An amendment that arrives before its report waits without ids, and opens the added
/// member's case under their key once the report comes.
#[tokio::test]
async fn a_parked_amendment_opens_the_case_under_the_members_key() {
    let db = TestDatabase::create("member_ids").await;
    let side = CommandSide::new(db.pool.clone(), Default::default());
    let none = Metadata::new();
    let amend = outreach_domain::ReportCommand::Amend {
        report: report("INC-3"),
        added: vec![member("E3")],
        removed: vec![],
        amended_at: common::at(),
    };
    side.handle_report(amend, &none).await.unwrap();
    side.handle_report(record("INC-3", vec![]), &none)
        .await
        .unwrap();
    let case_id = side.case_id(&report("INC-3"), "E3").await.unwrap();
    assert_eq!(openings(&db).await, vec![case_id.to_string()]);
}
