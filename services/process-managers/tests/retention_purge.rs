//! The retention purge end to end on real PostgreSQL: a member's name, contact details and
//! preferences are readable in the read models while needed, never stored in the clear in the
//! event store, and after the purge readable in no table at all, also once every projection is
//! rebuilt from the first event. Statistics stay as they were.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{Duration, Utc};
use outreach_command_side::{CommandSide, Metadata};
use outreach_domain::{CaseCommand, InvolvedMember, MemberCommand, ReportCommand};
use outreach_events::care_team_member::Preferences;
use outreach_events::lifecycle::{CloseReason, ContactOutcome};
use outreach_events::{
    Channel, Discipline, Involvement, MemberContact, MemberProfile, ReportRef, TriggerKind,
};
use outreach_process_managers::RetentionPurge;
use outreach_projections::{ProjectionRunner, RunnerSettings, Setup, StatisticsProjection};
use outreach_test_support::TestDatabase;
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

const GIVEN: &str = "Zebulonqx";
const FAMILY: &str = "Quarrington-Vex";
const EMAIL: &str = "zq.vex@canary.example";
const PHONE: &str = "+1-555-0199-7731";
const SPECIALTY: &str = "Canaryspecialtyqx";
/// The member's role and department: their profile, personal data too (issue 27).
const ROLE: &str = "Canaryroleqx nurse";
const DEPARTMENT: &str = "Canarydeptqx";
const CANARIES: [&str; 5] = [GIVEN, FAMILY, EMAIL, PHONE, SPECIALTY];

struct World {
    db: TestDatabase,
    commands: Arc<CommandSide>,
}

impl World {
    async fn new() -> Self {
        let db =
            TestDatabase::create_with("retention_purge", PgPoolOptions::new().max_connections(8))
                .await;
        let commands = Arc::new(CommandSide::new(db.pool.clone(), Default::default()));
        World { db, commands }
    }

    fn pool(&self) -> &PgPool {
        &self.db.pool
    }

    /// Records report `report_id` naming `staff_id`, as intake would; returns the case id.
    async fn report_naming(&self, report_id: &str, staff_id: &str) -> Uuid {
        let report = ReportRef {
            source: "/datix/canary".into(),
            report_id: report_id.into(),
        };
        let member = InvolvedMember {
            profile: MemberProfile {
                staff_id: staff_id.into(),
                role: ROLE.into(),
                discipline: Discipline::Nurse,
                department: DEPARTMENT.into(),
                seniority: None,
                involvement: Involvement::Primary,
            },
            contact: MemberContact {
                given_name: GIVEN.into(),
                family_name: FAMILY.into(),
                email: Some(EMAIL.into()),
                phone: Some(PHONE.into()),
                mobile: None,
                preferred_channel: Some(Channel::Phone),
            },
            eligible: true,
            case_id: None,
        };
        let record = ReportCommand::Record {
            report: report.clone(),
            trigger: TriggerKind::Incident,
            outreach: true,
            urgent: false,
            campus: "Parnassus".into(),
            unit: "ED".into(),
            members: vec![member],
            recorded_at: Utc::now(),
            revision: None,
        };
        self.commands
            .handle_report(record, &Metadata::new())
            .await
            .unwrap();
        self.commands.case_id(&report, staff_id).await.unwrap()
    }

    async fn on_case(&self, case_id: Uuid, command: CaseCommand) {
        self.commands
            .act_on_case(case_id, command, None, &Metadata::new())
            .await
            .unwrap();
    }

    /// Supporter assigned, member reached, support accepted, case completed.
    async fn complete(&self, case_id: Uuid) {
        let at = Utc::now();
        self.on_case(
            case_id,
            CaseCommand::Assign {
                supporter_id: "S-1".into(),
                named_in_report: false,
                at,
            },
        )
        .await;
        self.on_case(
            case_id,
            CaseCommand::RecordContactAttempt {
                channel: Channel::Phone,
                outcome: ContactOutcome::Reached,
                at,
            },
        )
        .await;
        self.on_case(case_id, CaseCommand::RecordAcceptance { at })
            .await;
        self.on_case(
            case_id,
            CaseCommand::Close {
                reason: CloseReason::Completed,
                at: Utc::now(),
            },
        )
        .await;
    }

    async fn state_preferences(&self, staff_id: &str) {
        let preferences = Preferences {
            supporter_specialty: Some(SPECIALTY.into()),
            ..Default::default()
        };
        self.commands
            .act_on_member(
                MemberCommand::StatePreferences {
                    staff_id: staff_id.into(),
                    preferences,
                    at: Utc::now(),
                },
                &Metadata::new(),
            )
            .await
            .unwrap();
    }

