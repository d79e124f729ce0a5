//! The matching read model, followed the way the service follows it: cases, reports and members
//! change through the command side, and the matching projection catches up from the event store.
//!
//! Supporters join, take and release cases through the command side too; the caseload keeper
//! is run as the service runs it.

mod common;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, NaiveTime, SubsecRound, Utc};
use common::TestApp;
use outreach_domain::{
    CaseCommand, InvolvedMember, MemberCommand, ReportCommand, SupporterCommand,
};
use outreach_events::care_team_member::{
    DepartmentPreference, Gender, Preferences, SeniorityPreference,
};
use outreach_events::lifecycle::CloseReason;
use outreach_events::supporter::{
    Availability, DatePeriod, Day, SupporterContact, SupporterProfile, Training, TrainingStatus,
    WeeklyHours,
};
use outreach_events::{
    Channel, Discipline, Involvement, MemberContact, MemberProfile, ReportRef, Seniority,
    TriggerKind,
};
use outreach_process_managers::CaseloadKeeper;
use outreach_projections::{MatchingProjection, Projection, ProjectionRunner, StoredEvent};
use serde_json::{json, Value};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

// ---- the scenario's people and reports ----

/// Now, as PostgreSQL keeps it (microseconds), so times read back compare equal.
fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

fn report(id: &str) -> ReportRef {
    ReportRef {
        source: "/datix/north".into(),
        report_id: id.into(),
    }
}

fn member(staff_id: &str, department: &str, eligible: bool) -> InvolvedMember {
    InvolvedMember {
        profile: MemberProfile {
            staff_id: staff_id.into(),
            role: "Attending physician".into(),
            discipline: Discipline::Physician,
            department: department.into(),
            seniority: Some(Seniority::Senior),
            involvement: Involvement::Primary,
        },
        contact: MemberContact {
            given_name: "Rui".into(),
            family_name: "Costa".into(),
            email: Some(format!("{}@hospital.example", staff_id.to_lowercase())),
            phone: None,
            mobile: None,
            preferred_channel: Some(Channel::Email),
        },
        eligible,
        case_id: None,
    }
}

/// Records an incident report that starts outreach for its eligible members.
async fn record(app: &TestApp, id: &str, members: Vec<InvolvedMember>) {
    app.commands
        .handle_report(
            ReportCommand::Record {
                report: report(id),
                trigger: TriggerKind::Incident,
                outreach: true,
                urgent: false,
                campus: "North".into(),
                unit: "ICU 4".into(),
                members,
                recorded_at: now(),
                revision: None,
            },
            &HashMap::new(),
        )
        .await
        .expect("record the report");
}

/// The case the command side opened for `staff_id` after report `id`.
async fn case_of(app: &TestApp, id: &str, staff_id: &str) -> Uuid {
    app.commands.case_id(&report(id), staff_id).await.unwrap()
}

/// Opens a case as [`TestApp::open_case`] does, for member `staff_id`.
async fn open_case_for(app: &TestApp, staff_id: &str) -> Uuid {
    let case_id = Uuid::new_v4();
    app.commands
        .handle_case(
            case_id,
            common::open_command(case_id, staff_id),
            &HashMap::new(),
        )
        .await
        .expect("open the case");
    case_id
}

async fn act(app: &TestApp, case_id: Uuid, command: CaseCommand) {
    app.commands
        .act_on_case(case_id, command, None, &HashMap::new())
        .await
        .expect("the case command is accepted");
}

async fn assign(app: &TestApp, case_id: Uuid, supporter: &str, at: DateTime<Utc>) {
    let command = CaseCommand::Assign {
        supporter_id: supporter.into(),
        named_in_report: false,
        at,
    };
    act(app, case_id, command).await;
}

async fn close(app: &TestApp, case_id: Uuid, at: DateTime<Utc>) {
    let command = CaseCommand::Close {
        reason: CloseReason::Withdrawn,
        at,
    };
    act(app, case_id, command).await;
}

