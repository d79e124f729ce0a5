//! Personal data reaches the event store and the parked commands only sealed, is read back in
//! the clear by the command side, and is gone once a purge destroyed the member's key.

mod common;

use chrono::{Duration, Utc};
use common::{at, member_reached_by, record, report};
use outreach_command_side::{CommandError, CommandSide, Metadata, Purge};
use outreach_domain::case::CaseStatus;
use outreach_domain::{CaseCommand, InvolvedMember, MemberCommand, ReportCommand};
use outreach_events::care_team_member::Preferences;
use outreach_events::lifecycle::CloseReason;
use outreach_events::MemberContact;
use outreach_test_support::TestDatabase;
use uuid::Uuid;

const GIVEN: &str = "Zebulonqx";
const EMAIL: &str = "zq.vex@canary.example";
const SPECIALTY: &str = "Canaryspecialtyqx";

fn member(staff_id: &str) -> InvolvedMember {
    member_reached_by(
        staff_id,
        MemberContact {
            given_name: GIVEN.into(),
            family_name: "Quarrington-Vex".into(),
            email: Some(EMAIL.into()),
            phone: None,
            mobile: None,
            preferred_channel: None,
        },
    )
}

/// Every row of `table` as text, lower-cased; read as the owner, who may read every table.
async fn table_text(db: &TestDatabase, table: &str) -> String {
    let rows: Vec<String> = sqlx::query_scalar(&format!("SELECT t::text FROM {table} t"))
        .fetch_all(&db.owner_pool().await)
        .await
        .unwrap();
    rows.join("\n").to_lowercase()
}