    fn runners(&self) -> Vec<ProjectionRunner> {
        outreach_projections::all(&Setup::default())
            .into_iter()
            .map(|p| ProjectionRunner::new(self.pool().clone(), p, RunnerSettings::default()))
            .collect()
    }

    async fn project(&self) {
        for runner in self.runners() {
            runner.catch_up().await.unwrap();
        }
    }

    /// Every projection but `held_back` catches up.
    async fn project_all_but(&self, held_back: &str) {
        let projections = outreach_projections::all(&Setup::default());
        for projection in projections.into_iter().filter(|p| p.name() != held_back) {
            ProjectionRunner::new(self.pool().clone(), projection, RunnerSettings::default())
                .catch_up()
                .await
                .unwrap();
        }
    }

    async fn rebuild_every_projection(&self) {
        for runner in self.runners() {
            runner.rebuild(|_, _| {}).await.unwrap();
        }
    }

    /// One retention purge sweep; returns how many members it purged.
    async fn purge(&self, retention: Duration) -> u64 {
        let purge = RetentionPurge::new(
            self.pool().clone(),
            self.commands.clone(),
            retention,
            StdDuration::from_secs(3600),
        );
        outreach_process_managers::sweep::tick(
            &purge,
            self.pool(),
            &mut None,
            &CancellationToken::new(),
        )
        .await
        .unwrap()
        .expect("no other sweep holds the lock")
    }