fn profile(staff_id: &str) -> SupporterProfile {
    SupporterProfile {
        staff_id: staff_id.into(),
        campus: "North".into(),
        department: "Emergency".into(),
        discipline: Discipline::Nurse,
        specialty: Some("Emergency nursing".into()),
        seniority: Seniority::MidCareer,
        languages: vec!["en".into(), "es".into()],
        interests: vec!["second victim".into()],
        training: Training {
            status: TrainingStatus::Trained,
            completed_on: NaiveDate::from_ymd_opt(2026, 3, 14),
        },
        capacity: 3,
        availability: Availability {
            weekly_hours: vec![WeeklyHours {
                day: Day::Tuesday,
                starts: NaiveTime::from_hms_opt(9, 0, 0).unwrap(),
                ends: NaiveTime::from_hms_opt(17, 0, 0).unwrap(),
            }],
            on_call: vec![],
        },
    }
}

fn contact() -> SupporterContact {
    SupporterContact {
        given_name: "Mei".into(),
        family_name: "Tanaka".into(),
        email: "mei.tanaka@hospital.example".into(),
        phone: None,
        gender: Some(Gender::Woman),
    }
}

fn supporter_id(staff_id: &str) -> Uuid {
    outreach_domain::ids::supporter_id(staff_id)
}

/// A supporter command, through the command side.
async fn roster(app: &TestApp, staff_id: &str, command: SupporterCommand) {
    app.commands
        .act_on_supporter(staff_id, command, &HashMap::new())
        .await
        .expect("the roster takes the command");
}

async fn join(app: &TestApp, staff_id: &str, at: DateTime<Utc>) {
    let command = SupporterCommand::Join {
        profile: profile(staff_id),
        contact: contact(),
        at,
    };
    roster(app, staff_id, command).await;
}

async fn take(app: &TestApp, staff_id: &str, case_id: Uuid, at: DateTime<Utc>) {
    let (case, _) = app.commands.case(case_id).await.expect("load the case");
    let command = SupporterCommand::TakeCase {
        case_id,
        // A case never opened (these tests take cases by id alone) names no member.
        member_staff_id: case.member_staff_id().unwrap_or_default().to_owned(),
        at,
    };
    roster(app, staff_id, command).await;
}

async fn release(app: &TestApp, staff_id: &str, case_id: Uuid, at: DateTime<Utc>) {
    roster(app, staff_id, SupporterCommand::ReleaseCase { case_id, at }).await;
}

// ---- following the event store ----

fn runner(pool: &PgPool) -> ProjectionRunner {
    ProjectionRunner::new(
        pool.clone(),
        Arc::new(MatchingProjection),
        Default::default(),
    )
}

/// Every row of the matching read model, table by table, in a stable order.
async fn read_model(pool: &PgPool) -> Value {
    let mut tables = serde_json::Map::new();
    for table in [
        "roster_supporters",
        "roster_caseload",
        "matching_cases",
        "matching_case_reports",
        "matching_report_staff",
        "matching_reports",
        "matching_preferences",
    ] {
        let rows: Value = sqlx::query_scalar(&format!(
            "SELECT coalesce(jsonb_agg(to_jsonb(t) ORDER BY to_jsonb(t)::text), '[]')
               FROM {table} t"
        ))
        .fetch_one(pool)
        .await
        .expect("read the table");
        tables.insert(table.into(), rows);
    }
    Value::Object(tables)
}

/// What a row of a table says, as JSON (`Null` if there is no such row).
async fn row(pool: &PgPool, table: &str, key: &str, id: impl ToString) -> Value {
    sqlx::query_scalar::<_, Value>(&format!(
        "SELECT to_jsonb(t) FROM {table} t WHERE {key}::text = $1"
    ))
    .bind(id.to_string())
    .fetch_optional(pool)
    .await
    .expect("read the row")
    .unwrap_or(Value::Null)
}

fn time(value: &Value) -> DateTime<Utc> {
    serde_json::from_value(value.clone()).expect("a time")
}

/// Cases awaiting assignment, oldest first: query (3).
async fn awaiting(pool: &PgPool) -> Vec<Uuid> {
    sqlx::query_scalar(
        "SELECT case_id FROM matching_cases
          WHERE supporter_id IS NULL AND ended_at IS NULL
          ORDER BY opened_at",
    )
    .fetch_all(pool)
    .await
    .expect("list the cases awaiting assignment")
}

async fn report_staff(pool: &PgPool, id: &str) -> BTreeSet<String> {
    sqlx::query_scalar(
        "SELECT staff_id FROM matching_report_staff WHERE report_source = $1 AND report_id = $2",
    )
    .bind(&report(id).source)
    .bind(id)
    .fetch_all(pool)
    .await
    .expect("read the report's staff")
    .into_iter()
    .collect()
}

