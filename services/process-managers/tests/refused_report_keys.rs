//! The retention sweep takes the key a refused report left (the key is made before the report
//! is decided), and the key of a member a report named only as ineligible: once it is older
//! than the retention period and has sealed nothing since, the next sweep destroys it, though
//! the member has no case and no record to date it from.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration};
use outreach_command_side::{CommandError, CommandSide, Metadata};
use outreach_domain::{InvolvedMember, ReportCommand};
use outreach_events::{
    Discipline, Involvement, MemberContact, MemberProfile, ReportRef, TriggerKind,
};
use outreach_process_managers::RetentionPurge;
use outreach_test_support::TestDatabase;
use tokio_util::sync::CancellationToken;

/// A report naming one member the case cannot reach (no address, no phone): the case is
/// refused at opening, and with it the report.
fn unreachable_report() -> ReportCommand {
    report_naming("INC-K1", vec![member("E81", false, true)])
}

/// A nurse of the emergency department, reachable by e-mail or not, eligible or not.
fn member(staff_id: &str, reachable: bool, eligible: bool) -> InvolvedMember {
    InvolvedMember {
        profile: MemberProfile {
            staff_id: staff_id.into(),
            role: "Nurse".into(),
            discipline: Discipline::Nurse,
            department: "Emergency".into(),
            seniority: None,
            involvement: Involvement::Primary,
        },
        contact: MemberContact {
            given_name: "Una".into(),
            family_name: "Named".into(),
            email: reachable.then(|| "una.named@example.org".into()),
            phone: None,
            mobile: None,
            preferred_channel: None,
        },
        eligible,
        case_id: None,
    }
}

fn report_naming(report_id: &str, members: Vec<InvolvedMember>) -> ReportCommand {
    ReportCommand::Record {
        report: ReportRef {
            source: "/datix/test".into(),
            report_id: report_id.into(),
        },
        trigger: TriggerKind::Incident,
        outreach: true,
        urgent: false,
        campus: "Parnassus".into(),
        unit: "ED".into(),
        members,
        recorded_at: DateTime::from_timestamp(1_799_000_000, 0).unwrap(),
        revision: None,
    }
}

async fn sweep(db: &TestDatabase, commands: &Arc<CommandSide>, retention: Duration) -> u64 {
    let purge = RetentionPurge::new(
        db.pool.clone(),
        commands.clone(),
        retention,
        StdDuration::from_secs(3600),
    );
    outreach_process_managers::sweep::tick(&purge, &db.pool, &mut None, &CancellationToken::new())
        .await
        .unwrap()
        .expect("no other sweep holds the lock")
}

async fn keys(db: &TestDatabase) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM member_data_keys")
        .fetch_one(&db.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn the_key_of_a_refused_report_goes_with_the_first_sweep_after_the_retention_period() {
    let db = TestDatabase::create("refused_report_keys").await;
    let commands = Arc::new(CommandSide::new(db.pool.clone(), Default::default()));
    let refused = commands
        .handle_report(unreachable_report(), &Metadata::new())
        .await;
    assert!(
        matches!(refused, Err(CommandError::Refused { .. })),
        "{refused:?}"
    );
    assert_eq!(keys(&db).await, 1, "keyed before it was refused");

    let retention = Duration::days(30);
    assert_eq!(sweep(&db, &commands, retention).await, 0);
    assert_eq!(keys(&db).await, 1, "the period is not over");

    // The key as if made 40 days ago (it sealed nothing since).
    sqlx::query("UPDATE member_data_keys SET created_at = now() - interval '40 days'")
        .execute(&db.owner_pool().await)
        .await
        .unwrap();
    assert_eq!(sweep(&db, &commands, retention).await, 1);
    assert_eq!(keys(&db).await, 0);
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(
        events, 0,
        "nothing recorded of the refused report or its purge"
    );
}

/// A member a report names only as ineligible gets no case and no record, yet their key seals
/// their staff id in the report's events. The sweep destroys it once it has sealed nothing for
/// the retention period, leaving the eligible member named beside them alone.
#[tokio::test]
async fn the_key_of_a_member_named_only_as_ineligible_goes_after_the_retention_period() {
    let db = TestDatabase::create("refused_report_keys").await;
    let commands = Arc::new(CommandSide::new(db.pool.clone(), Default::default()));
    let report = report_naming(
        "INC-K2",
        vec![member("E82", true, false), member("E83", true, true)],
    );
    commands
        .handle_report(report, &Metadata::new())
        .await
        .unwrap();
    assert_eq!(keys(&db).await, 2, "each named member has a key");
    let cases: i64 = sqlx::query_scalar("SELECT count(*) FROM events WHERE event_type = $1")
        .bind(outreach_events::CaseEvent::CASE_OPENED)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(cases, 1, "only the eligible member's case opened");

    let retention = Duration::days(30);
    assert_eq!(sweep(&db, &commands, retention).await, 0);
    assert_eq!(keys(&db).await, 2, "the period is not over");

    // Every key as if made, and last used to seal, 40 days ago.
    let owner = db.owner_pool().await;
    sqlx::query("UPDATE member_data_keys SET created_at = now() - interval '40 days'")
        .execute(&owner)
        .await
        .unwrap();
    sqlx::query("UPDATE member_key_sealings SET last_sealed_at = now() - interval '40 days'")
        .execute(&owner)
        .await
        .unwrap();
    assert_eq!(sweep(&db, &commands, retention).await, 1);
    assert_eq!(
        keys(&db).await,
        1,
        "the eligible member's case is open: their key stays"
    );
    let (person, _) = commands.member("E83").await.unwrap();
    assert!(
        person.open_case().is_some(),
        "E83 is the one whose key stayed"
    );
}