    /// Every row of `table` as text, lower-cased; read as the owner, who may read every table.
    async fn table_text(&self, table: &str) -> String {
        // The name comes from pg_tables, not from input: identifiers cannot be bound.
        let rows: Vec<String> = sqlx::query_scalar(&format!(r#"SELECT t::text FROM "{table}" t"#))
            .fetch_all(&self.db.owner_pool().await)
            .await
            .unwrap();
        rows.join("\n").to_lowercase()
    }

    /// Every (table, canary) where a planted string can be read, across the whole schema.
    async fn canaries_anywhere(&self) -> Vec<(String, &'static str)> {
        let tables: Vec<String> = sqlx::query_scalar(
            "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' ORDER BY 1",
        )
        .fetch_all(self.pool())
        .await
        .unwrap();
        assert!(tables.len() > 20, "the whole schema: {tables:?}");
        let mut found = Vec::new();
        for table in tables {
            let text = self.table_text(&table).await;
            for canary in CANARIES {
                if text.contains(&canary.to_lowercase()) {
                    found.push((table.clone(), canary));
                }
            }
        }
        found
    }

    async fn statistics(&self) -> (String, String) {
        let sorted = |table: &'static str| async move {
            let rows: Vec<String> =
                sqlx::query_scalar(&format!("SELECT t::text FROM {table} t ORDER BY 1"))
                    .fetch_all(self.pool())
                    .await
                    .unwrap();
            rows.join("\n")
        };
        (
            sorted("statistics_counts").await,
            sorted("statistics_first_contact").await,
        )
    }

    async fn live_keys(&self) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM member_data_keys")
            .fetch_one(self.pool())
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn after_a_purge_no_personal_datum_can_be_read_from_any_table_even_after_a_rebuild() {
    let world = World::new().await;
    let case_id = world.report_naming("INC-CANARY", "E-ZQ").await;
    world.state_preferences("E-ZQ").await;
    world.complete(case_id).await;
    world.project().await;
    // The publisher sent the Kafka notice; the feedback invitation e-mail still waits.
    let sent = sqlx::query("UPDATE outbox SET published_at = now() WHERE kind = 'assignment'")
        .execute(world.pool())
        .await
        .unwrap();
    assert_eq!(sent.rows_affected(), 1, "an assignment notice was queued");

    // Before: readable where needed, never in the clear in the event store.
    let before = world.canaries_anywhere().await;
    for (table, canary) in [
        ("outreach_cases", GIVEN),
        ("outreach_cases", FAMILY),
        ("outreach_cases", EMAIL),
        ("outreach_cases", PHONE),
        ("matching_preferences", SPECIALTY),
        ("outbox", GIVEN),
        ("outbox", EMAIL),
    ] {
        assert!(
            before.contains(&(table.to_string(), canary)),
            "{canary} in {table} before the purge: {before:?}"
        );
    }
    assert!(
        before.iter().all(|(table, _)| table != "events"),
        "the event store holds personal data only sealed: {before:?}"
    );
    let invitations: i64 =
        sqlx::query_scalar("SELECT count(*) FROM outbox WHERE kind = 'feedback-invitation'")
            .fetch_one(world.pool())
            .await
            .unwrap();
    assert_eq!(invitations, 1, "a feedback invitation was queued");
    let statistics = world.statistics().await;
    assert!(!statistics.0.is_empty(), "statistics were counted");

    assert_eq!(world.purge(Duration::zero()).await, 1);
    world.project().await;

    assert_eq!(world.live_keys().await, 0);
    assert_eq!(world.canaries_anywhere().await, vec![]);
    // The facts remain: the case, its outcome, the statistics.
    let (status, staff_id): (String, String) =
        sqlx::query_as("SELECT status, staff_id FROM outreach_cases WHERE case_id = $1")
            .bind(case_id)
            .fetch_one(world.pool())
            .await
            .unwrap();
    // The facts statistics read remain; who and which report do not (issue 27).
    assert_eq!((status.as_str(), staff_id.as_str()), ("closed", ""));
    let outbox: Vec<(String, serde_json::Value)> =
        sqlx::query_as("SELECT kind, payload::json FROM outbox ORDER BY kind")
            .fetch_all(world.pool())
            .await
            .unwrap();
    assert_eq!(
        outbox,
        vec![(
            "assignment".to_string(),
            serde_json::json!({"purged": true})
        )],
        "the sent notice keeps its id and nothing else; the unsent e-mail is gone"
    );
    assert_eq!(world.statistics().await, statistics);

    world.rebuild_every_projection().await;

    assert_eq!(world.canaries_anywhere().await, vec![]);
    assert_eq!(world.statistics().await, statistics);
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM outreach_cases WHERE case_id = $1")
        .bind(case_id)
        .fetch_one(world.pool())
        .await
        .unwrap();
    assert_eq!(
        rows, 1,
        "the rebuilt read model has the case, without the person"
    );
    // The next sweep has nobody left to purge.
    assert_eq!(world.purge(Duration::zero()).await, 0);
}

/// The purge destroys the discipline statistics count by: while the statistics projection has
/// not counted a member's case, the sweep leaves the member for a later round, and once it has,
/// the purge goes ahead and the case stays counted under its discipline, not as unknown.
#[tokio::test]
async fn a_purge_waits_until_statistics_have_counted_the_members_cases() {
    let world = World::new().await;
    let case_id = world.report_naming("INC-STATS", "E-STATS").await;
    world.complete(case_id).await;
    world.project_all_but(StatisticsProjection::NAME).await;
    let closed: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM outreach_cases WHERE case_id = $1 AND closed_at IS NOT NULL",
    )
    .bind(case_id)
    .fetch_one(world.pool())
    .await
    .unwrap();
    assert_eq!(closed, 1, "the case read model shows the case closed");

    assert_eq!(world.purge(Duration::zero()).await, 0, "statistics lag");
    assert_eq!(world.live_keys().await, 1);

    world.project().await;
    assert_eq!(world.purge(Duration::zero()).await, 1);
    world.project().await;
    assert_eq!(world.live_keys().await, 0);
    let disciplines: Vec<String> =
        sqlx::query_scalar("SELECT DISTINCT discipline FROM statistics_counts ORDER BY 1")
            .fetch_all(world.pool())
            .await
            .unwrap();
    assert_eq!(disciplines, [Discipline::Nurse.as_str()]);
}

#[tokio::test]
async fn a_member_with_another_open_case_is_not_purged() {
    let world = World::new().await;
    let first = world.report_naming("INC-1", "E-OPEN").await;
    world.complete(first).await;
    let second = world.report_naming("INC-2", "E-OPEN").await;
    assert_ne!(first, second);
    world.project().await;

    assert_eq!(world.purge(Duration::zero()).await, 0);
    world.project().await;

    assert_eq!(world.live_keys().await, 1);
    let names: Vec<Option<String>> =
        sqlx::query_scalar("SELECT given_name FROM outreach_cases ORDER BY opened_at")
            .fetch_all(world.pool())
            .await
            .unwrap();
    assert_eq!(names, vec![Some(GIVEN.into()), Some(GIVEN.into())]);
    let purges: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE event_type = 'PersonalDataPurged'")
            .fetch_one(world.pool())
            .await
            .unwrap();
    assert_eq!(purges, 0);
}

#[tokio::test]
async fn a_case_closed_less_than_the_retention_period_ago_is_not_purged() {
    let world = World::new().await;
    let case_id = world.report_naming("INC-3", "E-RECENT").await;
    world.state_preferences("E-RECENT").await;
    world.complete(case_id).await;
    world.project().await;

    assert_eq!(world.purge(Duration::days(30)).await, 0);
    world.project().await;

    assert_eq!(world.live_keys().await, 1);
    let text = world.table_text("outreach_cases").await;
    assert!(text.contains(&GIVEN.to_lowercase()), "{text}");
    assert!(world
        .table_text("matching_preferences")
        .await
        .contains(&SPECIALTY.to_lowercase()));
}

#[tokio::test]
async fn a_member_without_a_case_is_purged_once_the_period_after_their_last_change_is_over() {
    let world = World::new().await;
    world.state_preferences("E-NOCASE").await;
    world.project().await;
    assert!(world
        .table_text("matching_preferences")
        .await
        .contains(&SPECIALTY.to_lowercase()));

    // Their last change is not thirty days old yet.
    assert_eq!(world.purge(Duration::days(30)).await, 0);
    assert_eq!(world.live_keys().await, 1);

    assert_eq!(world.purge(Duration::zero()).await, 1);
    world.project().await;

    assert_eq!(world.live_keys().await, 0);
    assert_eq!(world.canaries_anywhere().await, vec![]);
    // Nobody is left to purge.
    assert_eq!(world.purge(Duration::zero()).await, 0);
}

/// The privacy auditor's test, the database part (issue 27): after the purge, a dump of the
/// whole database is searched for what someone who knows the members and the reports naming
/// them would look for, and again after every projection is rebuilt from the first event.
/// Topics are not read here (see integration-tests for those).
///
/// What holds: no staff id, name, e-mail or phone, no role or department, no case or member id
/// computable from the staff id and the report (the formula of stores written before issue 27),
/// and no SHA-256 of the staff id. The member's profile and every staff id naming them (in the
/// case's opening, their own record's events and the report's events) were sealed under their
/// key, which is gone; the read models that copied them forgot them at the purge; the case
/// read model's rows keep no staff id or report. Statistics are the same after the purge and
/// after the rebuild.
#[tokio::test]
async fn after_a_purge_a_dump_of_the_database_holds_no_name_contact_or_computable_id() {
    let world = World::new().await;
    let staff = ["E-AUD1", "E-AUD2"];
    let mut cases = Vec::new();
    for (n, staff_id) in staff.iter().enumerate() {
        let case_id = world.report_naming(&format!("INC-AUD-{n}"), staff_id).await;
        world.complete(case_id).await;
        cases.push(case_id);
    }
    world.project().await;
    let statistics = world.statistics().await;

    assert_eq!(world.purge(Duration::zero()).await, 2);
    world.project().await;
    assert_eq!(world.statistics().await, statistics);
    world.audit_dump(&staff, &cases).await;
    world.rebuild_every_projection().await;
    assert_eq!(world.statistics().await, statistics);
    world.audit_dump(&staff, &cases).await;
}

impl World {
    /// Searches a `pg_dump` of the whole database for each of `staff` (named by the report
    /// `INC-AUD-<n>` that opened `cases[n]`) and what follows from them.
    async fn audit_dump(&self, staff: &[&str], cases: &[Uuid]) {
        let dump = std::process::Command::new("pg_dump")
            .arg("--no-owner")
            .arg(outreach_test_support::owner_url(&self.db.name))
            .output()
            .expect("pg_dump runs");
        assert!(
            dump.status.success(),
            "{}",
            String::from_utf8_lossy(&dump.stderr)
        );
        let dump = String::from_utf8_lossy(&dump.stdout).to_lowercase();
        assert!(
            dump.contains("casestarted"),
            "the dump holds the event store"
        );
        for (n, staff_id) in staff.iter().enumerate() {
            let report = ReportRef {
                source: "/datix/canary".into(),
                report_id: format!("INC-AUD-{n}"),
            };
            let sha: String =
                sqlx::query_scalar("SELECT encode(sha256(convert_to($1, 'UTF8')), 'hex')")
                    .bind(staff_id)
                    .fetch_one(self.pool())
                    .await
                    .unwrap();
            let old_case = outreach_domain::ids::derivable_before_27::case_id(&report, staff_id);
            let old_member = outreach_domain::ids::derivable_before_27::member_id(staff_id);
            for (what, needle) in [
                ("given name", GIVEN.to_string()),
                ("family name", FAMILY.to_string()),
                ("staff id", staff_id.to_string()),
                ("e-mail", EMAIL.to_string()),
                ("phone", PHONE.to_string()),
                ("role", ROLE.to_string()),
                ("department", DEPARTMENT.to_string()),
                ("old case id", old_case.to_string()),
                ("old member id", old_member.to_string()),
                ("SHA-256 of the staff id", sha),
            ] {
                assert!(
                    !dump.contains(&needle.to_lowercase()),
                    "the {what} of {staff_id} is in the dump"
                );
            }
            // The case is still there, under an id nobody can derive any more, and its row in
            // the case read model names neither the member nor the report.
            assert!(dump.contains(&cases[n].to_string()));
            let row: (String, String) =
                sqlx::query_as("SELECT staff_id, report_id FROM outreach_cases WHERE case_id = $1")
                    .bind(cases[n])
                    .fetch_one(self.pool())
                    .await
                    .unwrap();
            assert_eq!(row, (String::new(), String::new()));
        }
    }
}