/// Staff named in the reports behind the case: query (1)'s join.
async fn colleagues_of_case(pool: &PgPool, case_id: Uuid) -> BTreeSet<String> {
    sqlx::query_scalar(
        "SELECT DISTINCT s.staff_id
           FROM matching_case_reports r
           JOIN matching_report_staff s USING (report_source, report_id)
          WHERE r.case_id = $1",
    )
    .bind(case_id)
    .fetch_all(pool)
    .await
    .expect("read the case's colleagues")
    .into_iter()
    .collect()
}

async fn caseload(pool: &PgPool, staff_id: &str) -> (i32, BTreeSet<Uuid>) {
    let open_cases: i32 =
        sqlx::query_scalar("SELECT open_cases FROM roster_supporters WHERE staff_id = $1")
            .bind(staff_id)
            .fetch_one(pool)
            .await
            .expect("the supporter is on the roster");
    let held = sqlx::query_scalar("SELECT case_id FROM roster_caseload WHERE supporter_id = $1")
        .bind(supporter_id(staff_id))
        .fetch_all(pool)
        .await
        .expect("read the caseload")
        .into_iter()
        .collect();
    (open_cases, held)
}

fn set<T: Ord + Clone>(items: &[T]) -> BTreeSet<T> {
    items.iter().cloned().collect()
}

// ---- cases ----

#[tokio::test]
async fn an_opened_case_awaits_assignment_with_the_members_facts() {
    let app = TestApp::spawn().await;
    record(&app, "INC-1", vec![member("E-100", "Cardiology", true)]).await;
    app.project_matching().await;

    let case_id = case_of(&app, "INC-1", "E-100").await;
    assert_eq!(awaiting(&app.pool).await, vec![case_id]);
    let case = row(&app.pool, "matching_cases", "case_id", case_id).await;
    assert_eq!(case["member_staff_id"], "E-100");
    assert_eq!(case["campus"], "North");
    assert_eq!(case["department"], "Cardiology");
    assert_eq!(case["discipline"], "physician");
    assert_eq!(case["seniority"], "senior");
    assert_eq!(case["role"], "Attending physician");
    assert_eq!(case["involvement"], "primary");
    assert!(time(&case["first_contact_due"]) > time(&case["opened_at"]));
    assert_eq!(case["supporter_id"], Value::Null);
    assert_eq!(case["ended_at"], Value::Null);
    assert_eq!(case["version"], 1);
    // The report that opened it, and who that report names.
    let reports: Vec<(String, String)> = sqlx::query_as(
        "SELECT report_source, report_id FROM matching_case_reports WHERE case_id = $1",
    )
    .bind(case_id)
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(reports, vec![("/datix/north".into(), "INC-1".into())]);
    assert_eq!(
        colleagues_of_case(&app.pool, case_id).await,
        set(&["E-100".to_string()])
    );
}

#[tokio::test]
async fn an_assigned_case_no_longer_awaits() {
    let app = TestApp::spawn().await;
    let assigned = app.open_case().await;
    let waiting = open_case_for(&app, "E8").await;
    let at = now();
    assign(&app, assigned, "S-9", at).await;
    app.project_matching().await;

    assert_eq!(awaiting(&app.pool).await, vec![waiting]);
    let case = row(&app.pool, "matching_cases", "case_id", assigned).await;
    assert_eq!(case["supporter_id"], "S-9");
    assert_eq!(time(&case["assigned_at"]), at);
    assert_eq!(case["version"], 2);

    // Reassigned: the new supporter, from the new time.
    let later = now();
    assign(&app, assigned, "S-10", later).await;
    app.project_matching().await;
    let case = row(&app.pool, "matching_cases", "case_id", assigned).await;
    assert_eq!(case["supporter_id"], "S-10");
    assert_eq!(time(&case["assigned_at"]), later);
}

#[tokio::test]
async fn a_closed_case_has_ended_and_reopening_clears_it() {
    let app = TestApp::spawn().await;
    let case_id = app.open_case().await;
    assign(&app, case_id, "S-9", now()).await;
    let closed_at = now();
    close(&app, case_id, closed_at).await;
    app.project_matching().await;

    let case = row(&app.pool, "matching_cases", "case_id", case_id).await;
    assert_eq!(time(&case["ended_at"]), closed_at);

    act(&app, case_id, CaseCommand::Reopen { at: now() }).await;
    app.project_matching().await;
    let case = row(&app.pool, "matching_cases", "case_id", case_id).await;
    assert_eq!(case["ended_at"], Value::Null);
    // Back with the supporter it had: not awaiting assignment again.
    assert_eq!(case["supporter_id"], "S-9");
    assert!(awaiting(&app.pool).await.is_empty());
}