async fn live_keys(db: &TestDatabase) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM member_data_keys")
        .fetch_one(&db.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn personal_data_is_stored_sealed_and_read_back_in_the_clear() {
    let db = TestDatabase::create("command_sealing").await;
    let side = CommandSide::new(db.pool.clone(), Default::default());
    let none = Metadata::new();
    side.handle_report(record("INC-1", vec![member("E1")]), &none)
        .await
        .unwrap();
    let preferences = Preferences {
        supporter_specialty: Some(SPECIALTY.into()),
        ..Default::default()
    };
    side.act_on_member(
        MemberCommand::StatePreferences {
            staff_id: "E1".into(),
            preferences: preferences.clone(),
            at: at(),
        },
        &none,
    )
    .await
    .unwrap();

    let events = table_text(&db, "events").await;
    for canary in [GIVEN, EMAIL, SPECIALTY] {
        assert!(
            !events.contains(&canary.to_lowercase()),
            "{canary} in events"
        );
    }
    assert!(events.contains("\"sealed\""), "personal parts are sealed");
    // Who the member is, too (issue 27): their case's and their own record's events name them
    // only sealed.
    let named: Vec<String> = sqlx::query_scalar(
        "SELECT payload::text FROM events
          WHERE aggregate_type IN ('CareTeamMember', 'OutreachCase')",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert!(named.len() >= 3, "{named:?}");
    for payload in named {
        assert!(!payload.contains("\"E1\""), "{payload}");
        assert!(!payload.contains("Emergency"), "{payload}");
    }
    assert_eq!(table_text(&db, "snapshots").await, "");
    assert_eq!(live_keys(&db).await, 1, "one key for the member");

    let (member, _) = side.member("E1").await.unwrap();
    assert_eq!(member.preferences(), &preferences);
    let case_id = side.case_id(&report("INC-1"), "E1").await.unwrap();
    let (case, _) = side.case(case_id).await.unwrap();
    assert_eq!(case.status(), Some(CaseStatus::Open));
    assert_eq!(case.member_staff_id(), Some("E1"), "read back opened");
}

#[tokio::test]
async fn a_parked_amendment_keeps_contact_details_sealed_until_its_report_comes() {
    let db = TestDatabase::create("command_sealing").await;
    let side = CommandSide::new(db.pool.clone(), Default::default());
    let none = Metadata::new();
    let amend = ReportCommand::Amend {
        report: report("INC-2"),
        added: vec![member("E2")],
        removed: vec![],
        amended_at: at(),
    };
    side.handle_report(amend, &none).await.unwrap();
    let parked = table_text(&db, "parked_report_commands").await;
    assert!(parked.contains("\"sealed\""), "{parked}");
    for canary in [GIVEN, EMAIL] {
        assert!(!parked.contains(&canary.to_lowercase()), "{canary} parked");
    }

    side.handle_report(record("INC-2", vec![]), &none)
        .await
        .unwrap();
    assert_eq!(table_text(&db, "parked_report_commands").await, "");
    let case_id = side.case_id(&report("INC-2"), "E2").await.unwrap();
    let (case, _) = side.case(case_id).await.unwrap();
    assert_eq!(
        case.status(),
        Some(CaseStatus::Open),
        "the amendment, opened again, opened the added member's case"
    );
}

/// A parked amendment says who each member it adds is (profile, contact, eligibility) and
/// whom it removes only sealed, each under that member's key. A member purged while it waits
/// is left out when the report comes: nothing of theirs reads, and they get no new key.
#[tokio::test]
async fn a_parked_amendment_names_its_members_only_sealed_and_forgets_one_purged_meanwhile() {
    let db = TestDatabase::create("command_sealing").await;
    let side = CommandSide::new(db.pool.clone(), Default::default());
    let none = Metadata::new();
    let amend = ReportCommand::Amend {
        report: report("INC-5"),
        added: vec![member("E51"), member("E52")],
        removed: vec!["E53".into()],
        amended_at: at(),
    };
    side.handle_report(amend, &none).await.unwrap();
    let parked: String = sqlx::query_scalar("SELECT command::text FROM parked_report_commands")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    for named in ["\"E51\"", "\"E52\"", "\"E53\"", "Emergency", "\"Nurse\""] {
        assert!(
            !parked.contains(named),
            "{named} parked in the clear: {parked}"
        );
    }
    assert!(!parked.contains("\"eligible\": true"), "{parked}");
    assert!(parked.contains("\"eligible\": {\"sealed\""), "{parked}");
    assert_eq!(live_keys(&db).await, 3, "a key for each member it names");

    // E51's key has sealed nothing for the retention period: the purge takes it.
    let retention = Duration::days(30);
    let later = Utc::now() + retention + Duration::days(2);
    let purged = side.purge_member("E51", retention, later, &none).await;
    assert!(matches!(purged, Ok(Purge::Purged { .. })), "{purged:?}");
    assert_eq!(live_keys(&db).await, 2);

    side.handle_report(record("INC-5", vec![]), &none)
        .await
        .unwrap();
    assert_eq!(table_text(&db, "parked_report_commands").await, "");
    let case_id = side.case_id(&report("INC-5"), "E52").await.unwrap();
    let (case, _) = side.case(case_id).await.unwrap();
    assert_eq!(case.status(), Some(CaseStatus::Open), "E52 was added");
    let opened: i64 = sqlx::query_scalar("SELECT count(*) FROM events WHERE event_type = $1")
        .bind(outreach_events::CaseEvent::CASE_OPENED)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(opened, 1, "E51, purged while parked, was not");
    assert_eq!(live_keys(&db).await, 2, "nor given a new key");
}

/// Whether a report's member was eligible is about them: stored sealed beside their staff id,
/// and read back with their key (a withdrawal reaches the eligible member's case).
#[tokio::test]
async fn a_reports_members_eligibility_is_stored_sealed_and_read_back() {
    let db = TestDatabase::create("command_sealing").await;
    let side = CommandSide::new(db.pool.clone(), Default::default());
    let none = Metadata::new();
    let mut ineligible = member("E62");
    ineligible.eligible = false;
    side.handle_report(record("INC-6", vec![member("E61"), ineligible]), &none)
        .await
        .unwrap();
    let reports: Vec<String> =
        sqlx::query_scalar("SELECT payload::text FROM events WHERE aggregate_type = $1")
            .bind(outreach_events::report::AGGREGATE_TYPE)
            .fetch_all(&db.pool)
            .await
            .unwrap();
    assert!(!reports.is_empty());
    for payload in &reports {
        assert!(!payload.contains("\"eligible\":true"), "{payload}");
        assert!(!payload.contains("\"eligible\":false"), "{payload}");
        assert!(payload.contains("\"eligible\":{\"sealed\""), "{payload}");
    }

    let withdraw = ReportCommand::Withdraw {
        report: report("INC-6"),
        withdrawn_at: at(),
    };
    side.handle_report(withdraw, &none).await.unwrap();
    let case_id = side.case_id(&report("INC-6"), "E61").await.unwrap();
    let (case, _) = side.case(case_id).await.unwrap();
    assert_eq!(
        case.status(),
        Some(CaseStatus::Cancelled),
        "read back eligible, the member's case was cancelled"
    );
}

#[tokio::test]
async fn a_purge_destroys_the_key_once_due_and_the_events_still_load() {
    let db = TestDatabase::create("command_sealing").await;
    let side = CommandSide::new(db.pool.clone(), Default::default());
    let none = Metadata::new();
    side.handle_report(record("INC-3", vec![member("E3")]), &none)
        .await
        .unwrap();
    side.act_on_member(
        MemberCommand::StatePreferences {
            staff_id: "E3".into(),
            preferences: Preferences {
                supporter_specialty: Some(SPECIALTY.into()),
                ..Default::default()
            },
            at: at(),
        },
        &none,
    )
    .await
    .unwrap();
    let case_id = side.case_id(&report("INC-3"), "E3").await.unwrap();

    // Open case: refused, key kept.
    let refused = side
        .purge_member("E3", Duration::zero(), Utc::now(), &none)
        .await
        .unwrap_err();
    assert!(
        matches!(
            refused,
            CommandError::Refused {
                rule: "no-purge-while-a-case-is-open",
                ..
            }
        ),
        "{refused}"
    );
    assert_eq!(live_keys(&db).await, 1);

    let close = CaseCommand::Close {
        reason: CloseReason::Withdrawn,
        at: Utc::now(),
    };
    side.act_on_case(case_id, close, None, &none).await.unwrap();

    // Closed, but not long enough ago.
    let refused = side
        .purge_member("E3", Duration::days(30), Utc::now(), &none)
        .await
        .unwrap_err();
    assert!(
        matches!(
            refused,
            CommandError::Refused {
                rule: "retention-period-not-over",
                ..
            }
        ),
        "{refused}"
    );
    assert_eq!(live_keys(&db).await, 1);

    let later = Utc::now() + Duration::days(31);
    let purged = side
        .purge_member("E3", Duration::days(30), later, &none)
        .await
        .unwrap();
    assert!(matches!(purged, Purge::Purged { .. }), "{purged:?}");
    assert_eq!(live_keys(&db).await, 0);
    assert_eq!(
        side.purge_member("E3", Duration::days(30), later, &none)
            .await
            .unwrap(),
        Purge::NoKey
    );

    // Everything still loads: the purged parts read as None.
    let (member, _) = side.member("E3").await.unwrap();
    assert_eq!(member.preferences(), &Preferences::default());
    let (case, _) = side.case(case_id).await.unwrap();
    assert_eq!(case.status(), Some(CaseStatus::Closed));
    let purges: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE event_type = 'PersonalDataPurged'")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(purges, 1);
}

#[tokio::test]
async fn a_purge_interrupted_before_the_key_went_finishes_on_the_next_try() {
    let db = TestDatabase::create("command_sealing").await;
    let side = CommandSide::new(db.pool.clone(), Default::default());
    let none = Metadata::new();
    side.handle_report(record("INC-4", vec![member("E4")]), &none)
        .await
        .unwrap();
    let case_id = side.case_id(&report("INC-4"), "E4").await.unwrap();
    let close = CaseCommand::Close {
        reason: CloseReason::Withdrawn,
        at: Utc::now(),
    };
    side.act_on_case(case_id, close, None, &none).await.unwrap();
    // A crash after the purge was recorded: the key is still there.
    let key_id: Uuid = sqlx::query_scalar("SELECT key_id FROM member_data_keys")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    let member_id = side.member_id("E4").await.unwrap().to_string();
    let (_, version) = side.member("E4").await.unwrap();
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version,
                             payload, metadata)
         VALUES ('CareTeamMember', $1, $2, 'PersonalDataPurged', '1', $3, '{}')",
    )
    .bind(&member_id)
    .bind(version as i64 + 1)
    .bind(serde_json::json!({"PersonalDataPurged": {
        "staff_id": "E4", "key_id": key_id, "purged_at": Utc::now()}}))
    .execute(&db.pool)
    .await
    .unwrap();

    let purged = side
        .purge_member("E4", Duration::zero(), Utc::now(), &none)
        .await
        .unwrap();
    assert_eq!(purged, Purge::Purged { key_id });
    assert_eq!(live_keys(&db).await, 0);
    let purges: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE event_type = 'PersonalDataPurged'")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(purges, 1, "the repeat recorded nothing");
}