#[tokio::test]
async fn a_cancelled_case_has_ended_and_no_longer_awaits() {
    let app = TestApp::spawn().await;
    record(&app, "INC-5", vec![member("E-500", "Surgery", true)]).await;
    app.commands
        .handle_report(
            ReportCommand::Withdraw {
                report: report("INC-5"),
                withdrawn_at: now(),
            },
            &HashMap::new(),
        )
        .await
        .expect("withdraw the report");
    app.project_matching().await;

    let case = row(
        &app.pool,
        "matching_cases",
        "case_id",
        case_of(&app, "INC-5", "E-500").await,
    )
    .await;
    assert!(case["ended_at"].is_string());
    assert!(awaiting(&app.pool).await.is_empty());
    // The colleagues of a withdrawn report still know each other.
    assert_eq!(
        report_staff(&app.pool, "INC-5").await,
        set(&["E-500".to_string()])
    );
}

#[tokio::test]
async fn a_linked_trigger_adds_its_report_to_the_members_case() {
    let app = TestApp::spawn().await;
    record(&app, "INC-1", vec![member("E-300", "Oncology", true)]).await;
    // A second report names the same member while the first case is open: it joins that case.
    record(
        &app,
        "INC-2",
        vec![
            member("E-300", "Oncology", true),
            member("E-301", "Oncology", false),
        ],
    )
    .await;
    app.project_matching().await;

    let case_id = case_of(&app, "INC-1", "E-300").await;
    let cases: i64 = sqlx::query_scalar("SELECT count(*) FROM matching_cases")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(cases, 1, "one member, one open case");
    let reports: BTreeSet<String> =
        sqlx::query_scalar("SELECT report_id FROM matching_case_reports WHERE case_id = $1")
            .bind(case_id)
            .fetch_all(&app.pool)
            .await
            .unwrap()
            .into_iter()
            .collect();
    assert_eq!(reports, set(&["INC-1".to_string(), "INC-2".to_string()]));
    // Named on the linked report too, though not served by the program: a colleague all the same.
    assert_eq!(
        colleagues_of_case(&app.pool, case_id).await,
        set(&["E-300".to_string(), "E-301".to_string()])
    );
}

// ---- reports and members ----

#[tokio::test]
async fn report_staff_follow_amendments_and_outlast_withdrawal() {
    let app = TestApp::spawn().await;
    record(
        &app,
        "INC-7",
        vec![
            member("E-1", "Cardiology", true),
            member("E-2", "Cardiology", false),
        ],
    )
    .await;
    app.project_matching().await;
    assert_eq!(
        report_staff(&app.pool, "INC-7").await,
        set(&["E-1".to_string(), "E-2".to_string()])
    );

    app.commands
        .handle_report(
            ReportCommand::Amend {
                report: report("INC-7"),
                added: vec![member("E-3", "Pharmacy", true)],
                removed: vec!["E-1".into()],
                amended_at: now(),
            },
            &HashMap::new(),
        )
        .await
        .expect("amend the report");
    app.project_matching().await;
    assert_eq!(
        report_staff(&app.pool, "INC-7").await,
        set(&["E-2".to_string(), "E-3".to_string()])
    );

    app.commands
        .handle_report(
            ReportCommand::Withdraw {
                report: report("INC-7"),
                withdrawn_at: now(),
            },
            &HashMap::new(),
        )
        .await
        .expect("withdraw the report");
    app.project_matching().await;
    assert_eq!(
        report_staff(&app.pool, "INC-7").await,
        set(&["E-2".to_string(), "E-3".to_string()])
    );
}

#[tokio::test]
async fn stated_preferences_are_kept_whole_for_matching() {
    let app = TestApp::spawn().await;
    let state = |preferences: Preferences| MemberCommand::StatePreferences {
        staff_id: "E-400".into(),
        preferences,
        at: now(),
    };
    let first = Preferences {
        channel: Some(Channel::Phone),
        supporter_gender: Some(Gender::Woman),
        supporter_specialty: Some("Emergency medicine".into()),
        supporter_department: Some(DepartmentPreference::OtherDepartment),
        supporter_seniority: Some(SeniorityPreference::MoreSenior),
        supporter_language: Some("es".into()),
    };
    app.commands
        .act_on_member(state(first), &HashMap::new())
        .await
        .expect("state preferences");
    app.project_matching().await;
    let stored = row(&app.pool, "matching_preferences", "staff_id", "E-400").await;
    assert_eq!(
        stored["preferences"],
        json!({
            "channel": "phone",
            "supporter_gender": "woman",
            "supporter_specialty": "Emergency medicine",
            "supporter_department": "other_department",
            "supporter_seniority": "more_senior",
            "supporter_language": "es",
        })
    );

    // Stated again: the new set replaces the old one, preferences left out included.
    let second = Preferences {
        supporter_department: Some(DepartmentPreference::OwnDepartment),
        ..Preferences::default()
    };
    app.commands
        .act_on_member(state(second), &HashMap::new())
        .await
        .expect("state preferences again");
    app.project_matching().await;
    let stored = row(&app.pool, "matching_preferences", "staff_id", "E-400").await;
    assert_eq!(
        stored["preferences"]["supporter_department"],
        "own_department"
    );
    assert_eq!(stored["preferences"]["supporter_gender"], Value::Null);
    assert_eq!(stored["preferences"]["supporter_language"], Value::Null);
}

// ---- the roster ----

#[tokio::test]
async fn a_supporter_joins_changes_their_profile_pauses_and_resumes() {
    let app = TestApp::spawn().await;
    let joined_at = now();
    join(&app, "S-1", joined_at).await;
    app.project_matching().await;

    let entry = row(&app.pool, "roster_supporters", "staff_id", "S-1").await;
    assert_eq!(
        entry,
        json!({
            "supporter_id": supporter_id("S-1"),
            "staff_id": "S-1",
            "campus": "North",
            "department": "Emergency",
            "discipline": "nurse",
            "specialty": "Emergency nursing",
            "seniority": "mid_career",
            "languages": ["en", "es"],
            "interests": ["second victim"],
            "training_status": "trained",
            "trained_on": "2026-03-14",
            "capacity": 3,
            "availability": {
                "weekly_hours": [{"day": "tuesday", "starts": "09:00:00", "ends": "17:00:00"}],
                "on_call": [],
            },
            "paused": false,
            "open_cases": 0,
            "given_name": "Mei",
            "family_name": "Tanaka",
            "email": "mei.tanaka@hospital.example",
            "phone": null,
            "gender": "woman",
            "joined_at": entry["joined_at"],
            "changed_at": entry["joined_at"],
            "version": 1,
        })
    );
    assert_eq!(time(&entry["joined_at"]), joined_at);

    // A manager replaces the entry: new profile and contact, same joining date.
    let changed_at = now();
    let mut changed = profile("S-1");
    changed.campus = "South".into();
    changed.specialty = None;
    changed.languages = vec!["en".into()];
    changed.capacity = 1;
    changed.training.status = TrainingStatus::Lapsed;
    changed.availability.on_call = vec![DatePeriod {
        starts: NaiveDate::from_ymd_opt(2026, 12, 7).unwrap(),
        ends: NaiveDate::from_ymd_opt(2026, 12, 13).unwrap(),
    }];
    let personal = SupporterContact {
        phone: Some("+1 555 0199".into()),
        gender: None,
        ..contact()
    };
    roster(
        &app,
        "S-1",
        SupporterCommand::ChangeProfile {
            profile: changed,
            contact: personal,
            at: changed_at,
        },
    )
    .await;
    app.project_matching().await;
    let entry = row(&app.pool, "roster_supporters", "staff_id", "S-1").await;
    assert_eq!(entry["campus"], "South");
    assert_eq!(entry["specialty"], Value::Null);
    assert_eq!(entry["languages"], json!(["en"]));
    assert_eq!(entry["capacity"], 1);
    assert_eq!(entry["training_status"], "lapsed");
    assert_eq!(
        entry["availability"]["on_call"],
        json!([{"starts": "2026-12-07", "ends": "2026-12-13"}])
    );
    assert_eq!(entry["phone"], "+1 555 0199");
    assert_eq!(entry["gender"], Value::Null);
    assert_eq!(time(&entry["joined_at"]), joined_at);
    assert_eq!(time(&entry["changed_at"]), changed_at);
    assert_eq!(entry["version"], 2);

    roster(&app, "S-1", SupporterCommand::Pause { at: now() }).await;
    app.project_matching().await;
    let entry = row(&app.pool, "roster_supporters", "staff_id", "S-1").await;
    assert_eq!(
        (entry["paused"].clone(), entry["version"].clone()),
        (json!(true), json!(3))
    );

    roster(&app, "S-1", SupporterCommand::Resume { at: now() }).await;
    app.project_matching().await;
    let entry = row(&app.pool, "roster_supporters", "staff_id", "S-1").await;
    assert_eq!(
        (entry["paused"].clone(), entry["version"].clone()),
        (json!(false), json!(4))
    );
    // Pausing is not a change of profile.
    assert_eq!(time(&entry["changed_at"]), changed_at);
}

#[tokio::test]
async fn taking_and_releasing_cases_keeps_the_count_of_cases_held() {
    let app = TestApp::spawn().await;
    let (first, second) = (Uuid::new_v4(), Uuid::new_v4());
    join(&app, "S-1", now()).await;
    take(&app, "S-1", first, now()).await;
    take(&app, "S-1", second, now()).await;
    app.project_matching().await;
    assert_eq!(caseload(&app.pool, "S-1").await, (2, set(&[first, second])));

    release(&app, "S-1", first, now()).await;
    app.project_matching().await;
    assert_eq!(caseload(&app.pool, "S-1").await, (1, set(&[second])));

    // Taking a case held already (a retried assignment) holds it once, from the first taking.
    let taken_at: DateTime<Utc> =
        sqlx::query_scalar("SELECT taken_at FROM roster_caseload WHERE case_id = $1")
            .bind(second)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    take(&app, "S-1", second, now()).await;
    app.project_matching().await;
    assert_eq!(caseload(&app.pool, "S-1").await, (1, set(&[second])));
    let still: DateTime<Utc> =
        sqlx::query_scalar("SELECT taken_at FROM roster_caseload WHERE case_id = $1")
            .bind(second)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(still, taken_at);

    // Releasing a case not held changes nothing.
    release(&app, "S-1", first, now()).await;
    app.project_matching().await;
    assert_eq!(caseload(&app.pool, "S-1").await, (1, set(&[second])));
}

#[tokio::test]
async fn applying_a_stored_event_again_changes_nothing() {
    let app = TestApp::spawn().await;
    let (first, second) = (Uuid::new_v4(), Uuid::new_v4());
    join(&app, "S-1", now()).await;
    take(&app, "S-1", first, now()).await;
    take(&app, "S-1", second, now()).await;
    release(&app, "S-1", first, now()).await;
    let case_id = app.open_case().await;
    assign(&app, case_id, "S-1", now()).await;
    record(
        &app,
        "INC-9",
        vec![
            member("E-1", "Cardiology", true),
            member("E-2", "Cardiology", true),
        ],
    )
    .await;
    app.commands
        .handle_report(
            ReportCommand::Amend {
                report: report("INC-9"),
                added: vec![member("E-3", "Pharmacy", true)],
                removed: vec!["E-2".into()],
                amended_at: now(),
            },
            &HashMap::new(),
        )
        .await
        .expect("amend the report");
    app.project_matching().await;
    let before = read_model(&app.pool).await;

    // Every event, handed to the projection again: in the runner's order, then newest first (an
    // old event arriving late must not undo what later ones did).
    let mut events: Vec<StoredEvent> = sqlx::query_as(
        "SELECT aggregate_type, aggregate_id, sequence, event_type, event_version,
                payload, metadata, transaction_id::text AS transaction_id, global_position,
                recorded_at
           FROM events ORDER BY events.transaction_id, global_position",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    let mut tx = app.pool.begin().await.unwrap();
    outreach_projections::open_personal(&mut tx, &mut events)
        .await
        .unwrap();
    let again: Vec<StoredEvent> = events.iter().chain(events.iter().rev()).cloned().collect();
    MatchingProjection
        .apply(&mut tx, &again)
        .await
        .expect("apply again");
    tx.commit().await.unwrap();

    assert_eq!(read_model(&app.pool).await, before);
    assert_eq!(caseload(&app.pool, "S-1").await, (1, set(&[second])));
    assert_eq!(
        report_staff(&app.pool, "INC-9").await,
        set(&["E-1".to_string(), "E-3".to_string()])
    );
}

#[tokio::test]
async fn the_caseload_keeper_frees_slots_of_ended_and_reassigned_cases_only() {
    let app = TestApp::spawn().await;
    let ended = app.open_case().await;
    let reassigned = open_case_for(&app, "E8").await;
    let kept = open_case_for(&app, "E9").await;
    join(&app, "S-1", now()).await;
    for case_id in [ended, reassigned, kept] {
        take(&app, "S-1", case_id, now()).await;
        assign(&app, case_id, "S-1", now()).await;
    }
    close(&app, ended, now()).await;
    assign(&app, reassigned, "S-2", now()).await;
    // A slot taken for a case whose assignment is still on its way is not touched.
    let in_flight = open_case_for(&app, "E10").await;
    join(&app, "S-3", now()).await;
    take(&app, "S-3", in_flight, now()).await;
    app.project_matching().await;
    let keeper = CaseloadKeeper {
        pool: app.pool.clone(),
        commands: app.commands.clone(),
        interval: Duration::from_secs(60),
    };

    let released = outreach_process_managers::sweep::tick(
        &keeper,
        &app.pool,
        &mut None,
        &CancellationToken::new(),
    )
    .await
    .expect("sweep");

    assert_eq!(released, Some(2));
    let (supporter, _) = app.commands.supporter("S-1").await.unwrap();
    assert_eq!(supporter.holding, set(&[kept]));
    let (other, _) = app.commands.supporter("S-3").await.unwrap();
    assert_eq!(other.holding, set(&[in_flight]));
    app.project_matching().await;
    assert_eq!(caseload(&app.pool, "S-1").await, (1, set(&[kept])));
}

// ---- rebuilding ----

#[tokio::test]
async fn a_rebuild_gives_the_same_rows_as_following_along() {
    let app = TestApp::spawn().await;
    // A bit of everything, caught up step by step as the service would.
    record(
        &app,
        "INC-1",
        vec![
            member("E-1", "Cardiology", true),
            member("E-2", "Cardiology", false),
        ],
    )
    .await;
    app.project_matching().await;
    record(&app, "INC-2", vec![member("E-1", "Cardiology", true)]).await;
    app.commands
        .handle_report(
            ReportCommand::Amend {
                report: report("INC-1"),
                added: vec![member("E-3", "Pharmacy", true)],
                removed: vec!["E-2".into()],
                amended_at: now(),
            },
            &HashMap::new(),
        )
        .await
        .unwrap();
    app.project_matching().await;
    join(&app, "S-1", now()).await;
    join(&app, "S-2", now()).await;
    let case_id = case_of(&app, "INC-1", "E-1").await;
    take(&app, "S-1", case_id, now()).await;
    assign(&app, case_id, "S-1", now()).await;
    app.project_matching().await;
    let other = case_of(&app, "INC-1", "E-3").await;
    take(&app, "S-2", other, now()).await;
    assign(&app, other, "S-2", now()).await;
    close(&app, other, now()).await;
    release(&app, "S-2", other, now()).await;
    act(&app, other, CaseCommand::Reopen { at: now() }).await;
    roster(&app, "S-2", SupporterCommand::Pause { at: now() }).await;
    app.commands
        .act_on_member(
            MemberCommand::StatePreferences {
                staff_id: "E-1".into(),
                preferences: Preferences {
                    supporter_language: Some("pt".into()),
                    ..Preferences::default()
                },
                at: now(),
            },
            &HashMap::new(),
        )
        .await
        .unwrap();
    app.project_matching().await;
    let incremental = read_model(&app.pool).await;
    assert_eq!(incremental["matching_cases"].as_array().unwrap().len(), 2);
    let roster = sqlx::query_scalar::<_, String>("SELECT staff_id FROM roster_supporters")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    assert!(roster.contains(&"S-1".to_string()) && roster.contains(&"S-2".to_string()));

    // From the first event, with a runner that has never run.
    let applied = runner(&app.pool)
        .rebuild(|_, _| {})
        .await
        .expect("rebuild the read model");
    assert!(applied > 0);
    assert_eq!(read_model(&app.pool).await, incremental);
}
